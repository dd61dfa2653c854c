// PixelUnshuffleAutoencoder (lossless space-to-depth) and a pipeline built on it: PyTorch's
// PixelUnshuffle channel order, an exact round trip, clear errors, and a fresh pipeline whose UNet has
// an output skip — its zero conv_out makes the untrained model return the source image unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Editor, newPipeline, PixelUnshuffleAutoencoder, autoencoderKind, tensor, randn, Trainer, UNet2DConditionModel, createScheduler } from '../src';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-pu-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('PixelUnshuffleAutoencoder', () => {
  it('encodes in PyTorch PixelUnshuffle order and decodes back bit for bit', async () => {
    const B = 2, C = 3, f = 4, H = 8, W = 12;
    const x = randn([B, C, H, W], { seed: 3 });
    const ae = new PixelUnshuffleAutoencoder({ factor: f });
    expect(ae.config.latent_channels).toBe(48);
    const { mean } = await ae.encode(x);
    expect(mean.shape).toEqual([B, C * f * f, H / f, W / f]);
    const xs = await x.toArray();
    const zs = await mean.toArray();
    // torch: out[b, c·f² + i·f + j, y, x] = in[b, c, y·f + i, x·f + j]
    let bad = 0;
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) {
      for (let y = 0; y < H / f; y++) for (let xx = 0; xx < W / f; xx++) {
        const o = (((b * C * f * f + c * f * f + i * f + j) * (H / f)) + y) * (W / f) + xx;
        const s = ((b * C + c) * H + y * f + i) * W + xx * f + j;
        if (zs[o] !== xs[s]) bad++;
      }
    }
    expect(bad).toBe(0);
    const back = await ae.decode(mean);
    expect(back.shape).toEqual([B, C, H, W]);
    expect(Array.from(await back.toArray())).toEqual(Array.from(xs));
    for (const t of [x, mean, back]) t.dispose();
    ae.dispose();
  });

  it('rejects bad configs and inputs with messages naming the problem', async () => {
    expect(() => new PixelUnshuffleAutoencoder({ factor: 0 })).toThrow(/factor/);
    expect(() => new PixelUnshuffleAutoencoder({ factor: 4, bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => new PixelUnshuffleAutoencoder({ factor: 4, latent_channels: 12 } as never)).toThrow(/latent_channels must be in_channels × factor² = 48/);
    const ae = new PixelUnshuffleAutoencoder({ factor: 4 });
    const odd = randn([1, 3, 10, 8]);
    await expect(ae.encode(odd)).rejects.toThrow(/multiples of 4/);
    await expect(ae.decode(odd)).rejects.toThrow(/\[batch, 48, height, width\]/);
    ae.dispose();
    await expect(ae.encode(randn([1, 3, 8, 8]))).rejects.toThrow(/disposed/);
    odd.dispose();
  });
});

describe('a PixelUnshuffle pipeline with an output-skip UNet', () => {
  const unet = {
    sample_size: 4, in_channels: 96, out_channels: 48, block_out_channels: [16, 32], layers_per_block: 1,
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    cross_attention_dim: 16, attention_head_dim: 2, norm_num_groups: 8, input_coordinates: true, output_skip_channel: 48,
  };
  it('starts as the identity: an untrained edit returns the source image exactly', async () => {
    const dir = path.join(tmp, 'pipe');
    await newPipeline(dir, {
      unet, vae: { _class_name: 'PixelUnshuffleAutoencoder', factor: 4 },
      textEncoder: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16, hidden_act: 'quick_gelu' },
      tokenizerCorpus: ['make the red circle blue', 'remove the green square'], tokenizerVocabSize: 560, tokenizerMaxLength: 16,
      scheduler: { _class_name: 'DDIMScheduler', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear',
        prediction_type: 'sample', clip_sample: true, set_alpha_to_one: true, steps_offset: 1, timestep_spacing: 'trailing' },
      seed: 2, zeroInitBranches: true,
    });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model_index.json'), 'utf8')).vae).toEqual(['instructedit', 'PixelUnshuffleAutoencoder']);
    // conv_out (the skip) and every residual branch's last layer start at zero; the rest is random.
    const u = await UNet2DConditionModel.fromPretrained(path.join(dir, 'unet'));
    const norms = new Map<string, number>();
    for (const [k, v] of u.parameters()) norms.set(k, Math.max(...Array.from(await v.toArray(), Math.abs)));
    u.dispose();
    const zero = [...norms].filter(([, n]) => n === 0).map(([k]) => k);
    expect(zero.sort()).toEqual([...norms.keys()].filter((k) => /^conv_out\.|resnets\.\d+\.conv2\.|attentions\.\d+\.proj_out\./.test(k)).sort());
    // conv_out + 8 resnets (down 2, mid 2, up 2×2) + 7 transformers (down 2, mid 1, up 2×2), weight and bias each
    expect(zero.length).toBe(2 + 8 * 2 + 7 * 2);
    expect(autoencoderKind(dir)).toBe('PixelUnshuffleAutoencoder');
    const ed = await Editor.fromPretrained(dir);
    expect(ed.vae).toBeInstanceOf(PixelUnshuffleAutoencoder);
    const px = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 256;
    const png = await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer();
    // image guidance 1: ε(img, txt) alone; with guidance the unconditional branch (image zeroed) mixes in.
    const r = await ed.edit(png, 'make the red circle blue', { steps: 1, guidanceScale: 1, imageGuidanceScale: 1, seed: 0 });
    const raw = await r.toRaw();
    expect(raw.width).toBe(16);
    expect(Buffer.from(raw.data).equals(px)).toBe(true);
    r.dispose();
    // An image whose sides are not multiples of 4 is resized to them, as for SD's VAE (multiples of 8).
    const r2 = await ed.edit(await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).resize(18, 14).png().toBuffer(), 'remove the green square', { steps: 1 });
    expect((await r2.toRaw()).width % 4).toBe(0);
    r2.dispose();
    await ed.dispose();
  });

  it('the Trainer validates timestepPower', async () => {
    const u = await UNet2DConditionModel.fromConfig(unet);
    const noiseScheduler = createScheduler({ _class_name: 'DDPMScheduler', num_train_timesteps: 1000, prediction_type: 'sample' });
    expect(() => new Trainer(u, { noiseScheduler, timestepPower: 0.5 })).toThrow(/timestepPower must be in \[1, 100\]/);
    expect(() => new Trainer(u, { noiseScheduler, timestepPower: NaN })).toThrow(/timestepPower/);
    new Trainer(u, { noiseScheduler, timestepPower: 3 }).dispose();
    u.dispose();
  });
});
