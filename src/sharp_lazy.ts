// sharp (and libvips) load on first use, so code that only needs tensors and models never pays for
// it. Every image path in the package goes through this one loader.
import type { Sharp } from 'sharp';
import type sharpFn from 'sharp';

let sharpModule: typeof sharpFn | null = null;

export function sharp(...args: Parameters<typeof sharpFn>): Sharp {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  sharpModule ??= require('sharp') as typeof sharpFn;
  return sharpModule(...args);
}
