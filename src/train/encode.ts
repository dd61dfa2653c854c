// The frozen half of InstructPix2Pix training: images through the VAE and instructions through the
// text encoder, giving the Trainer's TrainBatch. Optionally caches per record (useful when the
// data has no random augmentation, so each record always encodes the same way).
import { CLIPTextModel } from '../models/clip_text';
import { AutoencoderKL } from '../models/vae';
import type { ImageAutoencoder } from '../models/autoencoder';
import * as ops from '../ops';
import { randn, Tensor } from '../tensor';
import { CLIPTokenizer } from '../text/clip_tokenizer';
import type { TrainBatch } from './trainer';

/** What the encoder needs from a data batch (the loader's batches have these fields). */
export interface ImageTextBatch {
  /** Source images [B, 3, H, W] in [−1, 1]. */
  source: Tensor;
  /** Edited images [B, 3, H, W] in [−1, 1]. */
  target: Tensor;
  instructions: readonly string[];
  /** One negative instruction per record (needed for the triplet term). */
  negatives?: readonly string[];
  /** Record indices and their augmentation (the loader's batches have them): the cache's key. */
  indices?: readonly number[];
  augment?: readonly unknown[];
}

export interface BatchEncoderOptions {
  /** Seed of the latent sampling (z = mean + std·N(0,1), as diffusers' training script samples). */
  seed?: number;
  /** Use the latent mean instead of a sample for the target (deterministic; default false). */
  targetMode?: boolean;
  /**
   * Cache each record's encodings (latents, image latents, text states), keyed by record index,
   * its augmentation (crop, flip, size) and its instructions, so a repeat is never re-encoded.
   * Pays off with deterministic augmentation (center crop, no flip), where every epoch repeats;
   * a cached target latent keeps the sample of its first encoding. Needs the batches' `indices`
   * and `augment`. Default false.
   */
  cache?: boolean;
  /** Most records kept in the cache (default 10,000; least recently added dropped first). */
  cacheSize?: number;
  /**
   * Give token ids (inputIds, negativeIds, nullIds) instead of text states: for a Trainer that
   * trains its text encoder (the states change every step, so they cannot be computed here).
   */
  textIds?: boolean;
}

interface CachedRecord {
  latents: Tensor;
  imageLatents: Tensor;
  textEmbeds?: Tensor;
  negativeEmbeds?: Tensor;
}

/** Encodes data batches for the Trainer with a frozen VAE and text encoder. */
export class BatchEncoder {
  /**
   * null: a pixel-space model (latents are the images themselves, in [−1, 1]); a deterministic
   * autoencoder (PixelUnshuffleAutoencoder): latents are its encoding, nothing sampled.
   */
  readonly vae: ImageAutoencoder | null;
  readonly textEncoder: CLIPTextModel;
  readonly tokenizer: CLIPTokenizer;
  readonly options: Required<BatchEncoderOptions>;
  #null: Tensor | null = null;
  #calls = 0;
  #cache = new Map<string, CachedRecord>();
  #hits = 0;

  constructor(parts: { vae: ImageAutoencoder | null; textEncoder: CLIPTextModel; tokenizer: CLIPTokenizer }, options: BatchEncoderOptions = {}) {
    this.vae = parts.vae;
    this.textEncoder = parts.textEncoder;
    this.tokenizer = parts.tokenizer;
    this.options = { seed: options.seed ?? 0, targetMode: options.targetMode === true, cache: options.cache === true,
      cacheSize: options.cacheSize ?? 10_000, textIds: options.textIds === true };
  }

