// UNet2DConditionModel through the public API: parity with diffusers (../shared/parity/unet_tiny2),
// the folder layouts fromPretrained reads, corrupt and mismatched weight files, bad calls, cancellation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor, tensor, randn, loadSafetensors, saveSafetensors, UNet2DConditionModel, backends, Editor } from '../src';
import { relErr } from './reference';

const shared = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', 'shared');
const fixture = path.join(shared, 'parity', 'unet_tiny2');
const haveFixture = fs.existsSync(fixture);
const manifest = haveFixture
  ? JSON.parse(fs.readFileSync(path.join(shared, 'parity', 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'))
  : null;
const config: Record<string, unknown> = manifest?.fixtures.unet_tiny2.config;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-unet-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function arr(t: Tensor): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

/** Inputs, reference output and gradients of the fixture. */
async function fixtureData() {
  const inputs = await loadSafetensors(path.join(fixture, 'inputs.safetensors'));
  const outputs = await loadSafetensors(path.join(fixture, 'outputs.safetensors'));
  const grads = await loadSafetensors(path.join(fixture, 'grads.safetensors'));
  return { inputs, outputs, grads };
}

/** A safetensors file from raw parts (to build corrupt ones). */
function writeRaw(file: string, header: object | string, data: Buffer, lengthOverride?: bigint): void {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

describe.skipIf(!haveFixture)('UNet2DConditionModel parity with diffusers (unet_tiny2)', () => {
  it('forward output, input gradients and all 208 parameter gradients match', async () => {
    const { inputs, outputs, grads } = await fixtureData();
    const unet = await UNet2DConditionModel.fromPretrained(path.join(fixture, 'unet.safetensors'), { config });
    expect(unet.parameterLayout()).toHaveLength(208);
    const out = await unet.forward(inputs.sample, inputs.timestep, inputs.encoder_hidden_states, { train: true });
    expect(out.shape).toEqual([2, 4, 16, 16]);
    expect(relErr(await arr(out), await arr(outputs.out))).toBeLessThan(1e-4);

    const g = await unet.backward(inputs.R);
    expect(relErr(await arr(g.sample), await arr(grads.sample))).toBeLessThan(1e-3);
    expect(relErr(await arr(g.encoderHiddenStates), await arr(grads.encoder_hidden_states))).toBeLessThan(1e-3);
    const pg = unet.gradients();
    expect(pg.size).toBe(208);
    let worst = 0;
    for (const [name, t] of pg) {
      const ref = grads[`param.${name}`];
      expect(ref, name).toBeDefined();
      expect(t.shape).toEqual(ref.shape);
      worst = Math.max(worst, relErr(await arr(t), await arr(ref)));
    }
    expect(worst).toBeLessThan(1e-3);

    // The parameters are views of the loaded weights.
    const w = await loadSafetensors(path.join(fixture, 'unet.safetensors'), { names: ['conv_out.weight'] });
    expect(await arr(unet.parameters().get('conv_out.weight')!)).toEqual(await arr(w['conv_out.weight']));
    unet.dispose();
  });

  it('reads diffusers folders: unet/, pipeline root, fp16 variant, sharded index', async () => {
    const { inputs, outputs } = await fixtureData();
    const weights = await loadSafetensors(path.join(fixture, 'unet.safetensors'));
    const ref = await arr(outputs.out);
    const root = path.join(tmp, 'pipeline');
    const dir = path.join(root, 'unet');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(root, 'model_index.json'), '{}');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel', ...config }));
    fs.copyFileSync(path.join(fixture, 'unet.safetensors'), path.join(dir, 'diffusion_pytorch_model.safetensors'));
    // fp16 variant, and a two-shard checkpoint with its index.
    const names = Object.keys(weights).sort();
    const half: Record<string, Tensor> = {};
    for (const n of names) half[n] = weights[n].to('float16');
    await saveSafetensors(path.join(dir, 'diffusion_pytorch_model.fp16.safetensors'), half);
    const shardDir = path.join(tmp, 'sharded');
    fs.mkdirSync(shardDir);
    const a = names.slice(0, 100), b = names.slice(100);
    await saveSafetensors(path.join(shardDir, 'part-1.safetensors'), Object.fromEntries(a.map((n) => [n, weights[n]])));
    await saveSafetensors(path.join(shardDir, 'part-2.safetensors'), Object.fromEntries(b.map((n) => [n, weights[n]])));
    const weight_map = Object.fromEntries([...a.map((n) => [n, 'part-1.safetensors']), ...b.map((n) => [n, 'part-2.safetensors'])]);
    fs.writeFileSync(path.join(shardDir, 'diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map }));
    fs.writeFileSync(path.join(shardDir, 'config.json'), JSON.stringify(config));

    const run = async (u: UNet2DConditionModel) => {
      const out = await arr(await u.forward(inputs.sample, inputs.timestep, inputs.encoder_hidden_states));
      u.dispose();
      return relErr(out, ref);
    };
    expect(await run(await UNet2DConditionModel.fromPretrained(dir))).toBeLessThan(1e-4);
    expect(await run(await UNet2DConditionModel.fromPretrained(root))).toBeLessThan(1e-4);
    expect(await run(await UNet2DConditionModel.fromPretrained(shardDir))).toBeLessThan(1e-4);
    // Half-precision weights: float16 rounding of every parameter (about 1e-3 relative).
    expect(await run(await UNet2DConditionModel.fromPretrained(root, { variant: 'fp16' }))).toBeLessThan(2e-2);
    await expect(UNet2DConditionModel.fromPretrained(root, { variant: 'bf16' })).rejects.toThrow(/no diffusion_pytorch_model\.bf16\.safetensors/);
  });

  it('corrupt or mismatched weight files reject with a clear error', async () => {
    const good = fs.readFileSync(path.join(fixture, 'unet.safetensors'));
    const headerLen = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + headerLen).toString());
    const data = good.subarray(8 + headerLen);
    const load = (file: string) => UNet2DConditionModel.fromPretrained(file, { config });
    const cases: [string, () => void, RegExp][] = [
      ['truncated.safetensors', () => fs.writeFileSync(path.join(tmp, 'truncated.safetensors'), good.subarray(0, good.length - 1000)), /truncated|too short|beyond|end of/i],
      ['badheader.safetensors', () => writeRaw(path.join(tmp, 'badheader.safetensors'), '{"conv_in.weight": [', data), /JSON|header/i],
      ['hugeheader.safetensors', () => writeRaw(path.join(tmp, 'hugeheader.safetensors'), header, data, 1n << 40n), /header/i],
      ['dtype.safetensors', () => {
        const h2 = structuredClone(header);
        h2['conv_in.weight'].dtype = 'F33';
        writeRaw(path.join(tmp, 'dtype.safetensors'), h2, data);
      }, /F33/],
      ['offsets.safetensors', () => {
        const h2 = structuredClone(header);
        h2['conv_out.bias'].data_offsets = [data.length, data.length + 16];
        writeRaw(path.join(tmp, 'offsets.safetensors'), h2, data);
      }, /conv_out\.bias/],
      ['shape.safetensors', () => {
        const h2 = structuredClone(header);
        h2['conv_in.weight'].shape = [32, 72, 1, 1];
        writeRaw(path.join(tmp, 'shape.safetensors'), h2, data);
      }, /wrong shape.*conv_in\.weight.*\[32, 72, 1, 1\]/s],
      ['missing.safetensors', () => {
        const h2 = structuredClone(header);
        delete h2['mid_block.attentions.0.proj_out.bias'];
        h2['mid_block.attentions.0.proj_out.biass'] = header['mid_block.attentions.0.proj_out.bias'];
        writeRaw(path.join(tmp, 'missing.safetensors'), h2, data);
      }, /missing \(1\): mid_block\.attentions\.0\.proj_out\.bias[\s\S]*unexpected \(1\): mid_block\.attentions\.0\.proj_out\.biass/],
    ];
    for (const [file, make, re] of cases) {
      make();
      await expect(load(path.join(tmp, file)), file).rejects.toThrow(re);
    }
    await expect(UNet2DConditionModel.fromPretrained(path.join(tmp, 'nothing-here'))).rejects.toThrow(/does not exist/);
    await expect(UNet2DConditionModel.fromPretrained(path.join(fixture, 'unet.safetensors'))).rejects.toThrow(/no config\.json/);
    await expect(UNet2DConditionModel.fromPretrained(path.join(fixture, 'unet.safetensors'), { config: { ...config, in_chanels: 3 } }))
      .rejects.toThrow(/unknown config key "in_chanels"/);
    await expect(UNet2DConditionModel.fromPretrained(path.join(fixture, 'unet.safetensors'), { config, dtype: 'float16' as 'float32' }))
      .rejects.toThrow(/dtype 'float16' computes on CUDA only/);
  });

  it('widens a 4-channel UNet to 8 input channels', async () => {
    const weights = await loadSafetensors(path.join(fixture, 'unet.safetensors'));
    const w8 = await arr(weights['conv_in.weight']); // [32, 8, 3, 3]: keep channels 0..3 as a "4-channel" file
    const w4 = new Float32Array(32 * 4 * 9);
    for (let o = 0; o < 32; o++) w4.set(w8.subarray(o * 72, o * 72 + 36), o * 36);
    const dir = path.join(tmp, 'sd4');
    fs.mkdirSync(dir);
    await saveSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), { ...weights, 'conv_in.weight': tensor(w4, [32, 4, 3, 3]) });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, in_channels: 4 }));
    await expect(UNet2DConditionModel.fromPretrained(dir, { inChannels: 2 })).rejects.toThrow(/inChannels/);
    const unet = await UNet2DConditionModel.fromPretrained(dir, { inChannels: 8 });
    expect(unet.config.in_channels).toBe(8);
    const wide = await arr(unet.parameters().get('conv_in.weight')!);
    for (let o = 0; o < 32; o++) {
      expect(wide.subarray(o * 72, o * 72 + 36)).toEqual(w4.subarray(o * 36, o * 36 + 36));
      expect(wide.subarray(o * 72 + 36, o * 72 + 72).every((v) => v === 0)).toBe(true);
    }
    unet.dispose();
  });
});

