// The Tensor facade: creation, read-back, dtypes, random streams, disposal and scopes.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native';
import { Tensor, tensor, zeros, ones, full, randn, rand, manualSeed, scope, keep, backends, getNumThreads, setNumThreads } from '../src';

describe('Tensor', () => {
  it('round-trips float32 and int32 data with shape, dtype and device', async () => {
    const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expect(t.size).toBe(6);
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    const i = tensor(new Int32Array([7, -8]), [2]);
    expect(i.dtype).toBe('int32');
    const v = await i.toArray();
    expect(v).toBeInstanceOf(Int32Array);
    expect(Array.from(v)).toEqual([7, -8]);
  });

  it('copies the source data at creation', async () => {
    const src = new Float32Array([1, 2]);
    const t = tensor(src);
    src[0] = 99;
    expect(Array.from(await t.toArray())).toEqual([1, 2]);
  });

  it('converts between float32, float16 and bfloat16 with round-to-nearest-even', async () => {
    const x = tensor([1, 1 + 1 / 2048, 1 + 3 / 2048, 65520, 0.1], [5]);
    expect(Array.from(await x.to('float16').toArray())).toEqual([1, 1, 1 + 4 / 2048, Infinity, Math.fround(0.0999755859375)]);
    const bf = await tensor([1, 1 + 1 / 256, 3.14159], [3]).to('bfloat16').toArray();
    expect(Array.from(bf)).toEqual([1, 1, 3.140625]);
    // raw 16-bit words in, float16 dtype
    const h = tensor(new Uint16Array([0x3c00, 0xc000]), [2], { dtype: 'float16' });
    expect(Array.from(await h.toArray())).toEqual([1, -2]);
  });

  it('zeros, ones, full, reshape with -1', async () => {
    expect(Array.from(await zeros([2, 2]).toArray())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ones([3], { dtype: 'int32' }).toArray())).toEqual([1, 1, 1]);
    const f = full([2, 3], 2.5);
    const r = f.reshape([3, -1]);
    expect(r.shape).toEqual([3, 2]);
    expect(Array.from(await r.toArray())).toEqual([2.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
    expect(() => f.reshape([4, 2])).toThrow(/reshape/);
  });

  it('randn/rand: same seed same numbers on any thread count; offset selects a window', async () => {
    const before = getNumThreads();
    try {
      setNumThreads(1);
      const a = await randn([1001], { seed: 7 }).toArray();
      setNumThreads(3);
      const b = await randn([1001], { seed: 7 }).toArray();
      const c = await randn([1001 - 5], { seed: 7, offset: 5 }).toArray();
      expect(b).toEqual(a);
      expect(Array.from(c)).toEqual(Array.from(a.slice(5)));
      const d = await randn([1001], { seed: 8 }).toArray();
      expect(d).not.toEqual(a);
      const u = await rand([1000], { seed: 3, low: -1, high: 2 }).toArray();
      expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...u)).toBeLessThan(2);
    } finally {
      setNumThreads(before);
    }
  });

  it('global generator: manualSeed makes a sequence of draws repeatable', async () => {
    manualSeed(123);
    const a1 = await randn([5]).toArray();
    const a2 = await randn([5]).toArray();
    manualSeed(123);
    expect(await randn([5]).toArray()).toEqual(a1);
    expect(await randn([5]).toArray()).toEqual(a2);
    expect(a1).not.toEqual(a2);
  });

  it('randn moments look like N(mean, std²)', async () => {
    const v = await randn([200000], { seed: 1, mean: 3, std: 2 }).toArray();
    let s = 0, s2 = 0;
    for (const x of v) { s += x; s2 += x * x; }
    const m = s / v.length, varr = s2 / v.length - m * m;
    expect(Math.abs(m - 3)).toBeLessThan(0.02);
    expect(Math.abs(varr - 4)).toBeLessThan(0.05);
  });

  it('dispose frees the handle; using it afterwards is a clear error; dispose is idempotent', () => {
    const t = ones([4]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toArraySync()).toThrow(/disposed/);
    expect(() => t.reshape([2, 2])).toThrow(/disposed/);
    {
      using u = zeros([2]);
      expect(u.disposed).toBe(false);
    }
  });

  it('scope disposes temporaries, keeps returned and kept tensors (sync and async)', async () => {
    let tmp!: Tensor, kept!: Tensor;
    const out = scope(() => {
      tmp = zeros([2]);
      kept = keep(ones([2]));
      return { result: [full([1], 3)] };
    });
    expect(tmp.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(out.result[0].disposed).toBe(false);

    let tmp2!: Tensor;
    const r = await scope(async () => {
      tmp2 = zeros([2]);
      await new Promise((res) => setTimeout(res, 1));
      return ones([1]);
    });
    expect(tmp2.disposed).toBe(true);
    expect(r.disposed).toBe(false);
    // a throwing scope still cleans up
    let tmp3!: Tensor;
    expect(() => scope(() => { tmp3 = zeros([1]); throw new Error('boom'); })).toThrow('boom');
    expect(tmp3.disposed).toBe(true);
  });

  it('reports its backends', () => {
    const b = backends();
    expect(b.cpu).toBe(true);
    expect(['generic', 'avx2', 'avx512']).toContain(b.cpuPath);
    expect(typeof b.cudaBuilt).toBe('boolean');
    if (!b.cudaBuilt) expect(b.cuda).toBe(false);
  });

  it('cuda tensors: a clear error when no device is usable', () => {
    if (backends().cuda) return; // covered by the GPU suite
    expect(() => zeros([2], { device: 'cuda' })).toThrow(/cuda/);
  });
});