  async #text(texts: readonly string[]): Promise<Tensor> {
    const out = await this.textEncoder.forward(this.tokenizer.encodeBatch([...texts]));
    out.pooledOutput.dispose();
    return out.lastHiddenState;
  }

  /** The empty prompt's text states [1, L, D] (computed once). */
  async nullTextEmbeds(): Promise<Tensor> {
    this.#null ??= await this.#text(['']);
    return this.#null;
  }

  /**
   * One TrainBatch: target latents = (sample or mean) × scaling factor; image latents = the source's
   * VAE mean, unscaled; text states of the instructions and negatives. The caller disposes the
   * batch's tensors (except nullTextEmbeds, owned by the encoder).
   */
  async encode(b: ImageTextBatch, index = this.#calls): Promise<TrainBatch> {
    const out = await this.#encodeCached(b, index);
    if (this.options.textIds) {
      out.inputIds = this.tokenizer.encodeBatch([...b.instructions]);
      if (b.negatives) out.negativeIds = this.tokenizer.encodeBatch([...b.negatives]);
      out.nullIds = this.tokenizer.encodeBatch(['']);
    }
    return out;
  }

  async #encodeCached(b: ImageTextBatch, index: number): Promise<TrainBatch> {
    this.#calls = index + 1;
    const ids = this.options.textIds;
    if (!this.options.cache) return this.#encode(b, index);
    if (!b.indices || !b.augment) throw new Error('BatchEncoder.encode: the cache needs the batch\'s indices and augment (as the data loader gives them)');
    const keys = b.indices.map((r, i) => JSON.stringify([r, b.augment![i], b.instructions[i], b.negatives?.[i] ?? null]));
    const hit = keys.map((k) => this.#cache.get(k));
    if (hit.every((h): h is CachedRecord => h !== undefined && (ids || b.negatives === undefined || h.negativeEmbeds !== undefined))) {
      this.#hits += keys.length;
      const cat = (f: (h: CachedRecord) => Tensor) => ops.concat(hit.map(f), 0);
      if (ids) return { latents: cat((h) => h.latents), imageLatents: cat((h) => h.imageLatents) };
      return {
        latents: cat((h) => h.latents), imageLatents: cat((h) => h.imageLatents), textEmbeds: cat((h) => h.textEmbeds as Tensor),
        negativeEmbeds: b.negatives ? cat((h) => h.negativeEmbeds as Tensor) : undefined, nullTextEmbeds: await this.nullTextEmbeds(),
      };
    }
    const out = await this.#encode(b, index);
    const ones = keys.map(() => 1);
    const rows = (t: Tensor) => ops.split(t, ones, 0);
    const [l, im] = [rows(out.latents), rows(out.imageLatents)];
    const tx = out.textEmbeds ? rows(out.textEmbeds) : undefined;
    const ng = out.negativeEmbeds ? rows(out.negativeEmbeds) : undefined;
    keys.forEach((k, i) => {
      this.#drop(k);
      this.#cache.set(k, { latents: l[i], imageLatents: im[i], textEmbeds: tx?.[i], negativeEmbeds: ng?.[i] });
    });
    while (this.#cache.size > this.options.cacheSize) this.#drop(this.#cache.keys().next().value as string);
    return out;
  }

  /** Records served from the cache so far, and the cache's size. */
  cacheStats(): { hits: number; entries: number } {
    return { hits: this.#hits, entries: this.#cache.size };
  }

  #drop(key: string): void {
    const c = this.#cache.get(key);
    if (!c) return;
    for (const t of [c.latents, c.imageLatents, c.textEmbeds, c.negativeEmbeds]) t?.dispose();
    this.#cache.delete(key);
  }

  async #encode(b: ImageTextBatch, index: number): Promise<TrainBatch> {
    if (!this.vae) {
      // Pixel space: the UNet denoises the target image itself, conditioned on the source.
      if (this.options.textIds) return { latents: b.target.clone(), imageLatents: b.source.clone() };
      const textEmbeds = await this.#text(b.instructions);
      const negativeEmbeds = b.negatives ? await this.#text(b.negatives) : undefined;
      return { latents: b.target.clone(), imageLatents: b.source.clone(), textEmbeds, negativeEmbeds, nullTextEmbeds: await this.nullTextEmbeds() };
    }
    if (!(this.vae instanceof AutoencoderKL)) {
      const latents = (await this.vae.encode(b.target)).mean;
      const imageLatents = (await this.vae.encode(b.source)).mean;
      if (this.options.textIds) return { latents, imageLatents };
      const textEmbeds = await this.#text(b.instructions);
      const negativeEmbeds = b.negatives ? await this.#text(b.negatives) : undefined;
      return { latents, imageLatents, textEmbeds, negativeEmbeds, nullTextEmbeds: await this.nullTextEmbeds() };
    }
    const src = await this.vae.encode(b.source);
    src.logvar.dispose();
    src.std.dispose();
    const tgt = await this.vae.encode(b.target);
    tgt.logvar.dispose();
    let z = tgt.mean;
    if (!this.options.targetMode) {
      const eps = randn(tgt.mean.shape as number[], { seed: this.options.seed, offset: index * 2 * tgt.mean.size, device: tgt.mean.device });
      const noise = ops.binary('mul', tgt.std, eps);
      z = ops.binary('add', tgt.mean, noise);
      for (const t of [eps, noise, tgt.mean]) t.dispose();
    }
    tgt.std.dispose();
    const latents = ops.scale(z, this.vae.scalingFactor);
    z.dispose();
    if (this.options.textIds) return { latents, imageLatents: src.mean };
    const textEmbeds = await this.#text(b.instructions);
    const negativeEmbeds = b.negatives ? await this.#text(b.negatives) : undefined;
    return { latents, imageLatents: src.mean, textEmbeds, negativeEmbeds, nullTextEmbeds: await this.nullTextEmbeds() };
  }

  dispose(): void {
    this.#null?.dispose();
    this.#null = null;
    for (const k of [...this.#cache.keys()]) this.#drop(k);
  }
}

/** Disposes a TrainBatch's own tensors (not nullTextEmbeds, which its encoder keeps). */
export function disposeTrainBatch(b: TrainBatch): void {
  b.latents.dispose();
  b.imageLatents.dispose();
  b.textEmbeds?.dispose();
  b.negativeEmbeds?.dispose();
}
