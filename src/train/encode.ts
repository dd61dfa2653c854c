// The frozen half of InstructPix2Pix training: images through the VAE and instructions through the
// text encoder, giving the Trainer's TrainBatch. Optionally caches per record (useful when the
// data has no random augmentation, so each record always encodes the same way).
import { CLIPTextModel } from '../models/clip_text';
import { AutoencoderKL } from '../models/vae';
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
}

export interface BatchEncoderOptions {
  /** Seed of the latent sampling (z = mean + std·N(0,1), as diffusers' training script samples). */
  seed?: number;
  /** Use the latent mean instead of a sample for the target (deterministic; default false). */
  targetMode?: boolean;
}

/** Encodes data batches for the Trainer with a frozen VAE and text encoder. */
export class BatchEncoder {
  readonly vae: AutoencoderKL;
  readonly textEncoder: CLIPTextModel;
  readonly tokenizer: CLIPTokenizer;
  readonly options: Required<BatchEncoderOptions>;
  #null: Tensor | null = null;
  #calls = 0;

  constructor(parts: { vae: AutoencoderKL; textEncoder: CLIPTextModel; tokenizer: CLIPTokenizer }, options: BatchEncoderOptions = {}) {
    this.vae = parts.vae;
    this.textEncoder = parts.textEncoder;
    this.tokenizer = parts.tokenizer;
    this.options = { seed: options.seed ?? 0, targetMode: options.targetMode === true };
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
    this.#calls = index + 1;
    const src = await this.vae.encode(b.source);
    src.logvar.dispose();
    src.std.dispose();
    const tgt = await this.vae.encode(b.target);
    tgt.logvar.dispose();
    let z = tgt.mean;
    if (!this.options.targetMode) {
      const eps = randn(tgt.mean.shape as number[], { seed: this.options.seed, offset: index * 2 * tgt.mean.size });
      const noise = ops.binary('mul', tgt.std, eps);
      z = ops.binary('add', tgt.mean, noise);
      for (const t of [eps, noise, tgt.mean]) t.dispose();
    }
    tgt.std.dispose();
    const latents = ops.scale(z, this.vae.scalingFactor);
    z.dispose();
    const textEmbeds = await this.#text(b.instructions);
    const negativeEmbeds = b.negatives ? await this.#text(b.negatives) : undefined;
    return { latents, imageLatents: src.mean, textEmbeds, negativeEmbeds, nullTextEmbeds: await this.nullTextEmbeds() };
  }

  dispose(): void {
    this.#null?.dispose();
    this.#null = null;
  }
}

/** Disposes a TrainBatch's own tensors (not nullTextEmbeds, which its encoder keeps). */
export function disposeTrainBatch(b: TrainBatch): void {
  b.latents.dispose();
  b.imageLatents.dispose();
  b.textEmbeds.dispose();
  b.negativeEmbeds?.dispose();
}
