// End to end on CUDA: the built-in model's edit on the GPU (float32 and float16 UNet) against the
// same edit on the CPU, and a few training steps (plain and triplet) on the GPU against the CPU's.
// Every test here needs a GPU; without one the suite is skipped with a message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import {
  backends, BatchEncoder, CLIPTextModel, CLIPTokenizer, createScheduler, DEFAULT_MODEL_DIR, Editor, memoryStats,
  disposeTrainBatch, ops, randn, tensor, Trainer, UNet2DConditionModel,
} from '../src';

const gpu = backends().cuda;
const title = gpu ? `on ${backends().cudaDeviceNames[0]}` : 'skipped: no CUDA device (backends().cuda is false)';

/** PSNR in dB between two images in [0, 1]. */
function psnr(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(1 / Math.max(s / a.length, 1e-20));
}

describe.skipIf(!gpu)(`GPU end to end (${title})`, () => {
  let cpu: Editor;
  beforeAll(async () => {
    cpu = await Editor.default({ threads: 2 });
  });
  afterAll(async () => {
    await cpu?.dispose();
  });
  const image = path.join(__dirname, '..', 'examples', 'scene.png');
  const instruction = 'paint the background black';

  it('an edit on cuda (float32) matches the CPU edit', async () => {
    const ed = await Editor.default({ device: 'cuda' });
    expect(ed.unet.device).toBe('cuda:0');
    const a = await cpu.edit(image, instruction, { seed: 3 });
    const b = await ed.edit(image, instruction, { seed: 3 });
    const p = psnr(a.images.toArraySync() as Float32Array, b.images.toArraySync() as Float32Array);
    expect(p, `PSNR cuda vs cpu ${p.toFixed(1)} dB`).toBeGreaterThan(40);
    // the same seed on the GPU gives the same bytes again
    const c = await ed.edit(image, instruction, { seed: 3 });
    expect(Buffer.compare(await b.toPNG(), await c.toPNG())).toBe(0);
    await ed.dispose();
    expect(memoryStats('cuda').inUse).toBeLessThan(64 << 20);
  });

  it('an edit with a float16 / bfloat16 UNet stays close to the float32 edit', async () => {
    const a = await cpu.edit(image, instruction, { seed: 5 });
    for (const [dtype, minPsnr] of [['float16', 30], ['bfloat16', 24]] as const) {
      const ed = await Editor.default({ device: 'cuda', dtype });
      const b = await ed.edit(image, instruction, { seed: 5 });
      const p = psnr(a.images.toArraySync() as Float32Array, b.images.toArraySync() as Float32Array);
      expect(p, `${dtype}: PSNR vs float32 CPU ${p.toFixed(1)} dB`).toBeGreaterThan(minPsnr);
      await ed.dispose();
    }
  });

  it('an edit with cudaGraph on gives the same bytes as with it off (float32 and float16 UNet)', async () => {
    const bytes = (t: { toArraySync(): unknown }) => {
      const a = t.toArraySync() as Float32Array;
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    };
    const steps = 6;
    for (const dtype of ['float32', 'float16'] as const) {
      const on = await Editor.default({ device: 'cuda', dtype });
      const off = await Editor.default({ device: 'cuda', dtype, cudaGraph: false });
      expect(on.cudaGraph, 'cudaGraph defaults to true on cuda').toBe(true);
      expect(off.cudaGraph).toBe(false);
      const a = await off.edit(image, instruction, { seed: 9, steps });
      const b = await on.edit(image, instruction, { seed: 9, steps }); // step 1 captures, steps 2..6 replay
      const c = await on.edit(image, instruction, { seed: 9, steps }); // every step replays
      const st = on.unet.memoryStats();
      expect(st.graphError, `${dtype}: graph capture error`).toBe('');
      expect(st.graphCaptures, dtype).toBe(1);
      expect(st.graphReplays, dtype).toBe(2 * steps - 1);
      expect(off.unet.memoryStats().graphReplays, dtype).toBe(0);
      expect(Buffer.compare(bytes(b.latents), bytes(a.latents)), `${dtype}: latents, graph vs eager`).toBe(0);
      expect(Buffer.compare(bytes(b.images), bytes(a.images)), `${dtype}: images, graph vs eager`).toBe(0);
      expect(Buffer.compare(bytes(c.images), bytes(a.images)), `${dtype}: images, all-replay edit vs eager`).toBe(0);
      expect(Buffer.compare(await b.toPNG(), await a.toPNG()), `${dtype}: PNG`).toBe(0);
      for (const r of [a, b, c]) {
        r.images.dispose();
        r.latents.dispose();
      }
      await on.dispose();
      await off.dispose();
    }
    expect(memoryStats('cuda').inUse, 'the graphs went with their editors').toBeLessThan(64 << 20);
  });

  it('training steps on cuda (plain and triplet) give the CPU losses', async () => {
    const dir = DEFAULT_MODEL_DIR;
    const losses: Record<string, number[]> = {};
    for (const device of ['cpu', 'cuda'] as const) {
      const tokenizer = await CLIPTokenizer.fromPretrained(dir);
      const textEncoder = await CLIPTextModel.fromPretrained(dir, { device });
      const unet = await UNet2DConditionModel.fromPretrained(dir, { device });
      const sched = createScheduler(JSON.parse(readFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), 'utf8')), { className: 'ddpm' });
      const trainer = new Trainer(unet, { noiseScheduler: sched, lr: 1e-4, seed: 1, triplet: { startStep: 2, margin: 5e-4, weight: 1 } });
      const enc = new BatchEncoder({ vae: null, textEncoder, tokenizer }, { seed: 1 });
      losses[device] = [];
      for (let i = 0; i < 4; i++) {
        const src = randn([2, 3, 64, 64], { seed: 10 + i, device }), tgt = randn([2, 3, 64, 64], { seed: 20 + i, device });
        const b = await enc.encode({ source: src, target: tgt, instructions: ['make the circle red', 'erase the square'],
          negatives: ['make the circle blue', 'erase the star'] });
        const r = await trainer.step(b);
        disposeTrainBatch(b);
        losses[device].push(r.loss);
        for (const t of [src, tgt]) t.dispose();
      }
      trainer.dispose();
      enc.dispose();
      unet.dispose();
      textEncoder.dispose();
    }
    for (let i = 0; i < 4; i++) {
      expect(Math.abs(losses.cuda[i] - losses.cpu[i]) / Math.abs(losses.cpu[i]), `step ${i}: ${losses.cuda[i]} vs ${losses.cpu[i]}`).toBeLessThan(1e-3);
    }
  });

  it('bad input on cuda is an exception, not a crash', async () => {
    const x = tensor(new Float32Array(6), [2, 3], { device: 'cuda' });
    const y = tensor(new Float32Array(6), [2, 3]);
    expect(() => ops.binary('add', x, y)).toThrow(/is on cpu but the other inputs are on cuda:0/);
    expect(() => ops.matmul(x, x)).toThrow(/inner dimensions differ/);
    y.dispose();
    x.dispose();
  });
});
