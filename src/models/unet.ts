// UNet2DConditionModel: the Stable Diffusion / InstructPix2Pix denoiser, loaded from diffusers'
// folder layout and run (forward and backward) by the native model. Model-sized work never runs on
// the JS thread: loading uses a worker thread, forward/backward run on the device stream, and every
// call returns a promise.
import { native, NativeTensor } from '../native';
import { Tensor, tensor } from '../tensor';
import { checkDevice, checkOptions, integer } from '../validate';
import type { Device } from '../types';
import { h } from '../ops/wrap';
import { namedViews } from './common';
import { checkLoadOptions, readConfig, resolvePretrained, withSignal } from './common';

/** A diffusers UNet2DConditionModel config (config.json), as parsed and normalised by the model. */
export type UNetConfig = Readonly<Record<string, unknown>>;

export interface UNetFromPretrainedOptions {
  /**
   * Compute dtype (default 'float32'). 'float16'/'bfloat16' run on CUDA only: the parameters stay
   * float32 (the master copy the optimizer updates) and the passes compute with a cast copy; inputs
   * and outputs stay float32. Weights of any float dtype are converted on load.
   */
  dtype?: ComputeDType;
  /** Device: 'cpu' (default) or 'cuda[:N]' (needs a build with CUDA and a GPU; see backends()). */
  device?: Device;
  /** The config, when `path` is a weights file with no config.json beside it (overrides the file's). */
  config?: Record<string, unknown>;
  /** Weights variant: 'fp16' reads diffusion_pytorch_model.fp16.safetensors (converted to float32). */
  variant?: string;
  /**
   * Widen conv_in to this many input channels (new channels zero, the stored ones kept): turns a
   * 4-channel text-to-image UNet (SD1.5) into an 8-channel InstructPix2Pix one for fine-tuning.
   */
  inChannels?: number;
}

export type ComputeDType = 'float32' | 'float16' | 'bfloat16';

/** Validates a UNet dtype option with its device: half compute needs a CUDA device. */
export function computeDtype(options: { dtype?: unknown; device?: unknown }, op: string): ComputeDType {
  const d = options.dtype ?? 'float32';
  if (d !== 'float32' && d !== 'float16' && d !== 'bfloat16') {
    throw new TypeError(`${op}: dtype must be 'float32', 'float16' or 'bfloat16', got '${String(d)}'`);
  }
  if (d !== 'float32' && !String(options.device ?? 'cpu').startsWith('cuda')) {
    throw new Error(`${op}: dtype '${d}' computes on CUDA only (pass device: 'cuda'); the CPU computes in float32`);
  }
  return d;
}

export interface UNetFromConfigOptions {
  /** Compute dtype (see UNetFromPretrainedOptions.dtype). */
  dtype?: ComputeDType;
  /** Seed of the random initialisation (weights N(0, 1/fan_in), norm scales 1 + 0.1·N, biases 0.05·N). */
  seed?: number;
  /** Device: 'cpu' (default) or 'cuda[:N]'. */
  device?: Device;
}

export interface UNetForwardOptions {
  /** Keep what backward needs (default false: an inference call keeps nothing). */
  train?: boolean;
  /** With train: keep only each block's input and recompute the rest during backward (less memory). */
  checkpoint?: boolean;
  /** Cancels the pass (checked between blocks); the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Replay the forward from a CUDA graph (default false; CUDA only, inference only: train must be
   * false). The first call for an input shape runs eagerly and captures a graph; later calls with
   * the same shapes replay it — one launch instead of ~1000, the same bytes as the eager pass.
   * Each graph keeps its buffers and about one forward's activation memory until clearGraphs()
   * or dispose(). A shape whose capture fails runs eagerly (memoryStats().graphError says why).
   */
  graph?: boolean;
}

export interface UNetBackwardOptions {
  /** Add the parameter gradients to the existing ones instead of overwriting them. */
  accumulate?: boolean;
}

export interface UNetInputGradients {
  /** d loss / d sample, [batch, in_channels, height, width]. */
  sample: Tensor;
  /** d loss / d encoderHiddenStates, [batch, tokens, cross_attention_dim]. */
  encoderHiddenStates: Tensor;
}

export interface UNetMemoryStats {
  /** Peak host memory of the last forward above what was in use when it started (bytes). */
  forwardPeakBytes: number;
  /** The same for the last backward. */
  backwardPeakBytes: number;
  /** Activations the last training forward kept for backward (bytes). */
  savedBytes: number;
  /** CUDA graphs captured by `graph: true` forwards so far. */
  graphCaptures: number;
  /** Forwards served by replaying a CUDA graph. */
  graphReplays: number;
  /** Why the last failed CUDA graph capture failed ('' when none did); that shape then runs eagerly. */
  graphError: string;
}

