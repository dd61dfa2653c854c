// AutoencoderKL through the public API: parity with diffusers (../shared/parity/vae_tiny2) from a
// folder laid out like a pipeline, weight variants, corrupt files and bad configs, bad calls, tiling,
// cancellation, and the event loop kept running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AutoencoderKL, backends, SD_VAE_CONFIG, Tensor, randn, zeros, loadSafetensors, saveSafetensors } from '../src';
import { relErr } from './reference';

const shared = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', 'shared');
const fixture = path.join(shared, 'parity', 'vae_tiny2');
const haveFixture = fs.existsSync(fixture);
const manifest = haveFixture
  ? JSON.parse(fs.readFileSync(path.join(shared, 'parity', 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'))
  : null;
const config: Record<string, unknown> = manifest?.fixtures.vae_tiny2.config;

// A 3-level random VAE (downscale 4) that runs in milliseconds.
const small = { block_out_channels: [8, 16, 16], layers_per_block: 1, norm_num_groups: 4, sample_size: 64 };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-vae-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function arr(t: Tensor): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

/** A pipeline folder: model_index.json and vae/{config.json, diffusion_pytorch_model.safetensors}. */
function pipeline(name: string, cfg: object = { _class_name: 'AutoencoderKL', _diffusers_version: '0.30.3', ...config }): { root: string; vae: string } {
  const root = path.join(tmp, name);
  const vae = path.join(root, 'vae');
  fs.mkdirSync(vae, { recursive: true });
  fs.writeFileSync(path.join(root, 'model_index.json'), '{}');
  fs.writeFileSync(path.join(vae, 'config.json'), JSON.stringify(cfg));
  fs.copyFileSync(path.join(fixture, 'vae.safetensors'), path.join(vae, 'diffusion_pytorch_model.safetensors'));
  return { root, vae };
}

describe.skipIf(!haveFixture)('AutoencoderKL parity with diffusers (vae_tiny2)', () => {
  it('encode (mean, logvar, std) and decode match from a pipeline folder', async () => {
    const inputs = await loadSafetensors(path.join(fixture, 'inputs.safetensors'));
    const outputs = await loadSafetensors(path.join(fixture, 'outputs.safetensors'));
    const { root } = pipeline('pipe');
    const vae = await AutoencoderKL.fromPretrained(root);
    expect(vae.config.scalingFactor).toBe(0.18215);
    expect(vae.scalingFactor).toBe(0.18215);
    expect(vae.downscaleFactor).toBe(2);
    const d = await vae.encode(inputs.image);
    expect(d.mean.shape).toEqual([1, 4, 16, 16]);
    for (const k of ['mean', 'logvar', 'std'] as const) {
      expect(relErr(await arr(d[k]), await arr(outputs[k])), k).toBeLessThan(1e-4);
    }
    const img = await vae.decode(inputs.latent);
    expect(img.shape).toEqual([1, 3, 32, 32]);
    expect(relErr(await arr(img), await arr(outputs.decoded))).toBeLessThan(1e-4);
    expect(vae.memoryStats().decodeTiles).toBe(1);
    vae.dispose();
  });

  it('reads the vae/ folder itself, an fp16 variant, a sharded index and legacy attention names', async () => {
    const inputs = await loadSafetensors(path.join(fixture, 'inputs.safetensors'));
    const ref = await arr((await loadSafetensors(path.join(fixture, 'outputs.safetensors'))).decoded);
    const weights = await loadSafetensors(path.join(fixture, 'vae.safetensors'));
    const { root, vae: dir } = pipeline('variants');
    const names = Object.keys(weights).sort();
    await saveSafetensors(path.join(dir, 'diffusion_pytorch_model.fp16.safetensors'),
      Object.fromEntries(names.map((n) => [n, weights[n].to('float16')])));
    const shard = path.join(tmp, 'sharded');
    fs.mkdirSync(shard);
    const a = names.slice(0, 50), b = names.slice(50);
    await saveSafetensors(path.join(shard, 'p1.safetensors'), Object.fromEntries(a.map((n) => [n, weights[n]])));
    await saveSafetensors(path.join(shard, 'p2.safetensors'), Object.fromEntries(b.map((n) => [n, weights[n]])));
    fs.writeFileSync(path.join(shard, 'diffusion_pytorch_model.safetensors.index.json'),
      JSON.stringify({ weight_map: Object.fromEntries([...a.map((n) => [n, 'p1.safetensors']), ...b.map((n) => [n, 'p2.safetensors'])]) }));
    fs.writeFileSync(path.join(shard, 'config.json'), JSON.stringify(config));
    const legacy = path.join(tmp, 'legacy.safetensors');
    const rename = (n: string) => n.replace('.to_q.', '.query.').replace('.to_k.', '.key.').replace('.to_v.', '.value.').replace('.to_out.0.', '.proj_attn.');
    expect(names.filter((n) => rename(n) !== n)).toHaveLength(16);
    await saveSafetensors(legacy, Object.fromEntries(names.map((n) => [rename(n), weights[n]])));

    const run = async (v: AutoencoderKL) => {
      const out = await arr(await v.decode(inputs.latent));
      v.dispose();
      return relErr(out, ref);
    };
    expect(await run(await AutoencoderKL.fromPretrained(dir))).toBeLessThan(1e-4);
    expect(await run(await AutoencoderKL.fromPretrained(shard))).toBeLessThan(1e-4);
    expect(await run(await AutoencoderKL.fromPretrained(legacy, { config }))).toBeLessThan(1e-4);
    // float16 rounding of every weight: about 1e-3 relative.
    expect(await run(await AutoencoderKL.fromPretrained(root, { variant: 'fp16' }))).toBeLessThan(2e-2);
    await expect(AutoencoderKL.fromPretrained(root, { variant: 'bf16' })).rejects.toThrow(/no diffusion_pytorch_model\.bf16\.safetensors/);
  });

  it('corrupt or truncated weights, a missing or wrong config reject with a clear error', async () => {
    const good = fs.readFileSync(path.join(fixture, 'vae.safetensors'));
    const { vae: dir } = pipeline('corrupt');
    const w = path.join(dir, 'diffusion_pytorch_model.safetensors');
    fs.writeFileSync(w, good.subarray(0, good.length - 100));
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/truncated|beyond|end of|too short/i);
    fs.writeFileSync(w, good.subarray(0, 5));
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/safetensors|short|header|truncated/i);
    const len = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + len).toString());
    header['decoder.conv_out.weightt'] = header['decoder.conv_out.weight'];
    delete header['decoder.conv_out.weight'];
    const json = Buffer.from(JSON.stringify(header));
    const lenBuf = Buffer.alloc(8);
    lenBuf.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(w, Buffer.concat([lenBuf, json, good.subarray(8 + len)]));
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/missing \(1\): decoder\.conv_out\.weight[\s\S]*unexpected \(1\): decoder\.conv_out\.weightt/);

    fs.copyFileSync(path.join(fixture, 'vae.safetensors'), w);
    await expect(AutoencoderKL.fromPretrained(dir, { config: { ...config, latent_channels: 8 } })).rejects.toThrow(/wrong shape.*decoder\.conv_in\.weight/s);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, latent_chanels: 4 }));
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/unknown config key "latent_chanels"/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"in_channels": 3,');
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/config\.json: not valid JSON/);
    fs.rmSync(path.join(dir, 'config.json'));
    await expect(AutoencoderKL.fromPretrained(dir)).rejects.toThrow(/no config\.json/);
    await expect(AutoencoderKL.fromPretrained(path.join(tmp, 'nothing'))).rejects.toThrow(/does not exist/);
    await expect(AutoencoderKL.fromPretrained(dir, { device: 'gpu' as 'cpu' })).rejects.toThrow(/unknown device 'gpu'/);
    if (!backends().cuda) {
      await expect(AutoencoderKL.fromConfig(config, { device: 'cuda' })).rejects.toThrow(/cuda:0' is not available/);
    }
  });
});