describe('host memory', () => {
  it('reports tensor memory, reuses freed blocks and can empty its cache', async () => {
    const { memoryStats, emptyCache, synchronize } = await import('../src');
    synchronize();
    const before = memoryStats().inUse;
    const t = zeros([1 << 20]); // 4 MiB
    synchronize();
    expect(memoryStats().inUse - before).toBeGreaterThanOrEqual(4 << 20);
    t.dispose();
    synchronize();
    expect(memoryStats().inUse).toBe(before);
    expect(memoryStats().cached).toBeGreaterThanOrEqual(4 << 20);
    emptyCache();
    expect(memoryStats().cached).toBe(0);
  });
});

describe('native memory and the garbage collector', () => {
  it('reports tensor bytes to V8 as external memory while a handle holds them', () => {
    // V8's own counter, as napi_adjust_external_memory reports it (process.memoryUsage() does not
    // include it in Node 20).
    const external = (): number => native.externalMemory();
    const before = external();
    const t = zeros([16 << 20]); // 64 MiB
    const view = t.reshape([4 << 20, 4]); // shares the storage: not counted twice
    const during = external();
    t.dispose();
    const stillHeld = external();
    view.dispose();
    const after = external();
    expect(during - stillHeld).toBe(0);
    expect(during - before).toBeLessThan(2 * (64 << 20));
    expect(during - before).toBeGreaterThanOrEqual(64 << 20);
    expect(during - after).toBeGreaterThanOrEqual(64 << 20);
  });

  it('frees tensors that were never disposed once they are garbage collected (finalizers)', async () => {
    const { execFileSync } = await import('node:child_process');
    const path = await import('node:path');
    const script = `
      const ie = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
      (function leak() { for (let i = 0; i < 8; i++) ie.zeros([4 << 20]); })(); // 8 x 16 MiB, dropped
      ie.synchronize();
      const held = ie.memoryStats().inUse;
      setTimeout(() => {
        global.gc(); global.gc();
        setTimeout(() => {
          ie.synchronize();
          console.log(JSON.stringify({ held, after: ie.memoryStats().inUse }));
        }, 50);
      }, 10);`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
    expect(out.held).toBeGreaterThanOrEqual(8 * (16 << 20));
    expect(out.after).toBeLessThan(16 << 20);
  });
});
