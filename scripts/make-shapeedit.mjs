#!/usr/bin/env node
// node scripts/make-shapeedit.mjs --out DIR [--train N --val N --test N | --count N] [--seed S] [--size PX]
// Writes a ShapeEdit dataset (images/ and train/val/test.jsonl) with the built package (dist/).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build:ts` first');
  process.exit(2);
}
const { generateShapeEdit } = createRequire(import.meta.url)(path.join(root, 'dist', 'index.js')).shapes;

const usage = 'usage: node scripts/make-shapeedit.mjs --out DIR [--train N --val N --test N | --count N] [--seed S] [--size PX] [--negatives K]';
let values;
try {
  ({ values } = parseArgs({
    strict: true,
    options: {
      out: { type: 'string' },
      count: { type: 'string' },
      train: { type: 'string' },
      val: { type: 'string' },
      test: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      negatives: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
if (values.help || !values.out) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const int = (name) => {
  const v = values[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    console.error(`--${name} must be a non-negative integer, got '${v}'`);
    process.exit(2);
  }
  return Number(v);
};
const options = { outDir: values.out, seed: int('seed'), size: int('size'), negatives: int('negatives'), count: int('count') };
if (values.train !== undefined || values.val !== undefined || values.test !== undefined) {
  options.splits = { train: int('train') ?? 0, val: int('val') ?? 0, test: int('test') ?? 0 };
}
for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];
try {
  const t0 = Date.now();
  const s = await generateShapeEdit(options);
  console.log(`wrote ${Object.values(s.counts).reduce((a, b) => a + b, 0)} edits (${JSON.stringify(s.counts)}) at ${s.size}×${s.size} to ${s.outDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const [split, file] of Object.entries(s.manifests)) console.log(`  ${split}: ${file}`);
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
