// The built-in ShapeEdit model (models/shapeedit, trained by scripts/train-shapeedit.mjs): it loads
// with Editor.default(), the CLI uses it without --model, and it still follows the held-out
// instructions it followed when it was shipped. Those are records of the test split named in its
// training.json (regenerated here from that seed), never seen in training; the ship step lists up to
// two per edit type. The overall rates are in docs/shapeedit.md; this test guards what the model
// does do against regressions in the kernels, the fp16 weights or the pipeline. An untrained or
// broken model passes none of them (the unedited source fails every one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

import { autoencoderKind, DEFAULT_MODEL_DIR, Editor, readSafetensorsHeader, shapes } from '../src';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');
const training = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'training.json'), 'utf8'));
const defaults = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'instructedit.json'), 'utf8')).editDefaults;
// Test-split edits the shipped model followed in its evaluation, by index in the split.
const FOLLOWED = training.followedTestEdits as [number, string][];
// All of them pass on the machine that shipped it; the bar leaves room for float differences across CPUs.
const FOLLOWED_MIN = Math.ceil(0.75 * FOLLOWED.length);

let tmp: string;
let editor: Editor;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-default-'));
  editor = await Editor.default({ threads: 2 });
});
afterAll(async () => {
  await editor?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('built-in ShapeEdit model', () => {
  it('ships in the package as fp16 with its edit defaults', async () => {
    const { tensors } = await readSafetensorsHeader(path.join(DEFAULT_MODEL_DIR, 'unet', 'diffusion_pytorch_model.safetensors'));
    const entries = Object.entries(tensors);
    expect(entries.length).toBeGreaterThan(50);
    expect(entries.every(([, v]) => v.dtype === 'float16')).toBe(true); // stored as F16
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.files).toContain('models');
    // The autoencoder the pipeline declares is the one loaded (none for a pixel-space model).
    expect(editor.vae === null ? null : editor.vae.constructor.name).toBe(autoencoderKind(DEFAULT_MODEL_DIR));
    expect(editor.editDefaults).toEqual(defaults);
    expect(FOLLOWED.length).toBeGreaterThan(0);
  });

  it('still follows the held-out instructions it followed when shipped (attribute check)', async () => {
    const d = training.data;
    const count = Math.max(...FOLLOWED.map(([i]) => i)) + 1;
    await shapes.generateShapeEdit({ outDir: path.join(tmp, 'data'), seed: d.seed, size: d.size, negatives: d.negatives, splits: { train: 0, val: 0, test: count } });
    const records = await shapes.readShapeEditManifest(path.join(tmp, 'data', 'test.jsonl'));
    const passed: string[] = [];
    const failed: string[] = [];
    for (const [i, instruction] of FOLLOWED) {
      const r = records[i];
      expect(r.instruction).toBe(instruction); // the regenerated split is the evaluated one
      const out = await editor.edit(path.join(tmp, 'data', r.source), r.instruction, { seed: i });
      const raw = await out.toRaw();
      out.dispose();
      expect([raw.width, raw.height]).toEqual([d.size, d.size]);
      (await shapes.checkEdit(r.scene, r.targetScene, raw.data)).pass ? passed.push(`${r.id}: ${instruction}`) : failed.push(`${r.id}: ${instruction}`);
      // the unedited source fails the same check: passing needs the edit
      const src = await sharp(path.join(tmp, 'data', r.source)).removeAlpha().raw().toBuffer();
      expect((await shapes.checkEdit(r.scene, r.targetScene, new Uint8Array(src))).pass).toBe(false);
    }
    expect(passed.length, `passed:\n${passed.join('\n')}\nfailed:\n${failed.join('\n')}`).toBeGreaterThanOrEqual(FOLLOWED_MIN);
  }, 120_000);

  it.skipIf(!fs.existsSync(cli))('the README command edits examples/scene.png without --model', async () => {
    // `npx instructedit` in a checkout execs dist/cli.js itself: the build must leave it executable
    expect(fs.statSync(cli).mode & 0o111).not.toBe(0);
    const out = path.join(tmp, 'out.png');
    const scenes = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'scene.json'), 'utf8'));
    const r = spawnSync(process.execPath, [cli, 'edit', '--image', path.join(root, 'examples', 'scene.png'), '--instruction', scenes.instruction, '--out', out, '--quiet'],
      { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toContain(`--instruction "${scenes.instruction}"`);
    const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 64]);
    expect((await shapes.checkEdit(scenes.source, scenes.target, new Uint8Array(data))).pass).toBe(true);
  }, 60_000);

  it('a broken instructedit.json is named in the error', async () => {
    const copy = path.join(tmp, 'model');
    fs.cpSync(DEFAULT_MODEL_DIR, copy, { recursive: true });
    fs.writeFileSync(path.join(copy, 'instructedit.json'), JSON.stringify({ editDefaults: { stepz: 3 } }));
    await expect(Editor.fromPretrained(copy)).rejects.toThrow(/instructedit\.json editDefaults: unknown option 'stepz'/);
    fs.writeFileSync(path.join(copy, 'instructedit.json'), '{ not json');
    await expect(Editor.fromPretrained(copy)).rejects.toThrow(/instructedit\.json is not valid JSON/);
    await expect(Editor.default({ unet: copy } as never)).rejects.toThrow(/unknown option 'unet'/);
  });
});
