// The `instructedit` CLI as a user runs it (the compiled dist/cli.js in a child process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { haveParity, makeTinyPipeline } from './helpers/tiny_pipeline';

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
let tmp: string;
let model: string;
let image: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-cli-'));
  if (haveParity) model = makeTinyPipeline(tmp);
  image = path.join(tmp, 'in.jpg');
  await sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 200, g: 30, b: 90 } } }).jpeg().toFile(image);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!haveParity || !fs.existsSync(cli))('instructedit CLI', () => {
  it('edit writes the output image and reports progress', () => {
    const out = path.join(tmp, 'out.png');
    const r = run('edit', '--model', model, '--image', image, '--instruction', 'make it green', '--out', out, '--steps', '3', '--seed', '5');
    expect(r.err).toMatch(/denoise/);
    expect(r.code, r.err).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
    const again = path.join(tmp, 'again.png');
    run('edit', '--model', model, '--image', image, '--instruction', 'make it green', '--out', again, '--steps', '3', '--seed', '5', '--quiet');
    expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
  });

  it('every bad argument gets a one-line reason and exit code 2', () => {
    const base = ['--model', model, '--image', image, '--instruction', 'x', '--out', path.join(tmp, 'o.png')];
    const cases: [string[], RegExp][] = [
      [['edit', ...base.slice(2, 4)], /--instruction is required/],
      [['edit', '--model', path.join(tmp, 'nope'), ...base.slice(2)], /--model: .* does not exist/],
      [['edit', ...base, '--steps', 'ten'], /--steps must be an integer/],
      [['edit', ...base, '--guidance', 'lots'], /--guidance must be a number >= 0/],
      [['edit', ...base, '--image-guidance', 'NaN'], /--image-guidance must be a number/],
      [['edit', ...base, '--scheduler', 'warp'], /--scheduler must be one of/],
      [['edit', ...base, '--bogus'], /Unknown option '--bogus'/],
      [['edit', ...base.slice(0, 2), '--image', path.join(tmp, 'none.jpg'), ...base.slice(4)], /--image: .* does not exist/],
      [['edit', ...base.slice(0, 6), '--out', path.join(tmp, 'o.gif')], /--out: use a \.png/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, re] of cases) {
      const r = run(...args);
      expect(r.err, args.join(' ')).toMatch(re);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });

  it('an unreadable image or a broken model fails with exit code 1 and a reason', () => {
    const junk = path.join(tmp, 'junk.png');
    fs.writeFileSync(junk, 'definitely not a png');
    const r = run('edit', '--model', model, '--image', junk, '--instruction', 'x', '--out', path.join(tmp, 'o.png'));
    expect(r.err).toMatch(/could not read the image/);
    expect(r.code).toBe(1);
    const r2 = run('edit', '--model', tmp, '--image', image, '--instruction', 'x', '--out', path.join(tmp, 'o.png'));
    expect(r2.err).toMatch(/no unet\/ folder/);
    expect(r2.code).toBe(1);
  });

  it('--help and --version', () => {
    expect(run('--help').out).toMatch(/instructedit edit --image IN --instruction TEXT --out OUT \[--model DIR\]/);
    expect(run('--version').out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
