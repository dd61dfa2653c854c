// A fresh, randomly initialised InstructPix2Pix pipeline folder in diffusers' layout: the starting
// point for training a small model from scratch (the built-in editing model). The text encoder is
// frozen during training (as in InstructPix2Pix), so it stays random: the UNet learns to read it.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { saveSafetensors } from '../io/safetensors';
import { CLIPTextModel } from '../models/clip_text';
import { UNet2DConditionModel } from '../models/unet';
import { AutoencoderKL } from '../models/vae';
import { createScheduler, SchedulerConfig } from '../schedulers';
import * as ops from '../ops';
import { PixelUnshuffleAutoencoder, PixelUnshuffleConfig } from '../models/pixel_unshuffle';
import { Tensor, zeros } from '../tensor';
import { trainClipBpe, writeClipTokenizer } from '../text/bpe_train';
import { checkOptions, integer } from '../validate';

export interface NewPipelineOptions {
  /** diffusers UNet config; in_channels = 2 × out_channels (noisy + image). */
  unet: Record<string, unknown>;
  /** transformers CLIPTextConfig (its vocab_size is set to the trained tokenizer's). */
  textEncoder: Record<string, unknown>;
  /**
   * diffusers AutoencoderKL config; `{ _class_name: 'PixelUnshuffleAutoencoder', factor: f }` for a
   * lossless space-to-depth autoencoder (out_channels 3·f²); or null for a pixel-space model
   * (out_channels 3).
   */
  vae: Record<string, unknown> | null;
  /** Texts to train the tokenizer's BPE on (e.g. every instruction of the training set). */
  tokenizerCorpus: readonly string[];
  tokenizerVocabSize?: number;
  /** The tokenizer's model_max_length (default 77, CLIP's); short instructions train faster with fewer. */
  tokenizerMaxLength?: number;
  /**
   * Start every residual branch of the UNet at zero (the second conv of each ResNet block and the
   * proj_out of each transformer block), as the original latent-diffusion code initialises models it
   * trains from scratch: each block then starts as the identity and adds its change as it learns,
   * instead of a random branch of full variance (default false: every weight random).
   */
  zeroInitBranches?: boolean;
  /** The sampler config saved as scheduler/scheduler_config.json (default: Euler ancestral, SD's betas). */
  scheduler?: SchedulerConfig;
  seed?: number;
}

const DEFAULT_SCHEDULER: SchedulerConfig = {
  _class_name: 'EulerAncestralDiscreteScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012,
  beta_schedule: 'scaled_linear', prediction_type: 'epsilon', timestep_spacing: 'linspace', steps_offset: 1,
};

async function saveWeights(file: string, params: Map<string, Tensor>): Promise<void> {
  try {
    await saveSafetensors(file, Object.fromEntries(params), { metadata: { format: 'pt' } });
  } finally {
    for (const t of params.values()) t.dispose();
  }
}

async function writeJson(file: string, v: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, `${JSON.stringify(v, null, 2)}\n`);
}

/** Writes the folder (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/, vae/ unless pixel space). */
export async function newPipeline(dir: string, o: NewPipelineOptions): Promise<void> {
  const op = 'newPipeline';
  checkOptions(o, ['unet', 'textEncoder', 'vae', 'tokenizerCorpus', 'tokenizerVocabSize', 'tokenizerMaxLength', 'scheduler', 'seed', 'zeroInitBranches'], op);
  const seed = integer(o.seed ?? 0, op, 'seed', 0);
  const scheduler = o.scheduler ?? DEFAULT_SCHEDULER;
  createScheduler(scheduler); // validate before writing anything
  const maxLength = integer(o.tokenizerMaxLength ?? 77, op, 'tokenizerMaxLength', 2);
  const positions = Number(o.textEncoder.max_position_embeddings ?? 77);
  if (positions < maxLength) throw new RangeError(`${op}: textEncoder.max_position_embeddings (${positions}) is below tokenizerMaxLength (${maxLength})`);
  const vocab = trainClipBpe(o.tokenizerCorpus, { vocabSize: o.tokenizerVocabSize ?? 1024 });
  const vocabSize = Object.keys(vocab.vocab).length;
  await writeClipTokenizer(path.join(dir, 'tokenizer'), vocab, { modelMaxLength: maxLength });
  const textConfig = { architectures: ['CLIPTextModel'], ...o.textEncoder, vocab_size: vocabSize, bos_token_id: vocabSize - 2, eos_token_id: vocabSize - 1 };
  const text = await CLIPTextModel.fromConfig(textConfig, { seed });
  try {
    await writeJson(path.join(dir, 'text_encoder', 'config.json'), textConfig);
    await saveWeights(path.join(dir, 'text_encoder', 'model.safetensors'), text.parameters());
  } finally {
    text.dispose();
  }
  const unet = await UNet2DConditionModel.fromConfig(o.unet, { seed: seed + 1 });
  try {
    // With an output skip (output = conv_out(...) + the source's channels), conv_out starts at zero:
    // the new model returns the source unchanged, and training only has to learn the edit.
    const skip = o.unet.output_skip_channel;
    const zeroed = (name: string) => (typeof skip === 'number' && skip >= 0 && name.startsWith('conv_out.')) ||
      (o.zeroInitBranches === true && /(resnets\.\d+\.conv2|attentions\.\d+\.proj_out)\.(weight|bias)$/.test(name));
    const p = unet.parameters();
    for (const [k, v] of p) {
      if (!zeroed(k)) continue;
      const z = zeros(v.shape as number[]);
      ops.assign(v, z);
      z.dispose();
    }
    for (const t of p.values()) t.dispose();
    await writeJson(path.join(dir, 'unet', 'config.json'), { _class_name: 'UNet2DConditionModel', ...o.unet });
    await saveWeights(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), unet.parameters());
  } finally {
    unet.dispose();
  }
  const pixelUnshuffle = o.vae?._class_name === 'PixelUnshuffleAutoencoder';
  if (o.vae && pixelUnshuffle) {
    const ae = new PixelUnshuffleAutoencoder(o.vae as PixelUnshuffleConfig); // validates the config
    ae.dispose();
    await writeJson(path.join(dir, 'vae', 'config.json'), { ...o.vae, latent_channels: ae.config.latent_channels, scaling_factor: 1 });
  } else if (o.vae) {
    const vae = await AutoencoderKL.fromConfig(o.vae, { seed: seed + 2 });
    try {
      await writeJson(path.join(dir, 'vae', 'config.json'), { _class_name: 'AutoencoderKL', ...o.vae });
      await saveWeights(path.join(dir, 'vae', 'diffusion_pytorch_model.safetensors'), vae.parameters());
    } finally {
      vae.dispose();
    }
  }
  await writeJson(path.join(dir, 'scheduler', 'scheduler_config.json'), scheduler);
  await writeJson(path.join(dir, 'model_index.json'), {
    _class_name: 'StableDiffusionInstructPix2PixPipeline',
    scheduler: ['diffusers', String(scheduler._class_name)],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: pixelUnshuffle ? ['instructedit', 'PixelUnshuffleAutoencoder'] : o.vae ? ['diffusers', 'AutoencoderKL'] : [null, null],
  });
}