describe('UNet2DConditionModel API', () => {
  const tiny = {
    in_channels: 4, out_channels: 4, block_out_channels: [8, 16], layers_per_block: 1, norm_num_groups: 4,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    cross_attention_dim: 12, attention_head_dim: 2,
  };

  it('validates calls and names the problem', async () => {
    const unet = await UNet2DConditionModel.fromConfig(tiny, { seed: 1 });
    const x = randn([2, 4, 8, 8]), e = randn([2, 5, 12]);
    await expect(unet.forward(randn([2, 3, 8, 8]), 10, e)).rejects.toThrow(/sample must be \[batch, 4, height, width\]/);
    await expect(unet.forward(x, [1, 2, 3], e)).rejects.toThrow(/timesteps must have one value per sample/);
    await expect(unet.forward(x, 10, randn([2, 5, 7]))).rejects.toThrow(/encoderHiddenStates must be \[2, tokens, 12\]/);
    await expect(unet.forward(x, 10, e, { checkpoint: true })).rejects.toThrow(/checkpoint needs train/);
    await expect(unet.forward(x, 10, e, { trian: true } as object)).rejects.toThrow(/unknown option/i);
    await expect(unet.forward(x, 10, 'text' as unknown as Tensor)).rejects.toThrow(/encoderHiddenStates must be a Tensor/);
    await expect(unet.backward(randn([2, 4, 8, 8]))).rejects.toThrow(/call forward with train: true first/);
    expect(() => unet.gradients()).toThrow(/no gradients yet/);
    const out = await unet.forward(x, [3, 900], e, { train: true });
    await expect(unet.backward(randn([2, 4, 8, 9]))).rejects.toThrow(/gradOut must have the output's shape \[2, 4, 8, 8\]/);
    const g = await unet.backward(out);
    expect(g.sample.shape).toEqual([2, 4, 8, 8]);
    expect(g.encoderHiddenStates.shape).toEqual([2, 5, 12]);
    await expect(unet.backward(out)).rejects.toThrow(/call forward with train: true first/);
    const st = unet.memoryStats();
    expect(st.savedBytes).toBeGreaterThan(0);
    expect(st.forwardPeakBytes).toBeGreaterThan(0);
    unet.dispose();
    unet.dispose();
    await expect(unet.forward(x, 10, e)).rejects.toThrow(/disposed/);
    await expect(UNet2DConditionModel.fromConfig({ ...tiny, act_fn: 'gelu' })).rejects.toThrow(/act_fn/);
  });

  it('device option: a clear error for an absent or unknown device, the same numbers on cuda', async () => {
    await expect(UNet2DConditionModel.fromConfig(tiny, { device: 'gpu' as 'cuda' })).rejects.toThrow(/unknown device 'gpu'/);
    await expect(UNet2DConditionModel.fromConfig(tiny, { dtype: 'float16' })).rejects.toThrow(/computes on CUDA only/);
    await expect(UNet2DConditionModel.fromConfig(tiny, { dtype: 'int8' as 'float16', device: 'cuda' })).rejects.toThrow(/dtype must be 'float32', 'float16' or 'bfloat16'/);
    if (!backends().cuda) {
      await expect(UNet2DConditionModel.fromConfig(tiny, { device: 'cuda' })).rejects.toThrow(/cuda.*not available/);
      return;
    }
    const cpu = await UNet2DConditionModel.fromConfig(tiny, { seed: 3 });
    const gpu = await UNet2DConditionModel.fromConfig(tiny, { seed: 3, device: 'cuda' });
    const x = randn([2, 4, 8, 8], { seed: 1 }), e = randn([2, 5, 12], { seed: 2 });
    const y0 = (await cpu.forward(x, 10, e)).toArraySync() as Float32Array;
    const y1 = (await gpu.forward(x.to('cuda'), 10, e.to('cuda'))).toArraySync() as Float32Array;
    expect(relErr(y1, y0)).toBeLessThan(1e-5);
    await expect(gpu.forward(x, 10, e.to('cuda'))).rejects.toThrow(/sample is on cpu but the model is on cuda:0/);
    // Half compute: float32 in and out, within half-precision rounding of the float32 model.
    for (const [dtype, tol] of [['float16', 1e-2], ['bfloat16', 3e-2]] as const) {
      const half = await UNet2DConditionModel.fromConfig(tiny, { seed: 3, device: 'cuda', dtype });
      const yh = await half.forward(x.to('cuda'), 10, e.to('cuda'));
      expect(yh.dtype).toBe('float32');
      expect(relErr(yh.toArraySync() as Float32Array, y0), dtype).toBeLessThan(tol);
      half.dispose();
    }
  });

  it('graph (CUDA graph replay) is validated and refused on the CPU with a message naming CUDA', async () => {
    const unet = await UNet2DConditionModel.fromConfig(tiny, { seed: 1 });
    const x = randn([1, 4, 8, 8], { seed: 1 }), e = randn([1, 3, 12], { seed: 2 });
    await expect(unet.forward(x, 10, e, { graph: true })).rejects.toThrow(/graph \(CUDA graph replay\) runs on CUDA only; this model is on cpu/);
    await expect(unet.forward(x, 10, e, { graph: 1 as unknown as boolean })).rejects.toThrow(/graph must be a boolean, got number/);
    await expect(unet.forward(x, 10, e, { graph: true, train: true })).rejects.toThrow(/graph .*is for inference: train must be false/);
    // graph: false is the ordinary pass, byte for byte.
    const a = (await unet.forward(x, 10, e)).toArraySync() as Float32Array;
    const b = (await unet.forward(x, 10, e, { graph: false })).toArraySync() as Float32Array;
    const buf = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
    expect(Buffer.compare(buf(a), buf(b))).toBe(0);
    unet.clearGraphs(); // nothing to drop on the CPU; not an error
    const st = unet.memoryStats();
    expect(st.graphCaptures).toBe(0);
    expect(st.graphReplays).toBe(0);
    expect(st.graphError).toBe('');
    unet.dispose();
    expect(() => unet.clearGraphs()).toThrow(/disposed/);
    // The Editor's option: a boolean, and CUDA only (checked before anything is loaded).
    await expect(Editor.fromPretrained(path.join(tmp, 'no-such-model'), { cudaGraph: true })).rejects.toThrow(/cudaGraph replays the UNet on CUDA only; the device is cpu/);
    await expect(Editor.fromPretrained(path.join(tmp, 'no-such-model'), { cudaGraph: 'on' as unknown as boolean })).rejects.toThrow(/cudaGraph must be a boolean/);
  });

  it('accumulates gradients when asked', async () => {
    const unet = await UNet2DConditionModel.fromConfig(tiny, { seed: 2 });
    const x = randn([1, 4, 8, 8]), e = randn([1, 3, 12]), R = randn([1, 4, 8, 8]);
    await unet.forward(x, 500, e, { train: true });
    await unet.backward(R);
    const once = await arr(unet.flatGradients());
    await unet.forward(x, 500, e, { train: true });
    await unet.backward(R, { accumulate: true });
    const twice = await arr(unet.flatGradients());
    expect(relErr(twice, once.map((v) => 2 * v))).toBeLessThan(1e-6);
    unet.dispose();
  });

  it('runs off the JS thread and can be cancelled', async () => {
    const unet = await UNet2DConditionModel.fromConfig({ ...tiny, block_out_channels: [32, 64], norm_num_groups: 8 }, { seed: 3 });
    const x = randn([2, 4, 48, 48]), e = randn([2, 77, 12]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await unet.forward(x, 10, e);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0); // the event loop kept running during the pass

    const ac = new AbortController();
    const p = unet.forward(x, 10, e, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    const pre = new AbortController();
    pre.abort();
    await expect(unet.forward(x, 10, e, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // The model still works afterwards.
    expect((await unet.forward(x, 10, e)).shape).toEqual([2, 4, 48, 48]);
    unet.dispose();
  });
});
