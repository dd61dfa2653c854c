// Training the text encoder with the UNet (runTraining { trainTextEncoder: true }): the encoder's
// weights move, checkpoints carry it (text_encoder/, text_encoder_ema/, its AdamW moments), a resumed
// run equals an uninterrupted one, and the Editor edits with the checkpoint's text encoder. Also
// CLIPTextModel.backward at the API level (the native suite checks it against finite differences).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLIPTextModel, Editor, loadSafetensors, newPipeline, randn, runTraining, shapes } from '../src';

let tmp: string;
let pipeline: string;
let data: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-tte-'));
  const summary = await shapes.generateShapeEdit({ outDir: path.join(tmp, 'data'), seed: 5, size: 32, splits: { train: 12, val: 0, test: 0 } });
  data = summary.manifests.train;
  const records = await shapes.readShapeEditManifest(data);
  pipeline = path.join(tmp, 'pipe');
  await newPipeline(pipeline, {
    unet: { sample_size: 8, in_channels: 96, out_channels: 48, block_out_channels: [16, 32], layers_per_block: 1,
      down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      cross_attention_dim: 16, attention_head_dim: 2, norm_num_groups: 8, input_coordinates: true, output_skip_channel: 48 },
    vae: { _class_name: 'PixelUnshuffleAutoencoder', factor: 4 },
    textEncoder: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 24, hidden_act: 'quick_gelu' },
    tokenizerCorpus: records.flatMap((r) => [r.instruction, ...r.negatives]), tokenizerVocabSize: 600, tokenizerMaxLength: 24,
    scheduler: { _class_name: 'DDIMScheduler', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear',
      prediction_type: 'sample', clip_sample: true, set_alpha_to_one: true, steps_offset: 1, timestep_spacing: 'trailing' },
    seed: 3, zeroInitBranches: true,
  });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const config = (output: string, steps: number, extra: Record<string, unknown> = {}) => ({
  model: pipeline, data, output: path.join(tmp, output), steps, batchSize: 4, resolution: 32, seed: 1, lr: 1e-3,
  emaDecay: 0.9, checkpointEvery: 0, threads: 2, timestepPower: 10, trainTextEncoder: true, ...extra,
});
const losses = (output: string) => fs.readFileSync(path.join(tmp, output, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);

describe('training the text encoder', () => {
  it('moves its weights, checkpoints it, and resumes exactly', async () => {
    await runTraining(config('straight', 4, { triplet: { startStep: 2 } }));
    const ck = path.join(tmp, 'straight', 'checkpoint-0000004');
    for (const f of ['text_encoder/model.safetensors', 'text_encoder/config.json', 'text_encoder_ema/model.safetensors']) {
      expect(fs.existsSync(path.join(ck, f)), f).toBe(true);
    }
    const opt = await loadSafetensors(path.join(ck, 'optimizer.safetensors'));
    expect(Object.keys(opt).sort()).toEqual(['m', 'text_m', 'text_v', 'v']);
    for (const t of Object.values(opt)) t.dispose();
    // The weights moved away from the pipeline's.
    const before = await loadSafetensors(path.join(pipeline, 'text_encoder', 'model.safetensors'));
    const after = await loadSafetensors(path.join(ck, 'text_encoder', 'model.safetensors'));
    const key = 'text_model.encoder.layers.0.mlp.fc1.weight';
    const a = await before[key].toArray();
    const b = await after[key].toArray();
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    for (const t of [...Object.values(before), ...Object.values(after)]) t.dispose();

    // Stopped at step 2 and resumed to 4 (the triplet term starts at step 2 in both): the same losses.
    await runTraining(config('split', 2, { triplet: { startStep: 2 } }));
    await runTraining(config('split', 4, { triplet: { startStep: 2 } }));
    expect(losses('split')).toEqual(losses('straight'));

    // The Editor takes the checkpoint's text encoder.
    const ed = await Editor.fromPretrained(pipeline, { unet: path.join(ck, 'unet_ema'), textEncoder: path.join(ck, 'text_encoder_ema') });
    const r = await ed.edit(path.join(path.dirname(data), 'images', 'train-000000_src.png'), 'remove the red circle', { steps: 1 });
    expect((await r.toRaw()).width).toBe(32);
    r.dispose();
    await ed.dispose();
    await expect(Editor.fromPretrained(pipeline, { textEncoder: path.join(tmp, 'nope') })).rejects.toThrow(/textEncoder .* is not a folder/);
  }, 120_000);

  it('CLIPTextModel.backward: gradients after a training forward, clear errors otherwise', async () => {
    const te = await CLIPTextModel.fromConfig({ vocab_size: 40, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 6 }, { seed: 2 });
    await expect(te.backward(randn([1, 4, 8]))).rejects.toThrow(/call forward with train: true first/);
    const out = await te.forward([[3, 5, 5, 7]], { train: true });
    expect(te.hasSavedActivations).toBe(true);
    await expect(te.backward(randn([1, 5, 8]))).rejects.toThrow(/shape/);
    await te.forward([[3, 5, 5, 7]], { train: true });
    await te.backward(randn([1, 4, 8], { seed: 1 }));
    const g = te.gradients();
    const tok = await g.get('text_model.embeddings.token_embedding.weight')!.toArray();
    const rowNorm = (r: number) => tok.slice(r * 8, (r + 1) * 8).reduce((s, v) => s + Math.abs(v), 0);
    expect(rowNorm(5)).toBeGreaterThan(0);
    expect(rowNorm(4)).toBe(0); // an id the forward never saw
    for (const t of [out.lastHiddenState, out.pooledOutput, ...g.values()]) t.dispose();
    te.dispose();
  });
});
