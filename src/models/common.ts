// What the model classes share: locating diffusers-format weights and configs on disk, validating
// the common loading options, and running a native pass with an AbortSignal.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkDevice } from '../validate';

export interface PretrainedFiles {
  configPath: string;
  weights: string;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds config.json and the weights for fromPretrained's path: a model folder, a pipeline folder
 * (its `subfolder`/ is used), or a weights file. Weights: `<stem>[.<variant>].safetensors` or the
 * sharded `<stem>[.<variant>].safetensors.index.json`; a `<binStem>.bin` there gets a hint to convert it.
 */
export function resolvePretrained(op: string, input: string, subfolder: string, stem: string, variant: string | undefined,
  binStem = stem): PretrainedFiles {
  if (!existsSync(input)) throw new Error(`${op}: ${input} does not exist`);
  let dir = input;
  let weights: string | undefined;
  if (isDir(input)) {
    if (!existsSync(path.join(input, 'config.json')) && isDir(path.join(input, subfolder))) dir = path.join(input, subfolder);
    const s = variant ? `${stem}.${variant}` : stem;
    const candidates = [`${s}.safetensors`, `${s}.safetensors.index.json`];
    weights = candidates.map((c) => path.join(dir, c)).find((c) => existsSync(c));
    if (!weights) {
      // The pickled checkpoint the library also writes (transformers: pytorch_model.bin).
      const b = variant ? `${binStem}.${variant}` : binStem;
      const bin = existsSync(path.join(dir, `${b}.bin`)) || existsSync(path.join(dir, `${b}.bin.index.json`));
      throw new Error(
        `${op}: no ${candidates.join(' or ')} in ${dir}` +
          (bin ? ' (found a PyTorch .bin checkpoint: convert it to safetensors; pickled .bin files are not read)' : ''),
      );
    }
  } else {
    weights = input;
    dir = path.dirname(input);
  }
  return { configPath: path.join(dir, 'config.json'), weights };
}

/** Checks the loading options every model shares (dtype, device, variant). */
export function checkLoadOptions(op: string, options: { dtype?: unknown; device?: unknown; variant?: unknown }): void {
  if (options.dtype !== undefined && options.dtype !== 'float32') {
    throw new Error(`${op}: dtype '${String(options.dtype)}' is not supported yet (compute is float32; half-precision weights are converted on load)`);
  }
  if (options.device !== undefined) checkDevice(options.device, op);
  if (options.variant !== undefined && (typeof options.variant !== 'string' || !/^[\w-]+$/.test(options.variant))) {
    throw new TypeError(`${op}: variant must be a name such as 'fp16'`);
  }
}

/** The config text: `config` when given, else config.json beside the weights. */
export function readConfig(op: string, files: PretrainedFiles, config: unknown): { text: string; source: string } {
  if (config !== undefined) {
    if (typeof config !== 'object' || config === null) throw new TypeError(`${op}: config must be an object`);
    return { text: JSON.stringify(config), source: 'options.config' };
  }
  if (existsSync(files.configPath)) return { text: readFileSync(files.configPath, 'utf8'), source: files.configPath };
  throw new Error(`${op}: no config.json next to ${files.weights}; pass options.config`);
}

function abortError(model: string): Error {
  const e = new Error(`${model}: cancelled`);
  e.name = 'AbortError';
  return e;
}

/**
 * Runs `start(token)` (a native pass that takes a NativeCancelToken) so that aborting `signal`
 * cancels it: the promise then rejects with an AbortError.
 */
export async function withSignal<T>(model: string, signal: AbortSignal | undefined, start: (token: unknown) => Promise<T>): Promise<T> {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${model}: signal must be an AbortSignal`);
  if (signal?.aborted) throw abortError(model);
  const Token = native.NativeCancelToken as unknown as new () => { cancel(): void };
  const token = signal ? new Token() : undefined;
  const onAbort = () => token?.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(token);
  } catch (e) {
    if (signal?.aborted) throw abortError(model);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Where each parameter lies in a model's flat buffer. */
export interface ParamLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
}

/** Views by parameter name into a flat buffer with `layout` (shared storage, no copies). */
export function namedViews(flat: NativeTensor, layout: ParamLayout): Map<string, Tensor> {
  const f = flat as NativeTensor & { view(offset: number, shape: number[]): NativeTensor };
  const out = new Map<string, Tensor>();
  layout.names.forEach((n, i) => out.set(n, new Tensor(f.view(layout.offsets[i], layout.shapes[i]))));
  return out;
}
