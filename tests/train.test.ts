// Training: a tiny InstructPix2Pix pipeline (the parity fixtures' UNet config, random init; the
// fixture VAE and CLIP, frozen) trained with the triplet loss on a tiny synthetic set; resume
// equivalence; checkpoints surviving a kill mid-write; option errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AutoencoderKL, BatchEncoder, CLIPTextModel, CLIPTokenizer, Editor, TrainBatch, Trainer, UNet2DConditionModel,
  createScheduler, disposeTrainBatch, latestCheckpoint, loadCheckpoint, ops, saveCheckpoint, saveSafetensors, tensor,
} from '../src';
import { haveParity, makeTinyPipeline, manifest } from './helpers/tiny_pipeline';

let tmp: string;
let root: string;
let unetConfig: Record<string, unknown>;
let encoder: BatchEncoder;
let batches: TrainBatch[] = [];
const SIZE = 16; // pixels (the tiny VAE halves: 8×8 latents)

/** A synthetic edit: a square on a background; the edit recolours the square. */
function scene(colour: [number, number, number], bg: number, pos: number): Float32Array {
  const img = new Float32Array(3 * SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inSq = x >= pos && x < pos + 6 && y >= pos && y < pos + 6;
      for (let c = 0; c < 3; c++) img[c * SIZE * SIZE + y * SIZE + x] = inSq ? colour[c] : bg;
    }
  }
  return img;
}
const RED: [number, number, number] = [0.9, -0.8, -0.8];
const BLUE: [number, number, number] = [-0.8, -0.8, 0.9];
const GREEN: [number, number, number] = [-0.8, 0.9, -0.8];
const RECORDS = [
  { src: scene(RED, -0.2, 2), tgt: scene(BLUE, -0.2, 2), ins: 'make the square blue', neg: 'make the square green' },
  { src: scene(RED, 0.3, 7), tgt: scene(GREEN, 0.3, 7), ins: 'make the square green', neg: 'make the square blue' },
  { src: scene(BLUE, -0.5, 4), tgt: scene(RED, -0.5, 4), ins: 'make the square red', neg: 'make the square green' },
  { src: scene(GREEN, 0.1, 5), tgt: scene(BLUE, 0.1, 5), ins: 'make the square blue', neg: 'make the square red' },
];

/** Records as one image batch: sources and targets [n, 3, SIZE, SIZE] in [−1, 1], texts, negatives. */
function imageBatch(rs: typeof RECORDS) {
  const cat = (k: 'src' | 'tgt') => {
    const f = new Float32Array(rs.length * 3 * SIZE * SIZE);
    rs.forEach((r, j) => f.set(r[k], j * 3 * SIZE * SIZE));
    return tensor(f, [rs.length, 3, SIZE, SIZE]);
  };
  return { source: cat('src'), target: cat('tgt'), instructions: rs.map((r) => r.ins), negatives: rs.map((r) => r.neg) };
}

/** The records in batches of two, encoded by `enc`. */
async function encodePairs(enc: BatchEncoder): Promise<TrainBatch[]> {
  const out: TrainBatch[] = [];
  for (let i = 0; i < RECORDS.length; i += 2) {
    const b = imageBatch(RECORDS.slice(i, i + 2));
    out.push(await enc.encode(b));
    b.source.dispose();
    b.target.dispose();
  }
  return out;
}

