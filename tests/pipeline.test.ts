// The editing pipeline end to end: diffusers' InstructPix2Pix run on the tiny fixture models
// (../shared/parity/pipeline_ip2p_euler_ancestral) reproduced through Editor.edit, then the Editor's
// contract: determinism, queueing, abort, the event loop, and clear errors for bad models, images
// and options.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { Editor, Tensor, loadSafetensors, memoryStats, ops, synchronize, tensor } from '../src';
import { relErr } from './reference';
import { haveParity, makeTinyPipeline, manifest, parity } from './helpers/tiny_pipeline';

let tmp: string;
let root: string;
let editor: Editor;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-pipe-'));
  if (haveParity) {
    root = makeTinyPipeline(tmp);
    editor = await Editor.fromPretrained(root);
  }
});
afterAll(async () => {
  await editor?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const arr = async (t: Tensor) => (await t.toArray()) as Float32Array;

/** A deterministic test picture: a gradient with a disc, as PNG bytes. */
async function picture(w: number, h: number): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inDisc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 4) ** 2;
      raw[(y * w + x) * 3] = inDisc ? 220 : Math.round((255 * x) / w);
      raw[(y * w + x) * 3 + 1] = inDisc ? 40 : Math.round((255 * y) / h);
      raw[(y * w + x) * 3 + 2] = 128;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

describe.skipIf(!haveParity)('InstructPix2Pix pipeline parity with diffusers (tiny models)', () => {
  it('reproduces every step, the final latents and the decoded image', async () => {
    const dir = path.join(parity, 'pipeline_ip2p_euler_ancestral');
    const inputs = await loadSafetensors(path.join(dir, 'inputs.safetensors'));
    const steps = await loadSafetensors(path.join(dir, 'steps.safetensors'));
    const outputs = await loadSafetensors(path.join(dir, 'outputs.safetensors'));
    const f = manifest().fixtures.pipeline_ip2p_euler_ancestral;
    // the tokenizer gives the reference's ids
    const ids = editor.tokenizer.encode(f.prompt);
    expect(Array.from(ids)).toEqual(Array.from(await inputs.input_ids_cond.toArray()));
    // per-step noise as diffusers drew it; compare the latents after each step as they come
    const noise = ops.split(steps.ancestral_noise, [1, 1, 1, 1], 0).map((t) => t.reshape([1, 4, 16, 16]));
    const perStep = ops.split(steps.latents_after_step, [1, 1, 1, 1], 0).map((t) => t.reshape([1, 4, 16, 16]));
    const seen: number[] = [];
    const result = await editor.edit(inputs.image01, f.prompt, {
      steps: f.num_inference_steps, guidanceScale: f.guidance_scale, imageGuidanceScale: f.image_guidance_scale,
      latents: inputs.latents, stepNoise: (i) => noise[i],
      onProgress: (p) => { if (p.phase === 'denoise') seen.push(p.step); },
    });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    const latErr = relErr(await arr(result.latents), await arr(outputs.latents));
    const imgErr = relErr(await arr(result.images), await arr(ops.scale(outputs.decoded_raw, 0.5, 0.5)));
    console.log(`pipeline parity: latents rel ${latErr.toExponential(2)}, image rel ${imgErr.toExponential(2)}`);
    expect(latErr).toBeLessThan(1e-4);
    expect(imgErr).toBeLessThan(1e-4);
    // the 8-bit image equals diffusers' output (clamped, ×255, rounded) up to rare ±1 at .5 boundaries
    const raw = await result.toRaw();
    const ref = await arr(outputs.image);
    let off = 0;
    for (let p = 0; p < 32 * 32; p++) {
      for (let c = 0; c < 3; c++) off = Math.max(off, Math.abs(raw.data[p * 3 + c] - Math.round(ref[c * 1024 + p] * 255)));
    }
    expect(off).toBeLessThanOrEqual(1);
    expect(perStep).toHaveLength(4);
    result.dispose();
  });
});

describe.skipIf(!haveParity)('Editor', () => {
  it('accepts a path, a Buffer, a sharp instance and a tensor; any size becomes multiples of 8', async () => {
    const png = await picture(45, 37);
    const file = path.join(tmp, 'in.png');
    fs.writeFileSync(file, png);
    for (const input of [file, png, sharp(png)]) {
      const r = await editor.edit(input, 'make it blue', { steps: 2, seed: 3 });
      // the tiny VAE downsamples by 2 (SD's by 8): sizes round down to multiples of 2
      expect(editor.vae.downscaleFactor).toBe(2);
      expect([r.width, r.height]).toEqual([44, 36]);
      expect(r.images.shape).toEqual([1, 3, 36, 44]);
      expect(r.latents.shape).toEqual([1, 4, 18, 22]);
      const meta = await sharp(await r.toPNG()).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([44, 36, 3]);
      r.dispose();
    }
    const big = await editor.edit(await picture(300, 200), 'x', { steps: 1, maxPixels: 64 * 64 });
    expect(big.width * big.height).toBeLessThanOrEqual(64 * 64);
    expect(big.width / big.height).toBeCloseTo(1.5, 0);
    big.dispose();
  });

  it('the same seed gives the same bytes; another seed differs; numImages gives distinct images', async () => {
    const png = await picture(32, 32);
    const a = await editor.edit(png, 'turn the sky purple', { steps: 3, seed: 7 });
    const b = await editor.edit(png, 'turn the sky purple', { steps: 3, seed: 7 });
    const c = await editor.edit(png, 'turn the sky purple', { steps: 3, seed: 8 });
    expect((await a.toPNG()).equals(await b.toPNG())).toBe(true);
    expect((await a.toPNG()).equals(await c.toPNG())).toBe(false);
    const two = await editor.edit(png, 'turn the sky purple', { steps: 3, seed: 7, numImages: 2 });
    expect(two.images.shape[0]).toBe(2);
    expect((await two.toPNG(0)).equals(await two.toPNG(1))).toBe(false);
    await expect(two.toPNG(2)).rejects.toThrow(/out of range/);
    for (const r of [a, b, c, two]) r.dispose();
  });

  it('queues concurrent edits: results equal the sequential ones', async () => {
    const png = await picture(32, 32);
    const seq = [];
    for (const s of [1, 2, 3]) seq.push(await (await editor.edit(png, 'add snow', { steps: 2, seed: s })).toPNG());
    const par = await Promise.all([1, 2, 3].map((s) => editor.edit(png, 'add snow', { steps: 2, seed: s })));
    for (let i = 0; i < 3; i++) expect((await par[i].toPNG()).equals(seq[i])).toBe(true);
    par.forEach((r) => r.dispose());
  });

  it('abort stops within one step, rejects with AbortError and frees the memory', async () => {
    const png = await picture(64, 64);
    const warm = await editor.edit(png, 'x', { steps: 1 });
    warm.dispose();
    synchronize(); // disposed tensors are released once the work queued on them has run
    const before = memoryStats().inUse;
    const ctl = new AbortController();
    let stepsSeen = 0;
    const p = editor.edit(png, 'make it night', {
      steps: 50, signal: ctl.signal,
      onProgress: (e) => {
        if (e.phase === 'denoise' && e.step === 2) ctl.abort();
        if (e.phase === 'denoise') stepsSeen = e.step;
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(stepsSeen).toBeLessThanOrEqual(3);
    synchronize();
    expect(memoryStats().inUse).toBeLessThanOrEqual(before);
    // an already-aborted signal rejects at once
    await expect(editor.edit(png, 'x', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    // and the editor still works
    const ok = await editor.edit(png, 'x', { steps: 1 });
    ok.dispose();
  });

  it('keeps the event loop responsive during an edit (worst delay measured)', async () => {
    const png = await picture(96, 96);
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const t0 = performance.now();
    const r = await editor.edit(png, 'turn it into a watercolour', { steps: 8 });
    const ms = performance.now() - t0;
    h.disable();
    const worst = h.max / 1e6;
    console.log(`event loop during a ${ms.toFixed(0)} ms edit at 96x96: worst delay ${worst.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
    // The whole edit takes far longer than any single blocking slice may.
    expect(worst).toBeLessThan(Math.max(100, ms / 4));
    r.dispose();
  });

  it('bad options, images and models give clear errors', async () => {
    const png = await picture(32, 32);
    await expect(editor.edit(png, 'x', { stepz: 3 } as never)).rejects.toThrow(/unknown option 'stepz'/);
    await expect(editor.edit(png, 'x', { steps: 0 })).rejects.toThrow(/steps must be an integer >= 1/);
    await expect(editor.edit(png, 'x', { guidanceScale: NaN })).rejects.toThrow(/guidanceScale/);
    await expect(editor.edit(png, 'x', { scheduler: 'bogus' })).rejects.toThrow(/unknown scheduler 'bogus'/);
    await expect(editor.edit(png, 42 as never)).rejects.toThrow(/instruction must be a string/);
    await expect(editor.edit(path.join(tmp, 'nope.png'), 'x')).rejects.toThrow(/could not read the image/);
    await expect(editor.edit(Buffer.from('not an image at all'), 'x')).rejects.toThrow(/could not read the image/);
    await expect(editor.edit(png.subarray(0, png.length - 30), 'x')).rejects.toThrow(/could not read the image/);
    await expect(editor.edit(tensor(new Float32Array(3 * 9 * 9), [1, 3, 9, 9]), 'x')).rejects.toThrow(/multiples of 2/);
    await expect(editor.edit(png, 'x', { latents: tensor(new Float32Array(16), [1, 4, 2, 2]) })).rejects.toThrow(/latents must be \[1, 4, 16, 16\]/);
  });

  it('a missing or corrupt component is named', async () => {
    const broken = path.join(tmp, 'broken');
    fs.cpSync(root, broken, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(broken, 'vae'), { recursive: true });
    await expect(Editor.fromPretrained(broken)).rejects.toThrow(/no vae\/ folder/);
    fs.cpSync(path.join(root, 'vae'), path.join(broken, 'vae'), { recursive: true, verbatimSymlinks: true });
    const w = path.join(broken, 'unet', 'diffusion_pytorch_model.safetensors');
    const bytes = fs.readFileSync(w);
    fs.rmSync(w);
    fs.writeFileSync(w, bytes.subarray(0, bytes.length - 100));
    await expect(Editor.fromPretrained(broken)).rejects.toThrow(/unet/);
    fs.writeFileSync(path.join(broken, 'scheduler', 'scheduler_config.json'), '{"_class_name": "NoSuchScheduler"}');
    await expect(Editor.fromPretrained(broken)).rejects.toThrow(/NoSuchScheduler/);
    await expect(Editor.fromPretrained(path.join(tmp, 'missing'))).rejects.toThrow(/not a folder/);
  });
});
