// npm run bench -- <suite> [options]: runs bench/<suite>.mjs against the built package (dist/).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const suites = readdirSync(path.join(root, 'bench')).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4));
const [suite, ...rest] = process.argv.slice(2);
if (!suite || !suites.includes(suite)) {
  console.error(`usage: npm run bench -- <${suites.join('|')}> [options]`);
  process.exit(2);
}
if (!existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}
const r = spawnSync(process.execPath, [path.join(root, 'bench', `${suite}.mjs`), ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
