// The package as a consumer sees it: loaded from a prebuild in a clean directory with no compiler
// and no build tree, through both its CommonJS and its ES-module entry.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;
let dir = '';

// A prebuild made by `npm run prebuild` if there is one, else the local build packed the way
// prebuildify packs it (prebuilds/<platform>-<arch>/<name>.napi.node).
function findPrebuild(): string {
  const pre = path.join(root, 'prebuilds', platformDir);
  if (existsSync(pre)) {
    const f = readdirSync(pre).find((n) => n.endsWith('.node'));
    if (f) return path.join(pre, f);
  }
  return path.join(root, 'build', 'Release', 'instructedit.node');
}

beforeAll(() => {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts`');
  dir = mkdtempSync(path.join(os.tmpdir(), 'instructedit-prebuild-'));
  const pkg = path.join(dir, 'node_modules', 'instructedit');
  mkdirSync(path.join(pkg, 'prebuilds', platformDir), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  cpSync(findPrebuild(), path.join(pkg, 'prebuilds', platformDir, 'instructedit.napi.node'));
  cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// PATH holds only node's own directory: no cc, c++, cmake or make to fall back on.
const env = () => ({ PATH: path.dirname(process.execPath), HOME: dir });

describe('installed package', () => {
  it('loads from the prebuild with no compiler and no build tree (CommonJS)', () => {
    const script = `
      const ie = require('instructedit');
      const y = ie.ops.softmax(ie.tensor([0, 0, 0, 0], [1, 4]));
      console.log(JSON.stringify({ y: Array.from(y.toArraySync()), cpu: ie.backends().cpu }));`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, env: env(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ y: [0.25, 0.25, 0.25, 0.25], cpu: true });
    expect(existsSync(path.join(dir, 'node_modules', 'instructedit', 'build'))).toBe(false);
  });

  it('works as an ES module and shares one instance with require()', () => {
    const script = `
      import { ops, tensor, Tensor } from 'instructedit';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('instructedit');
      const t = ops.scale(tensor([1, 2], [2]), 2, 1);
      console.log(JSON.stringify({ v: Array.from(await t.toArray()), same: cjs.Tensor === Tensor && t instanceof cjs.Tensor }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: env(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ v: [3, 5], same: true });
  });

  it('exports the checkpoint functions to ES modules', () => {
    const script = `
      import { tensor, saveSafetensors, loadSafetensors } from 'instructedit';
      await saveSafetensors('w.safetensors', { w: tensor([1, 2], [2]) });
      const { w } = await loadSafetensors('w.safetensors');
      console.log(JSON.stringify(Array.from(await w.toArray())));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: env(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([1, 2]);
  });
});
