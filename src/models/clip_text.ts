// CLIPTextModel: the Stable Diffusion / InstructPix2Pix text encoder, loaded from transformers'
// folder layout and run by the native model. Loading uses a worker thread and the forward runs on
// the device stream; both return promises.
import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import type { TokenIds } from '../text/clip_tokenizer';
import { checkDevice, checkOptions, integer } from '../validate';
import type { Device } from '../types';
import { h } from '../ops/wrap';
import { checkLoadOptions, namedViews, ParamLayout, readConfig, resolvePretrained, withSignal } from './common';

/** A transformers CLIPTextConfig (config.json), as parsed by the model. */
export type CLIPTextConfig = Readonly<Record<string, unknown>>;

/**
 * openai/clip-vit-large-patch14's text tower: the text encoder of SD 1.x and InstructPix2Pix
 * (123,060,480 parameters). `CLIPTextModel.fromConfig(CLIP_VIT_L14_TEXT_CONFIG)` builds a random one.
 */
export const CLIP_VIT_L14_TEXT_CONFIG: CLIPTextConfig = Object.freeze({
  model_type: 'clip_text_model',
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  bos_token_id: 0,
  eos_token_id: 2,
  pad_token_id: 1,
  projection_dim: 768,
});

export interface CLIPTextFromPretrainedOptions {
  /** Compute dtype. Only 'float32' for now: float16/bfloat16 weights are converted on load. */
  dtype?: 'float32';
  /** Device: 'cpu' (default) or 'cuda[:N]' (needs a build with CUDA and a GPU; see backends()). */
  device?: Device;
  /** The config, when `path` is a weights file with no config.json beside it (overrides the file's). */
  config?: Record<string, unknown>;
  /** Weights variant: 'fp16' reads model.fp16.safetensors (converted to float32). */
  variant?: string;
}

export interface CLIPTextFromConfigOptions {
  /** Seed of the random initialisation (weights N(0, 1/fan_in), embeddings N(0, 0.2²), norm scales 1 + 0.1·N, biases 0.05·N). */
  seed?: number;
  /** Device: 'cpu' (default) or 'cuda[:N]'. */
  device?: Device;
}

export interface CLIPTextForwardOptions {
  /** Also return the embeddings and every layer's output (before the final LayerNorm). */
  outputHiddenStates?: boolean;
  /** Cancels the pass (checked between layers); the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Keep what backward() needs (default false). Each training forward allows one backward. */
  train?: boolean;
}

export interface CLIPTextOutput {
  /** [batch, length, hidden] after the final LayerNorm: the UNet's encoderHiddenStates. */
  lastHiddenState: Tensor;
  /** [batch, hidden]: the row at the eos position (argmax of the ids for SD1.x's legacy config). */
  pooledOutput: Tensor;
  /** With outputHiddenStates: num_hidden_layers + 1 tensors [batch, length, hidden]. */
  hiddenStates?: Tensor[];
}

interface NativeCLIPText {
  config(): string;
  numParams(): number;
  params(): NativeTensor;
  paramInfo(): ParamLayout;
  forward(ids: Int32Array, batch: number, length: number, hiddenStates: boolean, cancel?: unknown, train?: boolean): Promise<{
    lastHiddenState: NativeTensor;
    pooledOutput: NativeTensor;
    hiddenStates?: NativeTensor[];
  }>;
  backward(dy: NativeTensor, accumulate: boolean): Promise<void>;
  grads(): NativeTensor | undefined;
  hasSaved(): boolean;
  dispose(): void;
}