describe('AutoencoderKL API', () => {
  it('validates calls and names the problem', async () => {
    const vae = await AutoencoderKL.fromConfig(small, { seed: 1 });
    expect(vae.downscaleFactor).toBe(4);
    await expect(vae.encode(randn([1, 3, 18, 16]))).rejects.toThrow(/multiples of 4.*18x16/);
    await expect(vae.encode(randn([1, 4, 16, 16]))).rejects.toThrow(/image must be \[batch, 3, height, width\]/);
    await expect(vae.decode(randn([1, 3, 4, 4]))).rejects.toThrow(/z must be \[batch, 4, height, width\]/);
    await expect(vae.decode(randn([1, 4, 4, 4]).to('float16'))).rejects.toThrow(/must be float32/);
    await expect(vae.decode('z' as unknown as Tensor)).rejects.toThrow(/z must be a Tensor/);
    await expect(vae.decode(randn([1, 4, 4, 4]), { tiling: { tileSize: 6 } })).rejects.toThrow(/tileSize must be a positive multiple of 4/);
    await expect(vae.decode(randn([1, 4, 4, 4]), { tiling: { overlap: 0.9 } })).rejects.toThrow(/overlap must be in \[0, 0\.75\]/);
    await expect(vae.decode(randn([1, 4, 4, 4]), { tiling: { tile: 8 } as object })).rejects.toThrow(/unknown option 'tile'/);
    await expect(vae.decode(randn([1, 4, 4, 4]), { tiling: 'yes' as 'auto' })).rejects.toThrow(/tiling must be/);
    await expect(vae.decode(randn([1, 4, 4, 4]), { tilling: true } as object)).rejects.toThrow(/unknown option 'tilling'/);
    await expect(AutoencoderKL.fromConfig({ ...small, act_fn: 'relu' })).rejects.toThrow(/act_fn/);
    await expect(AutoencoderKL.fromConfig({ ...small, down_block_types: ['DownBlock2D'] })).rejects.toThrow(/DownBlock2D/);
    // Batch of two, non-square: encode then decode.
    const d = await vae.encode(randn([2, 3, 16, 24]));
    expect(d.mean.shape).toEqual([2, 4, 4, 6]);
    const std = await arr(d.std), lv = await arr(d.logvar);
    std.forEach((s, i) => expect(s).toBeCloseTo(Math.exp(lv[i] / 2), 5));
    expect((await vae.decode(d.mean)).shape).toEqual([2, 3, 16, 24]);
    vae.dispose();
    vae.dispose();
    await expect(vae.decode(randn([1, 4, 4, 4]))).rejects.toThrow(/disposed/);
  });

  it('tiles large inputs automatically, blending within the documented tolerance', async () => {
    const vae = await AutoencoderKL.fromConfig(small, { seed: 7 });
    const z = randn([1, 4, 48, 40]); // 192x160 pixels
    const full = await arr(await vae.decode(z, { tiling: false }));
    expect(vae.memoryStats().decodeTiles).toBe(1);
    vae.tiling = { tileSize: 128, overlap: 0.25, autoThreshold: 150 * 150 };
    const auto = await arr(await vae.decode(z)); // 192·160 > 150² -> tiled
    expect(vae.memoryStats().decodeTiles).toBe(4);
    const tiled = await arr(await vae.decode(z, { tiling: { tileSize: 128, overlap: 0.25 } }));
    expect(auto).toEqual(tiled);
    // Random weights: tiles see their own GroupNorm statistics; see README "Tiling" for the measured figures.
    expect(relErr(tiled, full)).toBeLessThan(0.1);
    expect(relErr(tiled, full)).toBeGreaterThan(0); // it really was tiled
    vae.tiling.autoThreshold = Infinity;
    expect(await arr(await vae.decode(z))).toEqual(full);
    const img = randn([1, 3, 192, 160]);
    const e1 = await arr((await vae.encode(img, { tiling: false })).mean);
    const e2 = await arr((await vae.encode(img, { tiling: true })).mean);
    expect(vae.memoryStats().encodeTiles).toBe(4);
    expect(relErr(e2, e1)).toBeLessThan(0.1);
    vae.dispose();
  });

  it('an SD-sized VAE has the real parameter count', async () => {
    const vae = await AutoencoderKL.fromConfig(SD_VAE_CONFIG, { seed: 1 });
    expect(vae.numParameters).toBe(83653863);
    expect(vae.downscaleFactor).toBe(8);
    await expect(vae.encode(zeros([1, 3, 60, 64]))).rejects.toThrow(/multiples of 8/);
    vae.dispose();
  });

  it('runs off the JS thread and can be cancelled', async () => {
    const vae = await AutoencoderKL.fromConfig({ ...small, block_out_channels: [32, 64, 64], norm_num_groups: 8 }, { seed: 3 });
    const z = randn([1, 4, 48, 48]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await vae.decode(z);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);

    const ac = new AbortController();
    const p = vae.decode(z, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    const ac2 = new AbortController();
    const p2 = vae.encode(randn([1, 3, 128, 128]), { signal: ac2.signal, tiling: { tileSize: 32 } });
    ac2.abort();
    await expect(p2).rejects.toMatchObject({ name: 'AbortError' });
    const pre = new AbortController();
    pre.abort();
    await expect(vae.decode(z, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect((await vae.decode(z)).shape).toEqual([1, 3, 192, 192]);
    vae.dispose();
  });
});