interface NativeUNet {
  config(): string;
  paramInfo(): { names: string[]; shapes: number[][]; offsets: number[] };
  params(): NativeTensor & { view(offset: number, shape: number[]): NativeTensor };
  grads(): (NativeTensor & { view(offset: number, shape: number[]): NativeTensor }) | undefined;
  forward(x: NativeTensor, t: NativeTensor, e: NativeTensor, train: boolean, ckpt: boolean, cancel?: unknown,
          graph?: boolean): Promise<NativeTensor>;
  backward(dy: NativeTensor, accumulate: boolean): Promise<{ sample: NativeTensor; encoderHiddenStates: NativeTensor }>;
  hasSaved(): boolean;
  stats(): UNetMemoryStats;
  clearGraphs(): void;
  dispose(): void;
}

/** The InstructPix2Pix / Stable Diffusion UNet (diffusers' UNet2DConditionModel), forward and backward. */
export class UNet2DConditionModel {
  /** The model's configuration (diffusers keys; per-block lists expanded). */
  readonly config: UNetConfig;
  #m: NativeUNet | null;
  #info: { names: string[]; shapes: number[][]; offsets: number[] };

  /** Where the parameters live and the passes run. */
  readonly device: Device;

  private constructor(m: NativeUNet, device: Device = 'cpu') {
    this.device = device === 'cuda' ? 'cuda:0' : device;
    this.#m = m;
    this.config = Object.freeze(JSON.parse(m.config()) as Record<string, unknown>);
    this.#info = m.paramInfo();
  }

  /**
   * Loads a diffusers UNet: a folder with config.json and diffusion_pytorch_model.safetensors (or
   * the sharded *.safetensors.index.json), a pipeline folder (its unet/ is used), or a weights file
   * (config.json beside it, or `options.config`). float16/bfloat16/float64 weights are converted to
   * float32. Missing, unexpected or wrongly shaped weights reject with one error listing them.
   *
   * ```ts
   * const unet = await UNet2DConditionModel.fromPretrained('instruct-pix2pix/unet');
   * ```
   */
  static async fromPretrained(p: string, options: UNetFromPretrainedOptions = {}): Promise<UNet2DConditionModel> {
    const op = 'UNet2DConditionModel.fromPretrained';
    if (typeof p !== 'string' || p === '') throw new TypeError(`${op}: path must be a non-empty string`);
    checkOptions(options, ['dtype', 'device', 'config', 'variant', 'inChannels'], op);
    const dtype = computeDtype(options, op);
    checkLoadOptions(op, { ...options, dtype: undefined });
    const inChannels = options.inChannels === undefined ? 0 : integer(options.inChannels, op, 'inChannels', 1);
    const files = resolvePretrained(op, p, 'unet', 'diffusion_pytorch_model', options.variant);
    const { text: configText, source } = readConfig(op, files, options.config);
    const weights = files.weights;
    const m = (await native.unetLoad(configText, source, weights, inChannels, 0, options.device ?? 'cpu', dtype)) as NativeUNet;
    return new UNet2DConditionModel(m, options.device);
  }

  /** A randomly initialised model of `config` (tests, benchmarks, training from scratch). */
  static async fromConfig(config: Record<string, unknown>, options: UNetFromConfigOptions = {}): Promise<UNet2DConditionModel> {
    const op = 'UNet2DConditionModel.fromConfig';
    if (typeof config !== 'object' || config === null) throw new TypeError(`${op}: config must be an object`);
    checkOptions(options, ['seed', 'device', 'dtype'], op);
    if (options.device !== undefined) checkDevice(options.device, op);
    const dtype = computeDtype(options, op);
    const seed = options.seed === undefined ? 0 : integer(options.seed, op, 'seed', 0);
    const m = (await native.unetLoad(JSON.stringify(config), 'config', null, 0, seed, options.device ?? 'cpu', dtype)) as NativeUNet;
    return new UNet2DConditionModel(m, options.device);
  }

  #native(what: string): NativeUNet {
    if (!this.#m) throw new Error(`UNet.${what}: the model has been disposed`);
    return this.#m;
  }

  /** Number of parameters (elements). */
  get numParameters(): number {
    return this.#info.shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
  }

  /** Every parameter by its diffusers name: float32 views into the flat parameter buffer. */
  parameters(): Map<string, Tensor> {
    return this.#views(this.#native('parameters').params(), 'parameters');
  }