function ddpm(prediction_type = 'epsilon') {
  return createScheduler({ _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-train-'));
  if (!haveParity) return;
  root = makeTinyPipeline(tmp);
  unetConfig = manifest().fixtures.unet_tiny2.config;
  // The fixture VAE has random weights; like SD's 0.18215 for its VAE, choose the scaling factor
  // that gives the training latents unit variance (else the signal drowns in the noise schedule).
  const probe = await AutoencoderKL.fromPretrained(root);
  const all = new Float32Array(RECORDS.length * 3 * SIZE * SIZE);
  RECORDS.forEach((r, j) => all.set(r.tgt, j * 3 * SIZE * SIZE));
  const m = (await (await probe.encode(tensor(all, [RECORDS.length, 3, SIZE, SIZE]))).mean.toArray()) as Float32Array;
  const mu = m.reduce((a, v) => a + v, 0) / m.length;
  const std = Math.sqrt(m.reduce((a, v) => a + (v - mu) ** 2, 0) / m.length);
  probe.dispose();
  const vae = await AutoencoderKL.fromPretrained(root, { config: { ...manifest().fixtures.vae_tiny2.config, scaling_factor: 1 / std } });
  const textEncoder = await CLIPTextModel.fromPretrained(root);
  const tokenizer = await CLIPTokenizer.fromPretrained(root);
  encoder = new BatchEncoder({ vae, textEncoder, tokenizer }, { targetMode: true });
  batches = await encodePairs(encoder);
});
afterAll(() => {
  batches.forEach(disposeTrainBatch);
  encoder?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function flat(u: UNet2DConditionModel): Promise<Float32Array> {
  return (await u.flatParameters().toArray()) as Float32Array;
}

describe.skipIf(!haveParity)('Trainer', () => {
  it('trains a tiny UNet with the triplet loss: the loss falls and an overfit edit reproduces its target', async () => {
    const unet = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 3 });
    const trainer = new Trainer(unet, {
      noiseScheduler: ddpm(), lr: 2e-3, weightDecay: 0, lrSchedule: 'warmup', warmupSteps: 20, maxGradNorm: 1,
      conditioningDropout: 0.05, triplet: { margin: 5e-4, weight: 1, startStep: 50 }, emaDecay: 0.99, seed: 5,
    });
    const losses: number[] = [];
    const STEPS = 2000;
    let tripletSeen = 0;
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) {
      const r = await trainer.step(batches[i % batches.length]);
      expect(r.skipped).toBe(false);
      losses.push(r.mse);
      if (r.tripletCounted > 0) tripletSeen++;
    }
    const secs = (performance.now() - t0) / 1e3;
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const first = mean(losses.slice(0, 20));
    const last = mean(losses.slice(-20));
    console.log(`train: ${STEPS} steps in ${secs.toFixed(1)} s; mse first-20 mean ${first.toFixed(4)} -> last-20 ${last.toFixed(4)}; triplet on in ${tripletSeen} steps`);
    expect(last).toBeLessThan(first * 0.5);
    expect(tripletSeen).toBeGreaterThan(200);

    // Overfit edit: the trained UNet in the Editor (its default Euler-ancestral sampler) on a training source, vs the target's VAE
    // round trip (the tiny VAE has random weights, so the round trip is the best it can give).
    const tokenizer = encoder.tokenizer;
    const schedulerConfig = { _class_name: 'EulerAncestralDiscreteScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', timestep_spacing: 'linspace', steps_offset: 1 };
    const psnrOf = async (u: UNet2DConditionModel) => {
      const ed = Editor.fromComponents({ unet: u, vae: encoder.vae, textEncoder: encoder.textEncoder, tokenizer, schedulerConfig });
      let total = 0;
      for (const [k, rec] of RECORDS.entries()) {
        const src = tensor(rec.src.map((v) => v / 2 + 0.5), [1, 3, SIZE, SIZE]);
        const res = await ed.edit(src, rec.ins, { steps: 20, guidanceScale: 1, seed: k });
        const tz = (await encoder.vae.encode(tensor(rec.tgt, [1, 3, SIZE, SIZE]))).mean;
        const ref = await encoder.vae.decode(tz);
        const a = (await res.images.toArray()) as Float32Array;
        const b = (await ref.toArray()) as Float32Array;
        let mse = 0;
        for (let i = 0; i < a.length; i++) mse += (Math.min(1, Math.max(0, a[i])) - Math.min(1, Math.max(0, b[i] / 2 + 0.5))) ** 2;
        total += 10 * Math.log10(1 / (mse / a.length));
        res.dispose();
        src.dispose();
      }
      return total / RECORDS.length;
    };
    const trained = await psnrOf(unet);
    const untrained = await psnrOf(await UNet2DConditionModel.fromConfig(unetConfig, { seed: 3 }));
    console.log(`overfit edit PSNR vs the target's VAE round trip: trained ${trained.toFixed(1)} dB, untrained ${untrained.toFixed(1)} dB`);
    // Measured (2000 steps, ~20 s): 23.1 dB trained vs 9.0 dB untrained, with the pipeline's
    // Euler-ancestral sampler, 20 steps, guidance off.
    expect(trained).toBeGreaterThan(18);
    expect(trained).toBeGreaterThan(untrained + 8);
    trainer.dispose();
  }, 120_000);

  it('pixel space (no VAE): the Trainer and the Editor run on RGB directly; the loss falls', async () => {
    // The model denoises RGB in [−1, 1] conditioned on the source RGB: in 6, out 3 channels.
    const cfg = { ...unetConfig, in_channels: 6, out_channels: 3 };
    const unet = await UNet2DConditionModel.fromConfig(cfg, { seed: 8 });
    const pixelEncoder = new BatchEncoder({ vae: null, textEncoder: encoder.textEncoder, tokenizer: encoder.tokenizer });
    const pixelBatches = await encodePairs(pixelEncoder);
    expect(pixelBatches[0].latents.shape).toEqual([2, 3, SIZE, SIZE]);
    const trainer = new Trainer(unet, { noiseScheduler: ddpm(), lr: 2e-3, weightDecay: 0, lrSchedule: 'warmup', warmupSteps: 20, triplet: {}, seed: 2 });
    const pl: number[] = [];
    for (let i = 0; i < 400; i++) pl.push((await trainer.step(pixelBatches[i % pixelBatches.length])).mse);
    const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
    expect(mean(pl.slice(-20))).toBeLessThan(0.2 * mean(pl.slice(0, 20)));
    const schedulerConfig = { _class_name: 'EulerAncestralDiscreteScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', timestep_spacing: 'linspace', steps_offset: 1 };
    const ed = Editor.fromComponents({ unet, vae: null, textEncoder: encoder.textEncoder, tokenizer: encoder.tokenizer, schedulerConfig });
    let total = 0;
    for (const [k, rec] of RECORDS.entries()) {
      const res = await ed.edit(tensor(rec.src.map((v) => v / 2 + 0.5), [1, 3, SIZE, SIZE]), rec.ins, { steps: 20, guidanceScale: 1, seed: k });
      expect(res.images.shape).toEqual([1, 3, SIZE, SIZE]);
      const a = (await res.images.toArray()) as Float32Array;
      let mse = 0;
      for (let i = 0; i < a.length; i++) mse += (Math.min(1, Math.max(0, a[i])) - (rec.tgt[i] / 2 + 0.5)) ** 2;
      total += 10 * Math.log10(1 / (mse / a.length));
      res.dispose();
    }
    const psnr = total / RECORDS.length;
    // Measured only (not yet a quality bar): 8-10 dB after 400-1500 steps — pixels (std ~0.5) have a
    // lower SNR under SD's schedule than unit-variance latents; the recipe is issue 7's to tune.
    console.log(`pixel-space edit after 400 steps: PSNR ${psnr.toFixed(1)} dB against the true targets`);
    expect(Number.isFinite(psnr)).toBe(true);
    // a pixel-space pipeline folder: model_index.json marks the VAE absent
    const px = path.join(tmp, 'pixel-pipeline');
    fs.mkdirSync(path.join(px, 'unet'), { recursive: true });
    fs.writeFileSync(path.join(px, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionInstructPix2PixPipeline', vae: [null, null] }));
    fs.writeFileSync(path.join(px, 'unet', 'config.json'), JSON.stringify(cfg));
    await saveSafetensors(path.join(px, 'unet', 'diffusion_pytorch_model.safetensors'), Object.fromEntries(unet.parameters()));
    for (const c of ['text_encoder', 'tokenizer', 'scheduler']) fs.symlinkSync(path.join(root, c), path.join(px, c));
    const fromDisk = await Editor.fromPretrained(px);
    expect(fromDisk.vae).toBeNull();
    const r = await fromDisk.edit(tensor(RECORDS[0].src.map((v) => v / 2 + 0.5), [1, 3, SIZE, SIZE]), RECORDS[0].ins, { steps: 2 });
    expect(r.images.shape).toEqual([1, 3, SIZE, SIZE]);
    r.dispose();
    await fromDisk.dispose();
    expect(() => Editor.fromComponents({ unet, vae: encoder.vae, textEncoder: encoder.textEncoder, tokenizer: encoder.tokenizer, schedulerConfig }))
      .toThrow(/6 input \/ 3 output channels/);
    pixelBatches.forEach(disposeTrainBatch);
    pixelEncoder.dispose();
    trainer.dispose();
  }, 120_000);

  it("the loss target follows the schedule's prediction_type (epsilon, v_prediction, sample = x0)", async () => {
    // A UNet whose conv_out is zero predicts exactly 0, so the first step's mse is mean(target²):
    // mean(x0²) for 'sample' whatever the noise and timesteps; ≈ 1 for ε; in between for v.
    const b = batches[0];
    const x0 = (await b.latents.toArray()) as Float32Array;
    const meanX0Sq = x0.reduce((a, v) => a + v * v, 0) / x0.length;
    const firstMse = async (predictionType: string) => {
      const unet = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 4 });
      for (const [name, p] of unet.parameters()) if (name.startsWith('conv_out.')) ops.assign(p, ops.scale(p, 0, 0));
      const trainer = new Trainer(unet, { noiseScheduler: ddpm(predictionType), lr: 1e-4, seed: 5 });
      const r = await trainer.step(b);
      trainer.dispose();
      unet.dispose();
      return r.mse;
    };
    const sample = await firstMse('sample');
    expect(Math.abs(sample - meanX0Sq)).toBeLessThan(1e-5 * meanX0Sq);
    const eps = await firstMse('epsilon');
    expect(Math.abs(eps - 1)).toBeLessThan(0.25);
    const v = await firstMse('v_prediction');
    expect(Math.abs(v - sample)).toBeGreaterThan(1e-3);
    expect(Math.abs(v - eps)).toBeGreaterThan(1e-3);
  });

  it('resuming from a checkpoint reproduces the uninterrupted run exactly', async () => {
    const opts = () => ({ noiseScheduler: ddpm(), lr: 1e-3, triplet: { margin: 0.01 }, emaDecay: 0.9, gradientAccumulation: 2, seed: 9 });
    const N = 8;
    const a = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 4 });
    const ta = new Trainer(a, opts());
    const straight: number[] = [];
    for (let i = 0; i < N; i++) straight.push((await ta.step(batches[i % batches.length])).loss);

    const b = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 4 });
    const tb = new Trainer(b, opts());
    const resumed: number[] = [];
    for (let i = 0; i < N / 2; i++) resumed.push((await tb.step(batches[i % batches.length])).loss);
    const ck = path.join(tmp, 'resume');
    await saveCheckpoint(ck, tb, { data: { next: N / 2 } });
    // a fresh model with other weights: everything must come from the checkpoint
    const c = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 77 });
    const tc = new Trainer(c, opts());
    const st = await loadCheckpoint(ck, tc);
    expect(st.data).toEqual({ next: N / 2 });
    expect(tc.state.microStep).toBe(N / 2);
    for (let i = N / 2; i < N; i++) resumed.push((await tc.step(batches[i % batches.length])).loss);
    expect(resumed).toEqual(straight);
    expect(Buffer.from((await flat(c)).buffer).equals(Buffer.from((await flat(a)).buffer))).toBe(true);
    const ea = (await ta.emaParameters()!.toArray()) as Float32Array;
    const ec = (await tc.emaParameters()!.toArray()) as Float32Array;
    expect(Buffer.from(ea.buffer).equals(Buffer.from(ec.buffer))).toBe(true);
    // the checkpoint's UNet is a diffusers folder the loaders read
    const again = await UNet2DConditionModel.fromPretrained(path.join(ck, 'checkpoint-0000002', 'unet'));
    expect(again.numParameters).toBe(c.numParameters);
    for (const t of [ta, tb, tc]) t.dispose();
  }, 60_000);

  it('a process killed while writing checkpoints leaves the last complete one loadable', async () => {
    const ck = path.join(tmp, 'crash');
    const dist = path.join(__dirname, '..', 'dist', 'index.js');
    const unet = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 1 });
    const trainer = new Trainer(unet, { noiseScheduler: ddpm(), emaDecay: 0.5 });
    for (const delay of [300, 420, 550, 700, 860]) {
      const child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'checkpoint_writer.mjs'), dist, ck, JSON.stringify(unetConfig)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const latest = await latestCheckpoint(ck);
      if (!latest) continue; // killed before the first save completed
      const st = await loadCheckpoint(ck, trainer);
      const p = await flat(unet);
      const e = (await trainer.emaParameters()!.toArray()) as Float32Array;
      // every parameter comes from the same, complete checkpoint
      const names = unet.parameterLayout();
      for (const { offset, shape } of names) {
        const n = shape.reduce((x, y) => x * y, 1);
        for (let i = offset; i < offset + n; i += 97) {
          expect(p[i]).toBe(st.step);
          expect(e[i]).toBe(st.step);
        }
      }
      expect(st.data).toEqual({ position: st.step });
      expect(out).toMatch(/saved \d+/);
    }
    expect(await latestCheckpoint(ck)).not.toBeNull();
    trainer.dispose();
  }, 60_000);

  it('a step with a non-finite loss or gradient is skipped and reported; the weights stay as they were', async () => {
    const unet = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 6 });
    const t = new Trainer(unet, { noiseScheduler: ddpm(), lr: 1e-3, triplet: {}, emaDecay: 0.9 });
    (await t.step(batches[0])).skipped; // one good step first: moments and EMA are live
    const before = Buffer.from((await flat(unet)).buffer);
    const emaBefore = Buffer.from(((await t.emaParameters()!.toArray()) as Float32Array).buffer);
    const bad = new Float32Array(batches[0].latents.size).fill(0.1);
    bad[5] = NaN;
    const r = await t.step({ ...batches[0], latents: tensor(bad, batches[0].latents.shape as number[]) });
    expect(r.skipped).toBe(true);
    expect(r.skipReason).toMatch(/loss is NaN|non-finite gradients/);
    expect(Buffer.from((await flat(unet)).buffer).equals(before)).toBe(true);
    expect(Buffer.from(((await t.emaParameters()!.toArray()) as Float32Array).buffer).equals(emaBefore)).toBe(true);
    const ok = await t.step(batches[1]);
    expect(ok.skipped).toBe(false);
    expect(Number.isFinite(ok.loss)).toBe(true);
    expect(Buffer.from((await flat(unet)).buffer).equals(before)).toBe(false);
    t.dispose();
  });

  it('the encoding cache serves repeats (same tensors) and keys on augmentation', async () => {
    const cached = new BatchEncoder({ vae: encoder.vae, textEncoder: encoder.textEncoder, tokenizer: encoder.tokenizer }, { cache: true, targetMode: true });
    const aug = [{ top: 0, left: 0, flip: false }, { top: 0, left: 0, flip: false }];
    const b = { ...imageBatch(RECORDS.slice(0, 2)), indices: [0, 1], augment: aug };
    const first = await cached.encode(b);
    const again = await cached.encode(b);
    expect(cached.cacheStats()).toEqual({ hits: 2, entries: 2 });
    for (const k of ['latents', 'imageLatents', 'textEmbeds', 'negativeEmbeds'] as const) {
      expect(Array.from((await again[k]!.toArray()) as Float32Array)).toEqual(Array.from((await first[k]!.toArray()) as Float32Array));
    }
    // the uncached encoder gives the same values
    const plain = await encoder.encode(b);
    expect(Array.from((await plain.latents.toArray()) as Float32Array)).toEqual(Array.from((await first.latents.toArray()) as Float32Array));
    // another flip is another key: a miss
    await cached.encode({ ...b, augment: [{ ...aug[0], flip: true }, aug[1]] }).then(disposeTrainBatch);
    expect(cached.cacheStats()).toEqual({ hits: 2, entries: 3 });
    await expect(cached.encode({ ...b, indices: undefined })).rejects.toThrow(/needs the batch's indices/);
    [first, again, plain].forEach(disposeTrainBatch);
    b.source.dispose();
    b.target.dispose();
    cached.dispose();
  });

  it('bad options and batches give clear errors', async () => {
    const unet = await UNet2DConditionModel.fromConfig(unetConfig, { seed: 1 });
    expect(() => new Trainer(unet, {} as never)).toThrow(/noiseScheduler/);
    expect(() => new Trainer(unet, { noiseScheduler: ddpm(), lrr: 1 } as never)).toThrow(/unknown option 'lrr'/);
    expect(() => new Trainer(unet, { noiseScheduler: ddpm(), lrSchedule: 'cosine' })).toThrow(/totalSteps/);
    expect(() => new Trainer(unet, { noiseScheduler: ddpm(), triplet: { distance: 'l1' as never } })).toThrow(/distance/);
    expect(() => new Trainer(unet, { noiseScheduler: ddpm(), conditioningDropout: 0.5 })).toThrow(/conditioningDropout/);
    const t = new Trainer(unet, { noiseScheduler: ddpm(), triplet: {} });
    const { negativeEmbeds, ...noNeg } = batches[0];
    void negativeEmbeds;
    await expect(t.step(noNeg as TrainBatch)).rejects.toThrow(/negativeEmbeds is required/);
    await expect(t.step({ ...batches[0], latents: 3 as never })).rejects.toThrow(/batch.latents must be a Tensor/);
    t.dispose();
  });
});

