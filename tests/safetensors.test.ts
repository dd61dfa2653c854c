// Safetensors I/O through the public API: the reference fixtures (checked against the raw bytes
// parsed here in JS), round trips, atomic saves, corrupt files and a large off-thread load.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor, tensor, randn, loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../src';

const shared = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', 'shared');
const unetDir = path.join(shared, 'parity', 'unet_tiny2');
const haveFixtures = fs.existsSync(unetDir);

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-st-js-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** An independent reader: header length, JSON header, and one tensor's raw bytes. */
function parseRaw(file: string): { header: Record<string, any>; data: Buffer } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

function bytesOf(t: Tensor): Promise<Buffer> {
  return t.toBuffer();
}

describe.skipIf(!haveFixtures)('safetensors: reference fixtures', () => {
  it('loads the tiny UNet: 208 tensors with the manifest names and shapes', async () => {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(shared, 'parity', 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'),
    );
    const expected = manifest.fixtures.unet_tiny2.files['unet.safetensors'].tensors as Record<string, { shape: number[] }>;
    const w = await loadSafetensors(path.join(unetDir, 'unet.safetensors'));
    expect(Object.keys(w)).toHaveLength(208);
    expect(Object.keys(w).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, { shape }] of Object.entries(expected)) {
      expect(w[name].shape, name).toEqual(shape);
      expect(w[name].dtype).toBe('float32');
    }
    // Values against the bytes parsed here, for a few tensors spread over the data section.
    const raw = parseRaw(path.join(unetDir, 'unet.safetensors'));
    for (const name of ['conv_in.weight', 'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight', 'conv_out.bias']) {
      const [b, e] = raw.header[name].data_offsets as [number, number];
      const want = new Float32Array(raw.data.buffer.slice(raw.data.byteOffset + b, raw.data.byteOffset + e));
      expect(await w[name].toArray(), name).toEqual(want);
    }
    for (const t of Object.values(w)) t.dispose();
  });

  it('loads I64 timesteps as int32 and reads headers without data', async () => {
    const file = path.join(unetDir, 'inputs.safetensors');
    const header = await readSafetensorsHeader(file);
    expect(header.tensors.timestep).toEqual({ dtype: 'int64', shape: [2] });
    expect(header.tensors.sample).toEqual({ dtype: 'float32', shape: [2, 8, 16, 16] });
    expect(header.metadata).toEqual({});
    const { timestep, sample } = await loadSafetensors(file, { names: ['timestep', 'sample'] });
    expect(timestep.dtype).toBe('int32');
    expect(Array.from(await timestep.toArray())).toEqual([10, 500]);
    const raw = parseRaw(file);
    const [b] = raw.header.sample.data_offsets;
    expect((await sample.toArray())[5]).toBe(raw.data.readFloatLE(b + 5 * 4));
    // float16 on request: the same values rounded
    const { sample: s16 } = await loadSafetensors(file, { names: ['sample'], dtype: 'float16' });
    expect(s16.dtype).toBe('float16');
    expect(await s16.toArray()).toEqual(await sample.to('float16').toArray());
  });
});

