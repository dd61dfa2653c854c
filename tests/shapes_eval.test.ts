// ShapeEdit evaluation: an oracle editor (returns the true target) scores 100% following and exact
// PSNR, the identity editor (returns the source) 0%; the table and the grid; the `eval` CLI on a
// fresh pixel-space pipeline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { newPipeline, shapes } from '../src';

let tmp: string;
let manifest: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-seval-'));
  const summary = await shapes.generateShapeEdit({ outDir: path.join(tmp, 'data'), count: 30, seed: 3, size: 64, splits: { train: 16, val: 0, test: 14 } });
  manifest = summary.manifests.test;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function rgbOf(file: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(file).removeAlpha().raw().toBuffer());
}

describe('ShapeEdit evaluation', () => {
  it('scores an oracle at 100% and the identity at 0%, per edit type', async () => {
    const dir = path.dirname(manifest);
    const oracle = await shapes.evaluateShapeEdit(manifest, async (_src, _ins, r) => rgbOf(path.join(dir, r.target)));
    const overall = oracle.rows.find((r) => r.edit === 'overall')!;
    expect(overall.count).toBe(14);
    expect(overall.following).toBe(1);
    expect(overall.psnrInside).toBe(60); // exact everywhere (capped)
    const identity = await shapes.evaluateShapeEdit(manifest, async (src) => rgbOf(src));
    expect(identity.rows.find((r) => r.edit === 'overall')!.following).toBe(0);
    expect(identity.rows.find((r) => r.edit === 'overall')!.psnrOutside).toBe(60); // preserved exactly
    const table = shapes.evaluationTable(identity);
    expect(table).toMatch(/\| overall \| 14 \| 0\.0% ± 0\.0 \| 0\.0% ± 0\.0 \|/);
    expect(overall.negativeConfusion).toBe(0);
    const grid = path.join(tmp, 'grid.png');
    await shapes.evaluationGrid(manifest, oracle.scores.map(() => new Uint8Array(64 * 64 * 3)), grid, 4);
    const meta = await sharp(grid).metadata();
    expect([meta.width, meta.height]).toEqual([3 * 64 + 8, 4 * 66 + 2]);
    await expect(shapes.evaluateShapeEdit(manifest, async () => new Uint8Array(5))).rejects.toThrow(/returned 5 bytes/);
  });

  it('counts negative confusion: an editor that carries out a one-attribute negative instead', async () => {
    // The "wrong" editor renders the target of the record's first negative ("… green" for "… blue").
    const ev = await shapes.evaluateShapeEdit(manifest, async (_src, _ins, r) => {
      const wrong = shapes.applyEdit(r.scene, r.negativeEdits[0].spec);
      return shapes.renderSceneRGB(wrong, { size: 64 });
    });
    const overall = ev.rows.find((r) => r.edit === 'overall')!;
    expect(overall.following).toBe(0);
    expect(overall.negativeConfusion).toBe(1);
    expect(ev.scores.every((s) => s.confused && s.confusedWith !== '')).toBe(true);
    expect(shapes.binomialError(0.9, 1000)).toBeCloseTo(Math.sqrt(0.09 / 1000), 12);
  });

  it('instructedit eval runs a pipeline over a split and writes the report and grid', async () => {
    const cli = path.join(__dirname, '..', 'dist', 'cli.js');
    if (!fs.existsSync(cli)) return;
    const records = await shapes.readShapeEditManifest(manifest);
    const model = path.join(tmp, 'model');
    await newPipeline(model, {
      unet: { sample_size: 64, in_channels: 6, out_channels: 3, block_out_channels: [16, 32], layers_per_block: 1,
        down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
        cross_attention_dim: 16, attention_head_dim: 2, norm_num_groups: 8 },
      textEncoder: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 77, hidden_act: 'quick_gelu' },
      vae: null, tokenizerCorpus: records.map((r) => r.instruction), tokenizerVocabSize: 600,
    });
    const out = path.join(tmp, 'report.md');
    const grid = path.join(tmp, 'eval-grid.png');
    const r = spawnSync(process.execPath, [cli, 'eval', '--model', model, '--data', manifest, '--limit', '3', '--steps', '2', '--out', out, '--grid', grid, '--quiet'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| overall \| 3 \|/);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/# ShapeEdit evaluation/);
    expect(fs.existsSync(grid)).toBe(true);
    const bad = spawnSync(process.execPath, [cli, 'eval', '--model', model], { encoding: 'utf8' });
    expect(bad.stderr).toMatch(/--data is required/);
    expect(bad.status).toBe(2);
  }, 60_000);
});
