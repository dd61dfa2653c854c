// Tensor: a shape, a dtype and a device over native memory. Ops enqueue work on the device's
// stream and return at once; reading data back (`await t.toArray()`) waits for it.
import { native, NativeTensor } from './native';
import { track } from './scope';
import { DType, Device, DTYPES, Shape, TensorData } from './types';
import { checkShape, checkDType, checkDevice, checkOptions } from './validate';

export class Tensor {
  /** @internal */
  private h: NativeTensor | null;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;

  /** @internal Use the creation functions (tensor, zeros, randn, …) or ops. */
  constructor(handle: NativeTensor) {
    this.h = handle;
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype as DType;
    this.device = handle.device as Device;
    track(this);
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this.h === null;
  }

  /** @internal The native handle; throws if disposed. */
  get handle(): NativeTensor {
    if (this.h === null) throw new Error(`Tensor ${this.describe()} has been disposed`);
    return this.h;
  }

  /** Frees the native memory now (pending work that uses it still completes). Idempotent. */
  dispose(): void {
    if (this.h !== null) {
      this.h.dispose();
      this.h = null;
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * The values, after all queued work on this tensor finished: Float32Array for float types
   * (float16/bfloat16 are widened), Int32Array for int32.
   */
  async toArray(): Promise<Float32Array | Int32Array> {
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      const f = this.to('float32');
      try {
        return new Float32Array(await f.handle.toArrayBuffer());
      } finally {
        f.dispose();
      }
    }
    const buf = await this.handle.toArrayBuffer();
    return this.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }

  /** Like toArray, but blocks the JS thread until the data is ready. For tests and small tensors. */
  toArraySync(): Float32Array | Int32Array {
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      const f = this.to('float32');
      try {
        return new Float32Array(f.handle.toArrayBufferSync());
      } finally {
        f.dispose();
      }
    }
    const buf = this.handle.toArrayBufferSync();
    return this.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }

  /** The raw bytes in this tensor's dtype (float16/bfloat16 as 16-bit words). */
  async toBuffer(): Promise<Buffer> {
    return Buffer.from(await this.handle.toArrayBuffer());
  }

  /** A view with another shape (same data; -1 infers one dimension). */
  reshape(shape: Shape): Tensor {
    const n = this.size;
    const s = shape.slice();
    const infer = s.indexOf(-1);
    if (infer >= 0 && s.indexOf(-1, infer + 1) < 0) {
      const rest = s.reduce((a, b, i) => (i === infer ? a : a * b), 1);
      if (rest > 0 && n % rest === 0) s[infer] = n / rest;
    }
    checkShape(s, 'reshape');
    return new Tensor(this.handle.reshape(s));
  }

  /** Converts to another dtype or moves to another device (a new tensor; the same one if nothing changes). */
  to(target: DType | Device): Tensor {
    if ((DTYPES as readonly string[]).includes(target)) {
      return new Tensor(native.cast(this.handle, target));
    }
    checkDevice(target, 'to');
    return new Tensor(native.toDevice(this.handle, target));
  }

  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }

  /** "float32[2, 3] on cpu" */
  describe(): string {
    return `${this.dtype}[${this.shape.join(', ')}] on ${this.device}`;
  }
  toString(): string {
    return `Tensor(${this.describe()}${this.disposed ? ', disposed' : ''})`;
  }
}

export interface CreateOptions {
  /** Element type (default float32, or int32 for an Int32Array). */
  dtype?: DType;
  /** Device (default 'cpu'). */
  device?: Device;
}

function inferShape(data: TensorData): number[] {
  return [data.length];
}

/**
 * A tensor from data (copied). `data` is a Float32Array (float32), Int32Array (int32), Uint16Array
 * (raw float16/bfloat16 words) or a plain number array (converted to the dtype).
 */