describe('safetensors: save and load', () => {
  it('round-trips float32, float16, bfloat16 and int32 with metadata', async () => {
    const src = {
      'w.f32': randn([3, 4, 5], { seed: 1 }),
      'w.f16': randn([7], { seed: 2, dtype: 'float16' }),
      'w.bf16': randn([2, 3], { seed: 3, dtype: 'bfloat16' }),
      ids: tensor(new Int32Array([49406, -1, 2147483647])),
      scalar: tensor([4.5], []),
    };
    const file = path.join(tmp, 'round.safetensors');
    await saveSafetensors(file, src, { metadata: { format: 'pt', note: 'é "quoted"' } });

    const header = await readSafetensorsHeader(file);
    expect(Object.keys(header.tensors)).toEqual(['ids', 'scalar', 'w.bf16', 'w.f16', 'w.f32']);
    expect(header.tensors['w.f16']).toEqual({ dtype: 'float16', shape: [7] });
    expect(header.tensors['w.bf16'].dtype).toBe('bfloat16');
    expect(header.tensors.ids.dtype).toBe('int32');
    expect(header.metadata).toEqual({ format: 'pt', note: 'é "quoted"' });
    // As the reference writer lays it out: 8-byte aligned header, tensors in name order.
    const raw = parseRaw(file);
    expect((fs.statSync(file).size - raw.data.length) % 8).toBe(0);
    expect(raw.header['ids'].data_offsets).toEqual([0, 12]);

    const f32 = await loadSafetensors(file, { names: ['w.f32', 'ids', 'scalar'] });
    const f16 = await loadSafetensors(file, { names: ['w.f16'], dtype: 'float16' });
    const bf16 = await loadSafetensors(file, { names: ['w.bf16'], dtype: 'bfloat16' });
    const back = { ...f32, ...f16, ...bf16 };
    for (const [name, t] of Object.entries(src)) {
      expect(back[name].dtype, name).toBe(t.dtype);
      expect(back[name].shape, name).toEqual(t.shape);
      expect(await bytesOf(back[name]), name).toEqual(await bytesOf(t));
    }
    // float16 stored, float32 requested: widened exactly
    const { 'w.f16': wide } = await loadSafetensors(file, { names: ['w.f16'] });
    expect(wide.dtype).toBe('float32');
    expect(await wide.toArray()).toEqual(await src['w.f16'].toArray());
  });

  it('waits for queued work on the tensors before writing', async () => {
    const x = randn([256, 256], { seed: 9 });
    const y = x.to('float16').to('float32'); // queued, not yet run when save starts
    const file = path.join(tmp, 'queued.safetensors');
    await saveSafetensors(file, { y });
    const { y: back } = await loadSafetensors(file);
    expect(await back.toArray()).toEqual(await y.toArray());
  });

  it('saves atomically: a failed save leaves the target untouched and no temp files', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'model.safetensors');
    await saveSafetensors(file, { a: tensor([1, 2, 3]) });
    const before = fs.readFileSync(file);

    const gone = tensor([1]);
    gone.dispose();
    await expect(saveSafetensors(file, { a: tensor([9]), gone })).rejects.toThrow(/saveSafetensors: tensors\['gone'\] has been disposed/);
    await expect(saveSafetensors(path.join(dir, 'missing', 'm.safetensors'), { a: tensor([1]) })).rejects.toThrow(
      /the directory does not exist/,
    );
    await expect(saveSafetensors(dir, { a: tensor([1]) })).rejects.toThrow(/cannot save/);
    await expect(saveSafetensors(file, { a: tensor([1]) }, { metadata: { n: 1 as unknown as string } })).rejects.toThrow(
      /metadata\['n'\] must be a string/,
    );
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('validates options and names', async () => {
    const file = path.join(tmp, 'opts.safetensors');
    await saveSafetensors(file, { 'unet.conv_in.weight': tensor([1, 2]) });
    await expect(loadSafetensors(file, { dtyp: 'float16' } as never)).rejects.toThrow(/unknown option 'dtyp'/);
    await expect(loadSafetensors(file, { dtype: 'int32' as never })).rejects.toThrow(/integer tensors always load as int32/);
    await expect(loadSafetensors(file, { device: 'gpu' as never })).rejects.toThrow(/unknown device 'gpu'/);
    await expect(loadSafetensors(file, { names: ['conv_in.weight'] })).rejects.toThrow(
      /no tensor named 'conv_in.weight'.*closest name is 'unet.conv_in.weight'|no tensor named 'conv_in.weight'/,
    );
    await expect(loadSafetensors(file, { names: ['a', 'a'] })).rejects.toThrow(/lists 'a' twice/);
    await expect(saveSafetensors(file, {}, { meta: {} } as never)).rejects.toThrow(/unknown option 'meta'/);
    await expect(loadSafetensors('' as string)).rejects.toThrow(/path must be a non-empty string/);
  });
});

