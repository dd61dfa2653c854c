// PixelUnshuffleAutoencoder: a lossless, parameter-free "VAE" for small pixel-space models. encode is
// space-to-depth (torch.nn.PixelUnshuffle: [B, C, H, W] -> [B, C·f², H/f, W/f]), decode its inverse
// (PixelShuffle), so a UNet can denoise a 64×64 RGB image as a 16×16×48 latent: 16× fewer positions,
// attention at every level for little cost, and nothing lost (decode(encode(x)) == x bit for bit).
//
// Both directions are a convolution with a fixed one-hot kernel (stride f): encode is conv2d, decode
// the convolution's input gradient (its transpose). Each output element is one input element times
// 1 plus zeros, which float32 computes exactly, and it runs on every device the conv kernels do.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import * as ops from '../ops';
import { Tensor, tensor, zeros } from '../tensor';
import { checkDevice, checkOptions, integer } from '../validate';
import type { Device } from '../types';

/** vae/config.json of a PixelUnshuffleAutoencoder (instructedit's own component class). */
export interface PixelUnshuffleConfig {
  _class_name?: 'PixelUnshuffleAutoencoder';
  /** Downscale factor f (default 4): each f×f block of pixels becomes one latent position. */
  factor?: number;
  /** Image channels (default 3, RGB). */
  in_channels?: number;
}

const CONFIG_KEYS = ['_class_name', 'factor', 'in_channels', 'latent_channels', 'scaling_factor'];

export interface PixelUnshuffleOptions {
  /** Where encode/decode run ('cpu' default, or 'cuda[:N]'). */
  device?: Device;
}

/** Space-to-depth image autoencoder (exact; no weights). */
export class PixelUnshuffleAutoencoder {
  /** diffusers-style fields the pipeline reads: latent_channels = in_channels·factor², scaling_factor 1. */
  readonly config: Readonly<{ _class_name: 'PixelUnshuffleAutoencoder'; factor: number; in_channels: number; latent_channels: number;
    scaling_factor: number }>;
  readonly device: Device;
  #kernel: Tensor | null;

  constructor(config: PixelUnshuffleConfig = {}, options: PixelUnshuffleOptions = {}) {
    const op = 'PixelUnshuffleAutoencoder';
    checkOptions(config, CONFIG_KEYS, `${op}: config`);
    checkOptions(options, ['device'], op);
    if (config._class_name !== undefined && config._class_name !== 'PixelUnshuffleAutoencoder') {
      throw new TypeError(`${op}: config._class_name must be 'PixelUnshuffleAutoencoder', got ${JSON.stringify(config._class_name)}`);
    }
    const f = integer(config.factor ?? 4, op, 'factor', 1);
    const C = integer(config.in_channels ?? 3, op, 'in_channels', 1);
    if (f > 64) throw new RangeError(`${op}: factor must be at most 64, got ${f}`);
    const latent = C * f * f;
    const given = (config as Record<string, unknown>).latent_channels;
    if (given !== undefined && given !== latent) {
      throw new RangeError(`${op}: latent_channels must be in_channels × factor² = ${latent}, got ${String(given)}`);
    }
    const sf = (config as Record<string, unknown>).scaling_factor;
    if (sf !== undefined && sf !== 1) throw new RangeError(`${op}: scaling_factor must be 1 (the latents are the pixels), got ${String(sf)}`);
    this.device = options.device === undefined ? 'cpu' : (checkDevice(options.device, op) as Device);
    this.config = Object.freeze({ _class_name: 'PixelUnshuffleAutoencoder' as const, factor: f, in_channels: C, latent_channels: latent, scaling_factor: 1 });
    // One-hot kernel [C·f², C, f, f]: latent channel c·f² + i·f + j reads pixel (i, j) of channel c's
    // block (PyTorch's PixelUnshuffle order).
    const w = new Float32Array(latent * C * f * f);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < f; i++) {
        for (let j = 0; j < f; j++) {
          const k = c * f * f + i * f + j;
          w[((k * C + c) * f + i) * f + j] = 1;
        }
      }
    }
    this.#kernel = tensor(w, [latent, C, f, f], { device: this.device });
  }

  /** Reads vae/config.json of a pipeline folder (or a vae folder). */
  static fromPretrained(dir: string, options: PixelUnshuffleOptions = {}): PixelUnshuffleAutoencoder {
    const op = 'PixelUnshuffleAutoencoder.fromPretrained';
    const file = existsSync(path.join(dir, 'vae', 'config.json')) ? path.join(dir, 'vae', 'config.json') : path.join(dir, 'config.json');
    let cfg: unknown;
    try {
      cfg = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${op}: cannot read ${file}: ${(e as Error).message}`);
    }
    if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new TypeError(`${op}: ${file} must hold a JSON object`);
    try {
      return new PixelUnshuffleAutoencoder(cfg as PixelUnshuffleConfig, options);
    } catch (e) {
      (e as Error).message = `${file}: ${(e as Error).message}`;
      throw e;
    }
  }

  /** Image side lengths must be multiples of this. */
  get downscaleFactor(): number {
    return this.config.factor;
  }

  /** 1: the latents are the pixels, rearranged. */
  get scalingFactor(): number {
    return 1;
  }

  #w(op: string): Tensor {
    if (!this.#kernel) throw new Error(`${op}: the autoencoder has been disposed`);
    return this.#kernel;
  }

  #check(x: Tensor, channels: number, multiple: number, op: string, what: string): void {
    if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${what} must be a Tensor`);
    const s = x.shape;
    if (s.length !== 4 || s[1] !== channels || s[2] % multiple !== 0 || s[3] % multiple !== 0) {
      throw new RangeError(`${op}: ${what} must be [batch, ${channels}, height, width]` +
        `${multiple > 1 ? ` with height and width multiples of ${multiple}` : ''}, got [${s.join(', ')}]`);
    }
    if (x.dtype !== 'float32') throw new TypeError(`${op}: ${what} must be float32, got ${x.dtype}`);
    if (x.device !== this.device) throw new Error(`${op}: ${what} is on ${x.device} but the autoencoder is on ${this.device}`);
  }

  /** [B, C, H, W] -> { mean: [B, C·f², H/f, W/f] } (a deterministic "distribution": the mean is the latent). */
  async encode(image: Tensor, options: { signal?: AbortSignal } = {}): Promise<{ mean: Tensor }> {
    const op = 'PixelUnshuffleAutoencoder.encode';
    options.signal?.throwIfAborted();
    this.#check(image, this.config.in_channels, this.config.factor, op, 'image');
    const f = this.config.factor;
    return { mean: ops.conv2d(image, this.#w(op), null, { stride: f }) };
  }

  /** [B, C·f², h, w] -> [B, C, h·f, w·f]. */
  async decode(z: Tensor, options: { signal?: AbortSignal } = {}): Promise<Tensor> {
    const op = 'PixelUnshuffleAutoencoder.decode';
    options.signal?.throwIfAborted();
    this.#check(z, this.config.latent_channels, 1, op, 'latents');
    const f = this.config.factor;
    const [B, , h, w] = z.shape;
    const shape = [B, this.config.in_channels, h * f, w * f];
    const x = zeros(shape, { device: this.device });
    try {
      const g = ops.conv2dBackward(z, x, this.#w(op), { stride: f, bias: false });
      g.dw.dispose();
      g.db?.dispose();
      return g.dx;
    } finally {
      x.dispose();
    }
  }

  dispose(): void {
    this.#kernel?.dispose();
    this.#kernel = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
