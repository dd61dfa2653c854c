// Bad calls throw clear errors naming the op and the problem, before any work is queued — and no
// call from JS, however wrong, crashes the process.
import { describe, expect, it } from 'vitest';
import { ops, randn, tensor, zeros, ones, full, rand, setNumThreads, setCpuPath } from '../src';
import { native } from '../src/native';

const x4 = () => randn([2, 3, 8, 8], { seed: 1 });

describe('argument validation', () => {
  const cases: [string, () => unknown, RegExp][] = [
    // rank
    ['conv2d x rank', () => ops.conv2d(randn([3, 8, 8]), randn([4, 3, 3, 3])), /conv2d: x must be 4-D \[batch, channels, height, width\], got float32\[3, 8, 8\]/],
    ['conv2d weight rank', () => ops.conv2d(x4(), randn([4, 3, 3])), /conv2d: weight must be 4-D/],
    ['attention q rank', () => ops.attention(randn([4, 16]), randn([1, 4, 16]), randn([1, 4, 16]), { heads: 2 }), /attention: q must be 3-D/],
    ['linear weight rank', () => ops.linear(randn([2, 4]), randn([4])), /linear: weight must be 2-D/],
    // mismatched shapes
    ['conv2d channels', () => ops.conv2d(x4(), randn([4, 5, 3, 3])), /conv2d: x has 3 channels but weight \[4, 5, 3, 3\] expects 5/],
    ['conv2d bias', () => ops.conv2d(x4(), randn([4, 3, 3, 3]), randn([5])), /conv2d: bias must have shape \[4\], got float32\[5\]/],
    ['matmul inner', () => ops.matmul(randn([2, 3]), randn([4, 5])), /matmul: inner dimensions differ/],
    ['matmul batch', () => ops.matmul(randn([2, 2, 3]), randn([3, 3, 5])), /matmul: batch sizes differ/],
    ['linear features', () => ops.linear(randn([2, 4]), randn([3, 5])), /linear: x has 4 features .* expects 5/],
    ['groupNorm groups', () => ops.groupNorm(x4(), 2), /groupNorm: groups \(2\) must divide the channel count \(3\)/],
    ['groupNorm weight', () => ops.groupNorm(x4(), 3, { weight: randn([4]) }), /groupNorm: weight must have shape \[3\]/],
    ['layerNorm weight', () => ops.layerNorm(randn([2, 5]), { weight: randn([4]) }), /layerNorm: weight must have shape \[5\]/],
    ['attention heads', () => ops.attention(randn([1, 4, 10]), randn([1, 4, 10]), randn([1, 4, 10]), { heads: 3 }), /attention: q's channel count 10 is not divisible by heads \(3\)/],
    ['attention k/v length', () => ops.attention(randn([1, 4, 8]), randn([1, 5, 8]), randn([1, 6, 8]), { heads: 2 }), /attention: k and v must have the same length/],
    ['attention causal', () => ops.attention(randn([1, 4, 8]), randn([1, 5, 8]), randn([1, 5, 8]), { heads: 2, causal: true }), /causal attention needs as many queries as keys/],
    ['binary broadcast', () => ops.add(randn([2, 3]), randn([4, 3])), /add: shapes \[2, 3\] and \[4, 3\] cannot be broadcast together/],
    ['geglu odd', () => ops.geglu(randn([2, 5])), /geglu: the last dimension of x must be even/],
    ['concat shapes', () => ops.concat([randn([2, 3]), randn([3, 3])], 1), /concat: tensor 1 has shape \[3, 3\] but tensor 0 has \[2, 3\]; they may differ only along axis 1/],
    ['split sizes', () => ops.split(randn([2, 5]), [2, 2], 1), /split: sizes add up to 4 but axis 1/],
    ['mse shapes', () => ops.mseLoss(randn([2, 3]), randn([3, 2])), /mseLoss: pred \[2, 3\] and target \[3, 2\] must have the same shape/],
    ['backward dy shape', () => ops.conv2dBackward(randn([2, 4, 7, 7]), x4(), randn([4, 3, 3, 3]), { padding: 1 }), /conv2dBackward: dy must have shape \[2, 4, 8, 8\]/],
    ['groupNormBackward stats', () => ops.groupNormBackward(x4(), x4(), 3, { mean: randn([2, 2]), rstd: randn([2, 3]) }), /groupNormBackward: mean must have shape \[2, 3\]/],
    ['reduce axis', () => ops.sum(randn([2, 3]), { axes: 2 }), /sum: axis 2 is out of range for a 2-D tensor/],
    ['reduce repeated axis', () => ops.sum(randn([2, 3]), { axes: [1, -1] }), /sum: axis -1 is repeated/],
    ['conv kernel larger than input', () => ops.conv2d(randn([1, 1, 2, 2]), randn([1, 1, 5, 5])), /kernel 5x5 is larger than the padded input 2x2/],
    // dtype / device
    ['dtype', () => ops.conv2d(x4().to('float16'), randn([4, 3, 3, 3])), /conv2d: x must be float32, got float16\[2, 3, 8, 8\] on cpu \(convert with \.to\('float32'\)\)/],
    ['int32 into softmax', () => ops.softmax(tensor(new Int32Array([1, 2]))), /softmax: x must be float32, got int32/],
    ['unknown device', () => zeros([2], { device: 'tpu' as never }), /unknown device 'tpu'/],
    ['unknown dtype', () => zeros([2], { dtype: 'float64' as never }), /unknown dtype 'float64'/],
    // not tensors, disposed
    ['null tensor', () => ops.softmax(null as never), /softmax: x must be a Tensor, got null/],
    ['array as tensor', () => ops.linear([1, 2] as never, randn([2, 2])), /linear: x must be a Tensor, got an array/],
    ['disposed', () => { const t = randn([2, 2]); t.dispose(); return ops.softmax(t); }, /softmax: x has been disposed/],
    ['disposed in a list', () => { const t = randn([2, 2]); t.dispose(); return ops.concat([randn([2, 2]), t]); }, /concat: tensors\[1\] has been disposed/],
    // non-finite / out-of-range config values, unknown options
    ['eps NaN', () => ops.groupNorm(x4(), 3, { eps: NaN }), /groupNorm: eps must be a finite number, got NaN/],
    ['eps negative', () => ops.groupNorm(x4(), 3, { eps: -1 }), /groupNorm: eps must be > 0/],
    ['scale Infinity', () => ops.scale(randn([2]), Infinity), /scale: alpha must be a finite number, got Infinity/],
    ['attention scale', () => ops.attention(randn([1, 4, 8]), randn([1, 4, 8]), randn([1, 4, 8]), { heads: 2, scale: NaN }), /attention: scale must be a finite number/],
    ['stride 0', () => ops.conv2d(x4(), randn([4, 3, 3, 3]), null, { stride: 0 }), /conv2d: stride must be an integer >= 1, got 0/],
    ['padding fractional', () => ops.conv2d(x4(), randn([4, 3, 3, 3]), null, { padding: 0.5 }), /conv2d: padding must be an integer >= 0, got 0.5/],
    ['unknown option', () => ops.conv2d(x4(), randn([4, 3, 3, 3]), null, { strides: 2 } as never), /conv2d: unknown option 'strides' \(allowed: stride, padding\)/],
    ['heads missing', () => ops.attention(randn([1, 4, 8]), randn([1, 4, 8]), randn([1, 4, 8]), undefined as never), /attention: options with \{ heads \} are required/],
    ['activation kind', () => ops.activation('relu' as never, randn([2])), /unknown activation 'relu'/],
    ['upsample size and scale', () => ops.upsampleNearest(x4(), { scale: 2, size: [4, 4] }), /give either scale or size/],
    ['timestep dim', () => ops.timestepEmbedding(randn([2]), 1), /timestepEmbedding: dim must be an integer >= 2/],
    ['shape negative', () => zeros([2, -1]), /shape \[2, -1\] must hold non-negative integers/],
    ['shape huge', () => zeros([1 << 30, 1 << 30, 1 << 30]), /too large/],
    ['full NaN', () => full([2], NaN), /full: value must be a finite number/],
    ['rand range', () => rand([2], { low: 2, high: 1 }), /rand: low \(2\) must not exceed high \(1\)/],
    ['seed negative', () => randn([2], { seed: -1 }), /randn: seed must be a non-negative safe integer/],
    ['tensor data type', () => tensor(new Float64Array(2) as never), /tensor: a float32 tensor needs a Float32Array/],
    ['threads', () => setNumThreads(-2), /setNumThreads: threads must be in \[0, 1024\]/],
    ['cpu path', () => setCpuPath('sse9' as never), /setCpuPath: unknown path 'sse9'/],
  ];
  it.each(cases)('%s', (_name, call, message) => {
    expect(call).toThrow(message);
  });

  it('a failed call leaves no queued work behind and later calls still work', async () => {
    expect(() => ops.conv2d(x4(), randn([4, 5, 3, 3]))).toThrow();
    const y = ops.softmax(ones([1, 4]));
    expect(Array.from(await y.toArray())).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

describe('no call from JS crashes the process', () => {
  // Garbage for every argument position of every native function: each call must either throw a
  // JS error or return; a crash would kill this test file's process.
  const garbage: unknown[] = [undefined, null, 0, -1, 1.5, NaN, 1e300, 'x', true, {}, [], [1, -2], [[1]], () => 0, Symbol('s'), 10n];
  it('sweeps every native function with bad arguments', async () => {
    const t = randn([2, 3], { seed: 3 });
    const disposed = randn([2]);
    disposed.dispose();
    const pool = [...garbage, t.handle];
    let calls = 0;
    const settled: Promise<unknown>[] = []; // async functions (file I/O) must reject with an Error too
    for (const [name, fn] of Object.entries(native)) {
      if (typeof fn !== 'function' || name === 'NativeTensor' || name === 'sync') continue;
      for (let pos = 0; pos < 10; pos++) {
        for (const g of pool) {
          const args = Array.from({ length: 10 }, (_, i) => (i === pos ? g : t.handle));
          try {
            const r = (fn as (...a: unknown[]) => unknown)(...args);
            if (r instanceof Promise) settled.push(r.catch((e) => expect(e).toBeInstanceOf(Error)));
          } catch (e) {
            expect(e).toBeInstanceOf(Error);
            expect((e as Error).message.length).toBeGreaterThan(10);
          }
          calls++;
        }
      }
    }
    await Promise.all(settled);
    expect(calls).toBeGreaterThan(300);
  });

  it('the native tensor cannot be constructed from JS', () => {
    expect(() => new (native as any).NativeTensor()).toThrow(/cannot be constructed from JS/);
    expect(() => new (native as any).NativeTensor({})).toThrow(/cannot be constructed from JS/);
  });
});
