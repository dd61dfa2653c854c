// The result of an edit: the images as a tensor, the final latents, and encoders to bytes.
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';

import type { Sharp } from 'sharp';

import { sharpFromRGB, toRGBBytes } from '../image';
import { Tensor } from '../tensor';

export interface RawImage {
  /** Interleaved RGB bytes, row-major. */
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

export class EditResult {
  /** [numImages, 3, height, width] float32, nominally in [0, 1] (clamped when encoded). */
  readonly images: Tensor;
  /** The final latents [numImages, 4, height/8, width/8] (before the VAE's scaling is undone). */
  readonly latents: Tensor;
  readonly width: number;
  readonly height: number;
  #pixels: Promise<Float32Array> | null = null;

  /** @internal */
  constructor(images: Tensor, latents: Tensor, width: number, height: number) {
    this.images = images;
    this.latents = latents;
    this.width = width;
    this.height = height;
  }

  get count(): number {
    return this.images.shape[0];
  }

  #index(i: number, what: string): number {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.count) {
      throw new RangeError(`EditResult.${what}: index ${String(i)} is out of range (${this.count} image${this.count === 1 ? '' : 's'})`);
    }
    return i;
  }

  /** Image `index` as RGB bytes (values clamped to [0, 1], ×255, rounded half to even like diffusers). */
  async toRaw(index = 0): Promise<RawImage> {
    const i = this.#index(index, 'toRaw');
    this.#pixels ??= this.images.toArray() as Promise<Float32Array>;
    const all = await this.#pixels;
    const data = toRGBBytes(all, this.width, this.height, i * 3 * this.width * this.height);
    return { data, width: this.width, height: this.height, channels: 3 };
  }

  /** A sharp pipeline over image `index`, for any format or further processing. */
  async toSharp(index = 0): Promise<Sharp> {
    const r = await this.toRaw(index);
    return sharpFromRGB(r.data, r.width, r.height);
  }

  async toPNG(index = 0): Promise<Buffer> {
    return (await this.toSharp(index)).png().toBuffer();
  }

  async toJPEG(index = 0, options: { quality?: number } = {}): Promise<Buffer> {
    return (await this.toSharp(index)).jpeg({ quality: options.quality ?? 90 }).toBuffer();
  }

  /** Writes image `index`; the format follows the extension (.png, .jpg/.jpeg, .webp; else PNG). */
  async save(file: string, index = 0): Promise<void> {
    const ext = path.extname(file).toLowerCase();
    const s = await this.toSharp(index);
    const buf = ext === '.jpg' || ext === '.jpeg' ? await s.jpeg({ quality: 90 }).toBuffer()
      : ext === '.webp' ? await s.webp().toBuffer() : await s.png().toBuffer();
    await writeFile(file, buf);
  }

  dispose(): void {
    this.images.dispose();
    this.latents.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