describe('triplet loss op (JS)', () => {
  it('matches a float64 reference of the PyTorch formula', async () => {
    const B = 3, n = 2 * 5;
    const pred = Float32Array.from({ length: 2 * B * n }, (_, i) => Math.sin(i * 1.7) * 0.8);
    const tgt = Float32Array.from({ length: B * n }, (_, i) => Math.cos(i * 0.9) * 0.5);
    const r = ops.tripletLoss(tensor(pred, [2 * B, 2, 5]), tensor(tgt, [B, 2, 5]), { margin: 0.1, mask: [1, 0, 1] });
    const s = await ops.readTripletStats(r.stats);
    // reference, as SuperEdit's code writes it with torch ops
    const d = (row: number, b: number) => { let a = 0; for (let i = 0; i < n; i++) a += (pred[row * n + i] - tgt[b * n + i]) ** 2; return a / n; };
    let mse = 0;
    for (let b = 0; b < B; b++) mse += d(b, b) * n;
    mse /= B * n;
    const hinge = [0, 1, 2].map((b) => Math.max(0, d(b, b) - d(B + b, b) + 0.1));
    const trip = (hinge[0] + hinge[2]) / 2;
    expect(s.mse).toBeCloseTo(mse, 6);
    expect(s.triplet).toBeCloseTo(trip, 6);
    expect(s.loss).toBeCloseTo(mse + trip, 6);
    expect(s.counted).toBe(2);
    expect(r.grad.shape).toEqual([2 * B, 2, 5]);
    r.grad.dispose();
    expect(() => ops.tripletLoss(tensor(tgt, [B, 2, 5]), tensor(tgt, [B, 2, 5]))).toThrow(/\[2B, \.\.\.\]/);
  });
});