/** Token ids in any accepted form -> a row-major Int32Array and [batch, length]. */
async function idsOf(ids: Tensor | TokenIds | Int32Array | readonly (readonly number[])[], op: string): Promise<{ data: Int32Array; batch: number; length: number }> {
  if (ids instanceof Tensor) {
    if (ids.disposed) throw new Error(`${op}: ids has been disposed`);
    if (ids.dtype !== 'int32' || ids.ndim !== 2) throw new TypeError(`${op}: an ids tensor must be int32 [batch, length], got ${ids.describe()}`);
    return { data: (await ids.toArray()) as Int32Array, batch: ids.shape[0], length: ids.shape[1] };
  }
  if (ids instanceof Int32Array) return { data: ids, batch: 1, length: ids.length };
  if (Array.isArray(ids)) {
    const length = ids.length > 0 && Array.isArray(ids[0]) ? ids[0].length : -1;
    if (length < 0 || ids.some((r) => !Array.isArray(r) || r.length !== length)) {
      throw new TypeError(`${op}: an ids array must be a non-empty list of equally long rows of integers`);
    }
    const data = new Int32Array(ids.length * length);
    ids.forEach((r: readonly number[], b: number) => r.forEach((v, i) => {
      if (!Number.isInteger(v)) throw new TypeError(`${op}: ids[${b}][${i}] = ${String(v)} is not an integer`);
      data[b * length + i] = v;
    }));
    return { data, batch: ids.length, length };
  }
  if (typeof ids === 'object' && ids !== null && (ids as TokenIds).ids instanceof Int32Array && Array.isArray((ids as TokenIds).shape)) {
    const t = ids as TokenIds;
    const [batch, length] = t.shape;
    if (t.shape.length !== 2 || !Number.isSafeInteger(batch) || !Number.isSafeInteger(length) || batch * length !== t.ids.length) {
      throw new TypeError(`${op}: ids.shape [${t.shape.join(', ')}] does not match ids.ids (${t.ids.length} values)`);
    }
    return { data: t.ids, batch, length };
  }
  throw new TypeError(`${op}: ids must be an int32 Tensor [batch, length], a tokenizer's encodeBatch() result, an Int32Array or an array of rows`);
}

/** The CLIP text encoder (transformers' CLIPTextModel): forward, and backward for fine-tuning it. */
export class CLIPTextModel {
  /** The model's configuration (transformers keys). */
  readonly config: CLIPTextConfig;
  #m: NativeCLIPText | null;

  private constructor(m: NativeCLIPText) {
    this.#m = m;
    this.config = Object.freeze(JSON.parse(m.config()) as Record<string, unknown>);
  }

  /**
   * Loads a transformers CLIPTextModel: a folder with config.json and model.safetensors (or a sharded
   * model.safetensors.index.json), a pipeline folder (its text_encoder/ is used), or a weights file
   * (config.json beside it, or `options.config`). float16/bfloat16 weights are converted to float32;
   * the `position_ids` buffer older checkpoints store is ignored. Mismatched weights reject with one
   * error listing them.
   *
   * ```ts
   * const textEncoder = await CLIPTextModel.fromPretrained('instruct-pix2pix');
   * ```
   */
  static async fromPretrained(p: string, options: CLIPTextFromPretrainedOptions = {}): Promise<CLIPTextModel> {
    const op = 'CLIPTextModel.fromPretrained';
    if (typeof p !== 'string' || p === '') throw new TypeError(`${op}: path must be a non-empty string`);
    checkOptions(options, ['dtype', 'device', 'config', 'variant'], op);
    checkLoadOptions(op, options);
    const files = resolvePretrained(op, p, 'text_encoder', 'model', options.variant, 'pytorch_model');
    const { text, source } = readConfig(op, files, options.config);
    const { weights } = files;
    return new CLIPTextModel((await native.clipTextLoad(text, source, weights, 0, options.device ?? 'cpu')) as NativeCLIPText);
  }

  /** A randomly initialised model of `config` (tests, benchmarks), e.g. CLIP_VIT_L14_TEXT_CONFIG. */
  static async fromConfig(config: Record<string, unknown>, options: CLIPTextFromConfigOptions = {}): Promise<CLIPTextModel> {
    const op = 'CLIPTextModel.fromConfig';
    if (typeof config !== 'object' || config === null) throw new TypeError(`${op}: config must be an object`);
    checkOptions(options, ['seed', 'device'], op);
    if (options.device !== undefined) checkDevice(options.device, op);
    const seed = options.seed === undefined ? 0 : integer(options.seed, op, 'seed', 0);
    return new CLIPTextModel((await native.clipTextLoad(JSON.stringify(config), 'config', null, seed, options.device ?? 'cpu')) as NativeCLIPText);
  }

  #native(what: string): NativeCLIPText {
    if (!this.#m) throw new Error(`CLIPTextModel.${what}: the model has been disposed`);
    return this.#m;
  }

  /** Number of parameters (elements). */
  get numParameters(): number {
    return this.#native('numParameters').numParams();
  }

