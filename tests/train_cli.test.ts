// `instructedit train --config` end to end on the tiny fixture pipeline and a synthetic manifest:
// metrics, checkpoints, resume to a later step, Ctrl-C -> checkpoint + exit 130, config errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { haveParity, makeTinyPipeline } from './helpers/tiny_pipeline';

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
let tmp: string;
let model: string;
let manifest: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-traincli-'));
  if (!haveParity) return;
  model = makeTinyPipeline(tmp);
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    const bg = { r: 40 * i, g: 100, b: 200 - 30 * i };
    const src = `s${i}.png`;
    const tgt = `t${i}.png`;
    await sharp({ create: { width: 24, height: 24, channels: 3, background: bg } }).png().toFile(path.join(tmp, src));
    await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: bg.b, g: bg.g, b: bg.r } } }).png().toFile(path.join(tmp, tgt));
    lines.push(JSON.stringify({ source: src, target: tgt, instruction: `swap the red and blue ${i}`, negatives: [`swap the red and green ${i}`] }));
  }
  manifest = path.join(tmp, 'train.jsonl');
  fs.writeFileSync(manifest, `${lines.join('\n')}\n`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function config(name: string, extra: Record<string, unknown> = {}): string {
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({
    model, data: manifest, output: path.join(tmp, name), steps: 4, batchSize: 2, resolution: 16, lr: 1e-3,
    triplet: { margin: 0.01 }, checkpointEvery: 2, sampleEvery: 4, samples: [{ image: path.join(tmp, 's0.png'), instruction: 'swap the red and blue 0' }],
    sampleSteps: 2, ...extra,
  }));
  return file;
}

const metricsOf = (name: string) => fs.readFileSync(path.join(tmp, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe.skipIf(!haveParity || !fs.existsSync(cli))('instructedit train', () => {
  it('trains, logs metrics, checkpoints, renders samples, and resumes to a later step', () => {
    const r = spawnSync(process.execPath, [cli, 'train', '--config', config('run')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/step 4\/4 loss/);
    const m = metricsOf('run');
    expect(m.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(m.every((x) => Number.isFinite(x.loss) && x.skipped === false)).toBe(true);
    expect(fs.readFileSync(path.join(tmp, 'run', 'latest'), 'utf8').trim()).toBe('checkpoint-0000004');
    expect(fs.existsSync(path.join(tmp, 'run', 'checkpoint-0000004', 'unet', 'diffusion_pytorch_model.safetensors'))).toBe(true);
    expect(fs.readdirSync(path.join(tmp, 'run', 'samples'))).toContain('step-0000004-0.png');
    // the same folder with steps 6: resumes at 4
    const r2 = spawnSync(process.execPath, [cli, 'train', '--config', config('run', { steps: 6 })], { encoding: 'utf8', timeout: 120_000 });
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/resumed: step 4/);
    expect(metricsOf('run').map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // the checkpoint's UNet edits through the CLI
    const out = path.join(tmp, 'edited.png');
    const e = spawnSync(process.execPath, [cli, 'edit', '--model', model, '--unet', path.join(tmp, 'run', 'checkpoint-0000006', 'unet'),
      '--image', path.join(tmp, 's1.png'), '--instruction', 'swap the red and blue 1', '--out', out, '--steps', '2', '--quiet'], { encoding: 'utf8' });
    expect(e.status, e.stderr).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
  }, 120_000);

  it('resumed training equals an uninterrupted run (same losses)', () => {
    const straight = spawnSync(process.execPath, [cli, 'train', '--quiet', '--config', config('straight', { steps: 6, sampleEvery: 0 })], { encoding: 'utf8' });
    expect(straight.status, straight.stderr).toBe(0);
    spawnSync(process.execPath, [cli, 'train', '--quiet', '--config', config('split', { steps: 3, sampleEvery: 0 })], { encoding: 'utf8' });
    const rest = spawnSync(process.execPath, [cli, 'train', '--quiet', '--config', config('split', { steps: 6, sampleEvery: 0 })], { encoding: 'utf8' });
    expect(rest.status, rest.stderr).toBe(0);
    expect(metricsOf('split').map((x) => x.loss)).toEqual(metricsOf('straight').map((x) => x.loss));
  }, 120_000);

  it('Ctrl-C finishes the step, writes a checkpoint and exits 130', async () => {
    const child = spawn(process.execPath, [cli, 'train', '--config', config('sigint', { steps: 100000, sampleEvery: 0, checkpointEvery: 0 })], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const started = await new Promise<boolean>((resolve) => {
      child.stderr.on('data', (d) => {
        err += d;
        if (/step \d+\/100000/.test(err)) resolve(true);
      });
      child.once('exit', () => resolve(false)); // failed before its first step
    });
    expect(started, err).toBe(true);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code, err).toBe(130);
    expect(err).toMatch(/interrupted at step \d+/);
    expect(fs.existsSync(path.join(tmp, 'sigint', 'latest'))).toBe(true);
  }, 120_000);

  it('a fresh pixel-space pipeline (newPipeline) trains with the CLI and edits', async () => {
    const { newPipeline, Editor } = await import('../src');
    const fresh = path.join(tmp, 'fresh');
    await newPipeline(fresh, {
      unet: { sample_size: 16, in_channels: 6, out_channels: 3, block_out_channels: [16, 32], layers_per_block: 1,
        down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
        cross_attention_dim: 16, attention_head_dim: 2, norm_num_groups: 8 },
      textEncoder: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 77, hidden_act: 'quick_gelu' },
      vae: null,
      tokenizerCorpus: [0, 1, 2, 3].map((i) => `swap the red and blue ${i}`),
      tokenizerVocabSize: 560,
      seed: 1,
    });
    expect(JSON.parse(fs.readFileSync(path.join(fresh, 'model_index.json'), 'utf8')).vae).toEqual([null, null]);
    const r = spawnSync(process.execPath, [cli, 'train', '--quiet', '--config', config('fresh-run', { model: fresh, steps: 3, sampleEvery: 0, triplet: null })], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = path.join(tmp, 'fresh.png');
    const e = spawnSync(process.execPath, [cli, 'edit', '--model', fresh, '--unet', path.join(tmp, 'fresh-run', 'checkpoint-0000003', 'unet'),
      '--image', path.join(tmp, 's2.png'), '--instruction', 'swap the red and blue 2', '--out', out, '--steps', '2', '--quiet'], { encoding: 'utf8' });
    expect(e.status, e.stderr).toBe(0);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([24, 24]); // pixel space: the input's size, no multiple-of-8 rounding
    const ed = await Editor.fromPretrained(fresh);
    expect(ed.vae).toBeNull();
    await ed.dispose();
  }, 120_000);

  it('config errors name the problem', () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ model, data: manifest, output: tmp, steps: 3, learningRate: 1 }));
    let r = spawnSync(process.execPath, [cli, 'train', '--config', bad], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/unknown option 'learningRate'/);
    expect(r.status).toBe(1);
    fs.writeFileSync(bad, '{ not json');
    r = spawnSync(process.execPath, [cli, 'train', '--config', bad], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/not valid JSON/);
    r = spawnSync(process.execPath, [cli, 'train'], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/--config is required/);
    expect(r.status).toBe(2);
  });
});