describe('safetensors: corrupt files', () => {
  const write = (name: string, bytes: Buffer): string => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const withHeader = (header: string, dataBytes: number): Buffer => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
    return Buffer.concat([len, Buffer.from(header), Buffer.alloc(dataBytes)]);
  };

  it('rejects each with an error naming the file and the problem', async () => {
    const cases: [string, Buffer, RegExp][] = [
      ['empty.safetensors', Buffer.alloc(0), /empty\.safetensors: file is empty/],
      ['short.safetensors', Buffer.from([1, 2, 3]), /too short/],
      ['html.safetensors', Buffer.from('<!DOCTYPE html><html>not a checkpoint</html>'), /header length \d+ exceeds/],
      ['json.safetensors', withHeader('{"a": }', 0), /header is not valid JSON: unexpected character '}'/],
      ['dtype.safetensors', withHeader('{"a":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[0,1]}}', 1), /tensor 'a' has dtype 'F8_E5M2', which instructedit cannot read/],
      ['size.safetensors', withHeader('{"a":{"dtype":"F32","shape":[32,8,3,3],"data_offsets":[0,100]}}', 100), /tensor 'a' has data_offsets \[0, 100\] \(100 bytes\) but float32\[32, 8, 3, 3\] needs 9216 bytes/],
    ];
    for (const [name, bytes, want] of cases) {
      await expect(loadSafetensors(write(name, bytes)), name).rejects.toThrow(want);
      await expect(readSafetensorsHeader(path.join(tmp, name)), name).rejects.toThrow(want);
    }
    await expect(loadSafetensors(path.join(tmp, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors: no such file/);
  });

  it.skipIf(!haveFixtures)('rejects a truncated copy of a real checkpoint', async () => {
    const full = fs.readFileSync(path.join(unetDir, 'unet.safetensors'));
    const p = write('cut.safetensors', full.subarray(0, full.length - 1000));
    await expect(loadSafetensors(p)).rejects.toThrow(/file is truncated or its offsets are wrong: .*\(the file is 3198536 bytes; its header needs at least 3199536\)/);
  });

  it('loads a sharded checkpoint through its index', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'shards-'));
    await saveSafetensors(path.join(dir, 'm-1.safetensors'), { a: tensor([1, 2]) });
    await saveSafetensors(path.join(dir, 'm-2.safetensors'), { b: tensor([3]) });
    const index = path.join(dir, 'm.safetensors.index.json');
    fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: 12 }, weight_map: { a: 'm-1.safetensors', b: 'm-2.safetensors' } }));
    const { a, b } = await loadSafetensors(index);
    expect(Array.from(await a.toArray())).toEqual([1, 2]);
    expect(Array.from(await b.toArray())).toEqual([3]);
    expect((await readSafetensorsHeader(index)).metadata).toEqual({ total_size: '12' });
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 'm-1.safetensors', c: 'm-3.safetensors' } }));
    await expect(loadSafetensors(index)).rejects.toThrow(/cannot open shard 'm-3\.safetensors'/);
  });
});

describe('safetensors: large files', () => {
  it('keeps the event loop running while a 200 MB file loads', async () => {
    const n = 50 * 1024 * 1024; // float32 elements: 200 MiB
    const header = JSON.stringify({ big: { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const file = path.join(tmp, 'big.safetensors');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, Buffer.concat([len, Buffer.from(header)]));
    const data = Buffer.alloc(n * 4);
    data.writeFloatLE(1.5, 0);
    data.writeFloatLE(-2, data.length - 4);
    fs.writeSync(fd, data);
    fs.closeSync(fd);

    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 2);
    const t0 = performance.now();
    const pending = loadSafetensors(file, { dtype: 'float16' }); // conversion work, not just a copy
    const callMs = performance.now() - t0;
    const { big } = await pending;
    clearInterval(timer);
    const v = await big.toArray();
    expect(big.dtype).toBe('float16');
    expect(v[0]).toBe(1.5);
    expect(v[n - 1]).toBe(-2);
    expect(callMs).toBeLessThan(50); // returns at once: the work is on a worker thread
    expect(ticks).toBeGreaterThan(2); // timers fired while the file loaded
    expect(maxGap).toBeLessThan(500);
    big.dispose();
    fs.rmSync(file);
  });
});