  /** Every parameter by its transformers name: float32 views into the flat parameter buffer. */
  parameters(): Map<string, Tensor> {
    const m = this.#native('parameters');
    return namedViews(m.params(), m.paramInfo());
  }

  /**
   * Encodes token ids [batch, length] (length <= max_position_embeddings, no attention mask: padding
   * attends causally like the SD pipelines do). `ids`: an int32 Tensor, `tokenizer.encodeBatch(...)`,
   * an Int32Array (one sequence) or an array of rows. Ids outside the vocabulary reject before any
   * work is queued.
   */
  async forward(ids: Tensor | TokenIds | Int32Array | readonly (readonly number[])[], options: CLIPTextForwardOptions = {}): Promise<CLIPTextOutput> {
    const op = 'CLIPTextModel.forward';
    checkOptions(options, ['outputHiddenStates', 'signal', 'train'], op);
    if (options.train !== undefined && typeof options.train !== 'boolean') throw new TypeError(`${op}: train must be a boolean`);
    if (options.outputHiddenStates !== undefined && typeof options.outputHiddenStates !== 'boolean') {
      throw new TypeError(`${op}: outputHiddenStates must be a boolean`);
    }
    const m = this.#native('forward');
    const { data, batch, length } = await idsOf(ids, op);
    const r = await withSignal('CLIPTextModel', options.signal, (token) =>
      m.forward(data, batch, length, options.outputHiddenStates === true, token, options.train === true));
    const out: CLIPTextOutput = { lastHiddenState: new Tensor(r.lastHiddenState), pooledOutput: new Tensor(r.pooledOutput) };
    if (r.hiddenStates) out.hiddenStates = r.hiddenStates.map((t) => new Tensor(t));
    return out;
  }

  /** Views by parameter name into any flat float32 buffer with this model's layout (e.g. an EMA copy). */
  viewsOf(flat: Tensor): Map<string, Tensor> {
    const op = 'CLIPTextModel.viewsOf';
    const m = this.#native('viewsOf');
    const n = this.flatParameters().shape[0];
    if (!(flat instanceof Tensor) || flat.dtype !== 'float32' || flat.shape.length !== 1 || flat.shape[0] !== n) {
      throw new TypeError(`${op}: expected a float32 tensor [${n}] with the parameters' layout`);
    }
    return namedViews(h(flat, op, 'flat'), m.paramInfo());
  }

  /** All parameters as one flat float32 tensor (the layout of parameters() and flatGradients()). */
  flatParameters(): Tensor {
    return new Tensor(this.#native('flatParameters').params());
  }

  /**
   * Backpropagates d loss / d lastHiddenState ([batch, length, hidden], float32) through the last
   * `train: true` forward; the parameter gradients land in flatGradients() / gradients() (added to
   * them with `accumulate`). The token embedding's gradient is non-zero only in the rows of the ids
   * that forward saw; pooledOutput has no gradient path. Frees the forward's activations.
   */
  async backward(gradLastHiddenState: Tensor, options: { accumulate?: boolean } = {}): Promise<void> {
    const op = 'CLIPTextModel.backward';
    checkOptions(options, ['accumulate'], op);
    await this.#native('backward').backward(h(gradLastHiddenState, op, 'gradLastHiddenState'), options.accumulate === true);
  }

  /** Whether a `train: true` forward is waiting for its backward. */
  get hasSavedActivations(): boolean {
    return this.#native('hasSavedActivations').hasSaved();
  }

  /** The flat gradient buffer of the last backward (same layout as flatParameters()). */
  flatGradients(): Tensor {
    const g = this.#native('flatGradients').grads();
    if (!g) throw new Error('CLIPTextModel.flatGradients: no gradients yet (run forward with { train: true } and backward first)');
    return new Tensor(g);
  }

  /** Gradients of the last backward by parameter name (views into the flat gradient buffer). */
  gradients(): Map<string, Tensor> {
    const m = this.#native('gradients');
    const g = m.grads();
    if (!g) throw new Error('CLIPTextModel.gradients: no gradients yet (run forward with { train: true } and backward first)');
    return namedViews(g, m.paramInfo());
  }

  /** Frees the parameters (once queued passes have finished). Idempotent. */
  dispose(): void {
    this.#m?.dispose();
    this.#m = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