export function tensor(data: TensorData, shape?: Shape, options: CreateOptions = {}): Tensor {
  checkOptions(options, ['dtype', 'device'], 'tensor');
  const dtype: DType = options.dtype ?? (data instanceof Int32Array ? 'int32' : data instanceof Uint16Array ? 'float16' : 'float32');
  checkDType(dtype, 'tensor');
  const device = options.device ?? 'cpu';
  checkDevice(device, 'tensor');
  const s = shape ? shape.slice() : inferShape(data);
  checkShape(s, 'tensor');
  let view: ArrayBufferView;
  if (Array.isArray(data)) {
    if (dtype === 'float32') view = Float32Array.from(data);
    else if (dtype === 'int32') view = Int32Array.from(data);
    else {
      // plain numbers for a 16-bit type: build float32, then convert natively
      const f = tensor(Float32Array.from(data), s, { device: 'cpu' });
      try {
        const c = f.to(dtype);
        if (device === 'cpu') return c;
        try {
          return c.to(device);
        } finally {
          c.dispose();
        }
      } finally {
        f.dispose();
      }
    }
  } else {
    const want = dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint16Array;
    if (!(data instanceof want)) {
      throw new TypeError(`tensor: a ${dtype} tensor needs a ${want.name} (or a number array), got ${data?.constructor?.name ?? typeof data}`);
    }
    view = data;
  }
  const n = s.reduce((a, b) => a * b, 1);
  const len = (view as Float32Array).length;
  if (len !== n) {
    throw new RangeError(`tensor: data has ${len} elements but shape [${s.join(', ')}] needs ${n}`);
  }
  return new Tensor(native.fromBuffer(view, s, dtype, device));
}

/** A tensor filled with `value`. */
export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkOptions(options, ['dtype', 'device'], 'full');
  return new Tensor(native.full(checkShape(shape, 'full'), value, options.dtype ?? 'float32', options.device ?? 'cpu'));
}
export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}
export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export interface RandomOptions extends CreateOptions {
  /**
   * Seed of the counter-based stream (Philox4x32-10). Element i depends only on (seed, offset + i):
   * the same numbers on any thread count and any device. Default: the global generator
   * (see manualSeed), which advances its offset with every draw.
   */
  seed?: number;
  /** Position in the stream of element 0 (default 0 with an explicit seed). */
  offset?: number;
}

let globalSeed = 0x1234abcd;
let globalOffset = 0;

/** Reseeds the global generator used by randn/rand calls without a seed. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
  globalSeed = seed;
  globalOffset = 0;
}

function streamPosition(options: RandomOptions, n: number, op: string): [number, number] {
  for (const k of ['seed', 'offset'] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw new RangeError(`${op}: ${k} must be a non-negative safe integer, got ${v}`);
    }
  }
  if (options.seed !== undefined) return [options.seed, options.offset ?? 0];
  const pos: [number, number] = [globalSeed, options.offset ?? globalOffset];
  globalOffset += n + (n % 2); // normals come in pairs: keep draws independent
  return pos;
}

/** Normal samples: mean + std · N(0, 1). */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkOptions(options, ['dtype', 'device', 'seed', 'offset', 'mean', 'std'], 'randn');
  const s = checkShape(shape, 'randn');
  const [seed, offset] = streamPosition(options, s.reduce((a, b) => a * b, 1), 'randn');
  return new Tensor(
    native.randn(s, seed, offset, options.mean ?? 0, options.std ?? 1, options.dtype ?? 'float32', options.device ?? 'cpu'),
  );
}

/** Uniform samples in [low, high) (default [0, 1)). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  checkOptions(options, ['dtype', 'device', 'seed', 'offset', 'low', 'high'], 'rand');
  const s = checkShape(shape, 'rand');
  const [seed, offset] = streamPosition(options, s.reduce((a, b) => a * b, 1), 'rand');
  return new Tensor(native.rand(s, seed, offset, options.low ?? 0, options.high ?? 1, options.dtype ?? 'float32', options.device ?? 'cpu'));
}