  /** All parameters as one flat float32 tensor (with alignment padding between them; see parameterLayout). */
  flatParameters(): Tensor {
    return new Tensor(this.#native('flatParameters').params());
  }

  /** Gradients of the last backward by parameter name (views into the flat gradient buffer). */
  gradients(): Map<string, Tensor> {
    const g = this.#native('gradients').grads();
    if (!g) throw new Error('UNet.gradients: no gradients yet (run forward with { train: true } and backward first)');
    return this.#views(g, 'gradients');
  }

  /** The flat gradient buffer (same layout as flatParameters). */
  flatGradients(): Tensor {
    const g = this.#native('flatGradients').grads();
    if (!g) throw new Error('UNet.flatGradients: no gradients yet (run backward first)');
    return new Tensor(g);
  }

  /**
   * Views by parameter name into any flat float32 buffer with this model's layout (e.g. an EMA
   * copy or optimizer moments), as parameters() does for the model's own buffer.
   */
  viewsOf(flat: Tensor): Map<string, Tensor> {
    const op = 'UNet.viewsOf';
    const n = this.flatParameters().shape[0];
    if (!(flat instanceof Tensor) || flat.dtype !== 'float32' || flat.shape.length !== 1 || flat.shape[0] !== n) {
      throw new TypeError(`${op}: expected a float32 tensor [${n}] with the parameters' layout`);
    }
    return this.#views(h(flat, op, 'flat') as NativeTensor & { view(o: number, s: number[]): NativeTensor }, 'viewsOf');
  }

  /** Name, shape and element offset of each parameter in the flat buffers. */
  parameterLayout(): { name: string; shape: number[]; offset: number }[] {
    return this.#info.names.map((name, i) => ({ name, shape: this.#info.shapes[i].slice(), offset: this.#info.offsets[i] }));
  }

  #views(flat: NativeTensor, _what: string): Map<string, Tensor> {
    return namedViews(flat, this.#info);
  }

  /**
   * Predicts the noise: sample [B, in_channels, H, W], timesteps (one per sample, or one for all;
   * fractional values are fine), encoderHiddenStates [B, tokens, cross_attention_dim] ->
   * [B, out_channels, H, W]. Any H and W (the up path matches the skips' sizes), any batch, any
   * text length.
   */
  async forward(sample: Tensor, timesteps: Tensor | number | readonly number[], encoderHiddenStates: Tensor,
                options: UNetForwardOptions = {}): Promise<Tensor> {
    const op = 'UNet.forward';
    checkOptions(options, ['train', 'checkpoint', 'signal', 'graph'], op);
    const graph = options.graph ?? false;
    if (typeof graph !== 'boolean') throw new TypeError(`${op}: graph must be a boolean, got ${typeof graph}`);
    if (graph && options.train === true) {
      throw new Error(`${op}: graph (CUDA graph replay) is for inference: train must be false`);
    }
    if (graph && !this.device.startsWith('cuda')) {
      throw new Error(`${op}: graph (CUDA graph replay) runs on CUDA only; this model is on ${this.device} (leave graph off)`);
    }
    const m = this.#native('forward');
    let t: Tensor;
    let own = false;
    // Numbers become a float32 tensor on the sample's device (the model checks they match).
    const device = sample instanceof Tensor ? sample.device : 'cpu';
    if (typeof timesteps === 'number') {
      t = tensor([timesteps], [1], { device });
      own = true;
    } else if (Array.isArray(timesteps)) {
      t = tensor(timesteps as number[], [timesteps.length], { device });
      own = true;
    } else if (timesteps instanceof Tensor && timesteps.dtype !== 'float32') {
      t = timesteps.to('float32');
      own = true;
    } else {
      t = timesteps as Tensor;
    }
    try {
      const out = await withSignal('UNet', options.signal, (token) =>
        m.forward(h(sample, op, 'sample'), h(t, op, 'timesteps'), h(encoderHiddenStates, op, 'encoderHiddenStates'),
          options.train === true, options.checkpoint === true, token, graph ? true : undefined));
      return new Tensor(out);
    } finally {
      if (own) t.dispose();
    }
  }

  /**
   * Backpropagates `gradOut` (d loss / d output, the output's shape) through the last training
   * forward: resolves to the input gradients; parameter gradients land in gradients(). Frees the
   * activations the forward kept.
   */
  async backward(gradOut: Tensor, options: UNetBackwardOptions = {}): Promise<UNetInputGradients> {
    const op = 'UNet.backward';
    checkOptions(options, ['accumulate'], op);
    const g = await this.#native('backward').backward(h(gradOut, op, 'gradOut'), options.accumulate === true);
    return { sample: new Tensor(g.sample), encoderHiddenStates: new Tensor(g.encoderHiddenStates) };
  }

  /** Peak memory of the last passes and the size of the saved activations (after they have run). */
  memoryStats(): UNetMemoryStats {
    return this.#native('memoryStats').stats();
  }

  /**
   * Drops the CUDA graphs `graph: true` forwards captured, and the memory they keep (after passes
   * already queued). A later `graph: true` forward captures again.
   */
  clearGraphs(): void {
    this.#native('clearGraphs').clearGraphs();
  }

  /** Frees the parameters and gradients (once queued passes have finished). Idempotent. */
  dispose(): void {
    this.#m?.dispose();
    this.#m = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
