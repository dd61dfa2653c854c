import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Separate processes: a native fault in one file cannot take the others down.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
