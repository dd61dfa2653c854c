// Safetensors checkpoints: load, inspect and save named tensors. The file work runs off the JS
// thread; every function returns a promise, and argument errors reject it before any file is
// touched. Corrupt files reject with an Error naming the file, the tensor and the problem.
import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { DType, Device } from '../types';
import { checkDevice, checkOptions } from '../validate';
import { h } from '../ops/wrap';

/** Element types a safetensors file can hold (as `readSafetensorsHeader` reports them). */
export type SafetensorsDType =
  | 'float64'
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export interface LoadSafetensorsOptions {
  /**
   * dtype of the floating-point tensors (float64/32/16 and bfloat16 on disk): 'float32'
   * (default), 'float16' or 'bfloat16'. Integer and bool tensors always load as int32 (token ids,
   * timesteps); a value outside the int32 range rejects.
   */
  dtype?: Exclude<DType, 'int32'>;
  /** Device of the loaded tensors (default 'cpu'). */
  device?: Device;
  /** Load only these tensors (default: all). A name the file lacks rejects, naming the closest one. */
  names?: readonly string[];
}

export interface SafetensorsHeader {
  /** Every tensor's stored dtype and shape, by name (sorted by name). */
  tensors: Record<string, { dtype: SafetensorsDType; shape: number[] }>;
  /** The file's "__metadata__" (an index's "metadata", numbers as text); {} when absent. */
  metadata: Record<string, string>;
}

export interface SaveSafetensorsOptions {
  /** String metadata stored in the header ("__metadata__"), e.g. { format: 'pt' }. */
  metadata?: Record<string, string>;
}

const FLOAT_DTYPES = ['float32', 'float16', 'bfloat16'];

/** A record from parallel arrays; defineProperty so that any name (even "__proto__") is a plain key. */
function record<T>(keys: readonly string[], values: readonly T[]): Record<string, T> {
  const out: Record<string, T> = {};
  keys.forEach((k, i) => Object.defineProperty(out, k, { value: values[i], enumerable: true, writable: true, configurable: true }));
  return out;
}

function checkPath(path: unknown, op: string): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`${op}: path must be a non-empty string, got ${path === '' ? "''" : typeof path}`);
  }
  if (path.includes('\0')) throw new TypeError(`${op}: path must not contain NUL characters`);
  return path;
}

/**
 * Loads tensors from a .safetensors file, or from a sharded checkpoint's
 * "*.safetensors.index.json" (its weight_map's files are read as one set of tensors).
 *
 * The file is memory-mapped and each tensor converted straight into native memory on a worker
 * thread; the event loop keeps running. Resolves to `{ name: Tensor }` (new tensors; dispose
 * them, or load inside a `scope`).
 *
 * ```ts
 * const w = await loadSafetensors('unet/diffusion_pytorch_model.safetensors', { dtype: 'float16' });
 * ```
 */
export async function loadSafetensors(path: string, options: LoadSafetensorsOptions = {}): Promise<Record<string, Tensor>> {
  const op = 'loadSafetensors';
  checkPath(path, op);
  checkOptions(options, ['dtype', 'device', 'names'], op);
  const dtype = options.dtype ?? 'float32';
  if (!FLOAT_DTYPES.includes(dtype)) {
    throw new TypeError(
      `${op}: dtype must be 'float32', 'float16' or 'bfloat16', got '${String(dtype)}' ` +
        `(it applies to floating-point tensors; integer tensors always load as int32)`,
    );
  }
  const device = checkDevice(options.device ?? 'cpu', op);
  let names: string[] | null = null;
  if (options.names !== undefined) {
    if (!Array.isArray(options.names)) throw new TypeError(`${op}: names must be an array of strings`);
    const seen = new Set<string>();
    for (const n of options.names) {
      if (typeof n !== 'string') throw new TypeError(`${op}: names must hold strings, got ${typeof n}`);
      if (seen.has(n)) throw new TypeError(`${op}: names lists '${n}' twice`);
      seen.add(n);
    }
    names = options.names.slice();
  }
  const res = (await native.loadSafetensors(path, dtype, device, names)) as { names: string[]; tensors: NativeTensor[] };
  return record(res.names, res.tensors.map((t) => new Tensor(t)));
}

/**
 * Reads a safetensors header (or a sharded index and its files' headers) without loading data:
 * every tensor's stored dtype and shape, and the metadata. Validates the file like a load does.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  checkPath(path, 'readSafetensorsHeader');
  const res = (await native.readSafetensorsHeader(path)) as {
    names: string[];
    dtypes: SafetensorsDType[];
    shapes: number[][];
    metadataKeys: string[];
    metadataValues: string[];
  };
  return {
    tensors: record(res.names, res.names.map((_, i) => ({ dtype: res.dtypes[i], shape: res.shapes[i] }))),
    metadata: record(res.metadataKeys, res.metadataValues),
  };
}

/**
 * Saves named tensors to a safetensors file (float32, float16, bfloat16 and int32 are stored as
 * F32, F16, BF16 and I32), readable by the reference libraries. Waits for queued work on the
 * tensors, then writes on a worker thread.
 *
 * Atomic: the data goes to a temporary file next to `path`, which is flushed to disk (fsync) and
 * renamed over `path`; if anything fails, `path` is left as it was and the temporary is removed.
 * Tensors are written in sorted name order with an 8-byte aligned header, as the reference writer
 * does.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  options: SaveSafetensorsOptions = {},
): Promise<void> {
  const op = 'saveSafetensors';
  checkPath(path, op);
  checkOptions(options, ['metadata'], op);
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || tensors instanceof Tensor) {
    throw new TypeError(`${op}: tensors must be an object { name: Tensor }`);
  }
  const names = Object.keys(tensors);
  const handles = names.map((n) => h(tensors[n], op, `tensors['${n}']`));
  if (names.includes('__metadata__')) throw new TypeError(`${op}: '__metadata__' is reserved and cannot name a tensor`);
  const metadata = options.metadata ?? {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TypeError(`${op}: metadata must be an object of strings`);
  }
  const keys = Object.keys(metadata);
  for (const k of keys) {
    if (typeof metadata[k] !== 'string') {
      throw new TypeError(`${op}: metadata['${k}'] must be a string, got ${typeof metadata[k]} (safetensors metadata is string to string)`);
    }
  }
  await native.saveSafetensors(path, names, handles, keys, keys.map((k) => metadata[k]));
}
