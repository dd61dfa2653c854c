// Images in and out through sharp: decode anything sharp reads into a float tensor [1, 3, H, W] in
// [0, 1] sized for the VAE (multiples of 8), and encode [B, 3, H, W] tensors back to PNG/JPEG/raw.
// Decoding and encoding run on libuv's pool (sharp is asynchronous); the conversions between
// interleaved bytes and planar floats are linear passes on the JS thread (a few ms at 512×512).
import type { OutputInfo, Sharp } from 'sharp';

import { Tensor, tensor } from './tensor';
import { checkOptions, integer } from './validate';
import { sharp } from './sharp_lazy';


/** What the image functions accept: a file path, encoded bytes, a sharp pipeline, or a tensor. */
export type ImageInput = string | Buffer | Uint8Array | Sharp | Tensor;

export interface PrepareImageOptions {
  /**
   * Largest number of pixels to process (default 512·512 = 262,144). A larger image is scaled down,
   * aspect kept, before rounding to multiples of 8. Memory and time grow with the pixel count.
   */
  maxPixels?: number;
  /** Sizes are rounded down to a multiple of this (default 8, the VAE's downscale factor). */
  multipleOf?: number;
}

export interface PreparedImage {
  /** [1, 3, height, width] float32 in [0, 1], RGB. */
  pixels: Tensor;
  width: number;
  height: number;
  /** The size of the decoded input, before any resize. */
  originalWidth: number;
  originalHeight: number;
}

function describe(input: ImageInput): string {
  if (typeof input === 'string') return input;
  if (input instanceof Tensor) return `tensor ${JSON.stringify(input.shape)}`;
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) return `a ${input.length}-byte buffer`;
  return 'a sharp instance';
}

/** The target size: at most maxPixels, aspect kept, each side rounded down to a multiple (>= multiple). */
export function fitSize(width: number, height: number, maxPixels: number, multiple: number): [number, number] {
  let w = width;
  let hgt = height;
  if (w * hgt > maxPixels) {
    const s = Math.sqrt(maxPixels / (w * hgt));
    w = w * s;
    hgt = hgt * s;
  }
  const round = (v: number) => Math.max(multiple, Math.floor(v / multiple) * multiple);
  return [round(w), round(hgt)];
}

/**
 * Decodes and sizes an image for editing: EXIF orientation applied, alpha dropped (as diffusers'
 * `convert("RGB")`), grey expanded to RGB, scaled down to `maxPixels` and to multiples of 8.
 * A tensor input must be [1, 3, H, W] (or [3, H, W]) float32 in [0, 1] with H, W multiples of 8.
 * Unreadable or truncated data rejects with an error naming the input.
 */
export async function prepareImage(input: ImageInput, options: PrepareImageOptions = {}, op = 'prepareImage'): Promise<PreparedImage> {
  checkOptions(options, ['maxPixels', 'multipleOf'], op);
  const maxPixels = options.maxPixels === undefined ? 512 * 512 : integer(options.maxPixels, op, 'maxPixels', 64);
  const multiple = options.multipleOf === undefined ? 8 : integer(options.multipleOf, op, 'multipleOf', 1);
  if (input instanceof Tensor) {
    const shape = input.shape;
    const ok = (shape.length === 4 && shape[0] === 1 && shape[1] === 3) || (shape.length === 3 && shape[0] === 3);
    if (!ok) throw new Error(`${op}: an image tensor must be [1, 3, H, W] or [3, H, W], got [${shape.join(', ')}]`);
    if (input.dtype !== 'float32') throw new Error(`${op}: an image tensor must be float32 in [0, 1], got ${input.dtype}`);
    const H = shape[shape.length - 2];
    const W = shape[shape.length - 1];
    if (H % multiple || W % multiple || H === 0 || W === 0) {
      throw new Error(`${op}: an image tensor's height and width must be positive multiples of ${multiple}, got ${H}×${W}`);
    }
    const pixels = shape.length === 3 ? input.reshape([1, 3, H, W]) : input.reshape([1, 3, H, W]);
    return { pixels, width: W, height: H, originalWidth: W, originalHeight: H };
  }
  let pipeline: Sharp;
  if (typeof input === 'string' || Buffer.isBuffer(input) || input instanceof Uint8Array) {
    if (typeof input === 'string' && input === '') throw new TypeError(`${op}: the image path is empty`);
    pipeline = sharp(input as string | Buffer, { failOn: 'truncated' });
  } else if (input && typeof (input as Sharp).toBuffer === 'function' && typeof (input as Sharp).metadata === 'function') {
    pipeline = (input as Sharp).clone();
  } else {
    throw new TypeError(`${op}: image must be a path, a Buffer, a sharp instance or a Tensor, got ${input === null ? 'null' : typeof input}`);
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // Orientation first, so width/height below are the displayed ones.
    decoded = await pipeline.rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${op}: could not read the image (${describe(input)}): ${(e as Error).message}`);
  }
  const { info } = decoded;
  let { data } = decoded;
  let channels = info.channels;
  const [W, H] = fitSize(info.width, info.height, maxPixels, multiple);
  if (W !== info.width || H !== info.height) {
    // Lanczos as PIL's default for downscaling in diffusers' resize is bicubic/lanczos; sharp's
    // default kernel (lanczos3) is a good match.
    const r = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } })
      .resize(W, H, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    data = r.data;
    channels = r.info.channels;
  }
  const plane = W * H;
  const f = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) f[c * plane + p] = data[p * channels + (channels >= 3 ? c : 0)] / 255;
  }
  return { pixels: tensor(f, [1, 3, H, W]), width: W, height: H, originalWidth: info.width, originalHeight: info.height };
}

// numpy's round: halves to even (what diffusers' numpy_to_pil does after ×255).
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** [3, H, W] floats in [0, 1] (clamped) → interleaved RGB bytes, rounding as diffusers does. */
export function toRGBBytes(planar: Float32Array, width: number, height: number, offset = 0): Buffer {
  const plane = width * height;
  const out = Buffer.allocUnsafe(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, planar[offset + c * plane + p]));
      out[p * 3 + c] = roundHalfEven(v * 255);
    }
  }
  return out;
}

/** A sharp pipeline over RGB bytes (to encode as PNG, JPEG, WebP, … or resize). */
export function sharpFromRGB(bytes: Buffer, width: number, height: number): Sharp {
  return sharp(bytes, { raw: { width, height, channels: 3 } });
}
