// AutoencoderKL: the Stable Diffusion VAE (image <-> latents), loaded from diffusers' folder layout
// and run by the native model. Loading uses a worker thread and encode/decode run on the device
// stream; every call returns a promise. Large images are processed in blended tiles.
import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkDevice, checkOptions, finiteNumber, integer } from '../validate';
import type { Device } from '../types';
import { h } from '../ops/wrap';
import { checkLoadOptions, namedViews, ParamLayout, readConfig, resolvePretrained, withSignal } from './common';

/** A diffusers AutoencoderKL config as parsed by the model (diffusers keys), plus `scalingFactor`. */
export type AutoencoderKLConfig = Readonly<Record<string, unknown>> & { readonly scalingFactor: number };

/**
 * The Stable Diffusion 1.x / InstructPix2Pix VAE config (diffusers' vae/config.json; 83,653,863
 * parameters): `AutoencoderKL.fromConfig(SD_VAE_CONFIG)` builds an SD-sized random VAE.
 */
export const SD_VAE_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  act_fn: 'silu',
  latent_channels: 4,
  norm_num_groups: 32,
  sample_size: 256,
  scaling_factor: 0.18215,
  shift_factor: null,
  latents_mean: null,
  latents_std: null,
  force_upcast: true,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
});

export interface AutoencoderKLFromPretrainedOptions {
  /** Compute dtype; only 'float32' (float16/bfloat16 weights are converted on load). */
  dtype?: 'float32';
  /** Device: 'cpu' (default) or 'cuda[:N]' (needs a build with CUDA and a GPU; see backends()). */
  device?: Device;
  /** The config, when `path` is a weights file with no config.json beside it. */
  config?: Record<string, unknown>;
  /** Weights variant: 'fp16' reads diffusion_pytorch_model.fp16.safetensors. */
  variant?: string;
}

export interface AutoencoderKLFromConfigOptions {
  /** Seed of the random initialisation (weights N(0, 1/fan_in), norm scales 1 + 0.1·N, biases 0.05·N). */
  seed?: number;
  /** Device: 'cpu' (default) or 'cuda[:N]'. */
  device?: Device;
}

/** Tile geometry. Tiles are square; neighbours share `overlap` of a tile, blended linearly. */
export interface VAETilingOptions {
  /** Tile side in image pixels (a multiple of the VAE's downscale factor, 8 for SD). Default 512. */
  tileSize?: number;
  /** Fraction of a tile shared with each neighbour, in [0, 0.75]. Default 0.25. */
  overlap?: number;
}

/** Defaults of the automatic tiling, per model (`vae.tiling`). */
export interface VAETilingDefaults {
  tileSize: number;
  overlap: number;
  /** Images with more pixels (height·width) than this are tiled unless a call says otherwise. Default 1024·1024. */
  autoThreshold: number;
}

export interface VAERunOptions {
  /**
   * 'auto' (default): tiled when the image has more than `vae.tiling.autoThreshold` pixels; true or
   * an object: tiled (one tile when the image fits in one); false: never.
   */
  tiling?: boolean | 'auto' | VAETilingOptions;
  /** Cancels the pass (checked between blocks and tiles); the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

/** The latent distribution: mean (= mode), logvar clamped to [-30, 20], std = exp(logvar / 2). */
export interface LatentDistribution {
  mean: Tensor;
  logvar: Tensor;
  std: Tensor;
}

export interface VAEMemoryStats {
  /** Peak host memory of the last encode above what was in use when it started (bytes). */
  encodePeakBytes: number;
  decodePeakBytes: number;
  /** Tiles the last encode / decode used (1 = untiled). */
  encodeTiles: number;
  decodeTiles: number;
}

type Moments = { mean: NativeTensor; logvar: NativeTensor; std: NativeTensor; moments: NativeTensor };
type RunArgs = [string, number, number, number, unknown];
interface NativeVAE {
  config(): string;
  numParams(): number;
  params(): NativeTensor;
  paramInfo(): ParamLayout;
  encode(x: NativeTensor, ...args: RunArgs): Promise<Moments>;
  decode(z: NativeTensor, ...args: RunArgs): Promise<NativeTensor>;
  stats(): VAEMemoryStats;
  dispose(): void;
}

/** The Stable Diffusion VAE (diffusers' AutoencoderKL), encode and decode (inference only). */
export class AutoencoderKL {
  /** The model's configuration (diffusers keys) and `scalingFactor` (= scaling_factor). */
  readonly config: AutoencoderKLConfig;
  /** Automatic tiling defaults for this model (writable). */
  tiling: VAETilingDefaults = { tileSize: 512, overlap: 0.25, autoThreshold: 1024 * 1024 };
  #m: NativeVAE | null;

  private constructor(m: NativeVAE) {
    this.#m = m;
    const c = JSON.parse(m.config()) as Record<string, unknown>;
    this.config = Object.freeze({ ...c, scalingFactor: c.scaling_factor as number });
  }

  /**
   * Loads a diffusers AutoencoderKL: a folder with config.json and diffusion_pytorch_model.safetensors
   * (or its .fp16 variant, or a sharded *.safetensors.index.json), a pipeline folder (its vae/ is
   * used), or a weights file. Legacy mid-block attention names (query/key/value/proj_attn) are read.
   *
   * ```ts
   * const vae = await AutoencoderKL.fromPretrained('instruct-pix2pix');
   * ```
   */
  static async fromPretrained(p: string, options: AutoencoderKLFromPretrainedOptions = {}): Promise<AutoencoderKL> {
    const op = 'AutoencoderKL.fromPretrained';
    if (typeof p !== 'string' || p === '') throw new TypeError(`${op}: path must be a non-empty string`);
    checkOptions(options, ['dtype', 'device', 'config', 'variant'], op);
    checkLoadOptions(op, options);
    const files = resolvePretrained(op, p, 'vae', 'diffusion_pytorch_model', options.variant);
    const { text, source } = readConfig(op, files, options.config);
    return new AutoencoderKL((await native.vaeLoad(text, source, files.weights, 0, options.device ?? 'cpu')) as NativeVAE);
  }

  /** A randomly initialised model of `config` (tests, benchmarks). */
  static async fromConfig(config: Record<string, unknown>, options: AutoencoderKLFromConfigOptions = {}): Promise<AutoencoderKL> {
    const op = 'AutoencoderKL.fromConfig';
    if (typeof config !== 'object' || config === null) throw new TypeError(`${op}: config must be an object`);
    checkOptions(options, ['seed', 'device'], op);
    if (options.device !== undefined) checkDevice(options.device, op);
    const seed = options.seed === undefined ? 0 : integer(options.seed, op, 'seed', 0);
    return new AutoencoderKL((await native.vaeLoad(JSON.stringify(config), 'config', null, seed, options.device ?? 'cpu')) as NativeVAE);
  }

  #native(what: string): NativeVAE {
    if (!this.#m) throw new Error(`VAE.${what}: the model has been disposed`);
    return this.#m;
  }

  /** scaling_factor: latents for the UNet are `mean · scalingFactor`; decode takes `latents / scalingFactor`. */
  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  /** Image size / latent size (8 for SD). */
  get downscaleFactor(): number {
    return 2 ** ((this.config.block_out_channels as number[]).length - 1);
  }

  /** Number of parameters (elements). */
  get numParameters(): number {
    return this.#native('numParameters').numParams();
  }

  /** All parameters as one flat float32 tensor (diffusers' state_dict order, 64-byte aligned each). */
  flatParameters(): Tensor {
    return new Tensor(this.#native('flatParameters').params());
  }

  /** Every parameter by its diffusers name: float32 views into the flat parameter buffer. */
  parameters(): Map<string, Tensor> {
    const m = this.#native('parameters');
    return namedViews(m.params(), m.paramInfo());
  }

  #runArgs(op: string, options: VAERunOptions, token: unknown): RunArgs {
    const t = options.tiling ?? 'auto';
    const d = this.tiling;
    let mode: string;
    let geo: VAETilingOptions = {};
    if (t === 'auto') mode = 'auto';
    else if (t === true) mode = 'on';
    else if (t === false) mode = 'off';
    else if (typeof t === 'object' && t !== null && !Array.isArray(t)) {
      checkOptions(t, ['tileSize', 'overlap'], `${op} tiling`);
      mode = 'on';
      geo = t;
    } else throw new TypeError(`${op}: tiling must be true, false, 'auto' or { tileSize?, overlap? }`);
    const tileSize = integer(geo.tileSize ?? d.tileSize, op, 'tiling.tileSize', 1);
    const overlap = finiteNumber(geo.overlap ?? d.overlap, op, 'tiling.overlap');
    const threshold = d.autoThreshold === Infinity ? Number.MAX_SAFE_INTEGER : integer(d.autoThreshold, op, 'tiling.autoThreshold', 0);
    return [mode, tileSize, overlap, threshold, token];
  }

  /**
   * Encodes images [B, in_channels, H, W] (values in [-1, 1]; H, W multiples of 8 for SD) to the
   * latent distribution [B, latent_channels, H/8, W/8]. InstructPix2Pix conditions on the raw
   * `mean`; text-to-image latents are `mean · scalingFactor`.
   */
  async encode(image: Tensor, options: VAERunOptions = {}): Promise<LatentDistribution> {
    const op = 'VAE.encode';
    checkOptions(options, ['tiling', 'signal'], op);
    const m = this.#native('encode');
    const r = await withSignal('VAE', options.signal, (token) => m.encode(h(image, op, 'image'), ...this.#runArgs(op, options, token)));
    r.moments.dispose();
    return { mean: new Tensor(r.mean), logvar: new Tensor(r.logvar), std: new Tensor(r.std) };
  }

  /**
   * Decodes latents z [B, latent_channels, h, w], already divided by scalingFactor (what diffusers'
   * `vae.decode` takes), to images [B, out_channels, 8h, 8w] (not clamped).
   */
  async decode(z: Tensor, options: VAERunOptions = {}): Promise<Tensor> {
    const op = 'VAE.decode';
    checkOptions(options, ['tiling', 'signal'], op);
    const m = this.#native('decode');
    return new Tensor(await withSignal('VAE', options.signal, (token) => m.decode(h(z, op, 'z'), ...this.#runArgs(op, options, token))));
  }

  /** Peak memory and tile counts of the last encode and decode (after they have run). */
  memoryStats(): VAEMemoryStats {
    return this.#native('memoryStats').stats();
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
