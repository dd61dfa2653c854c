// Which image autoencoder a pipeline folder has: diffusers' AutoencoderKL (SD's VAE), instructedit's
// PixelUnshuffleAutoencoder (lossless space-to-depth), or none (a pixel-space model). model_index.json
// says so ("vae": ["diffusers", "AutoencoderKL"], ["instructedit", "PixelUnshuffleAutoencoder"] or
// [null, null]); without it, vae/config.json's _class_name decides.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import type { Device } from '../types';
import { PixelUnshuffleAutoencoder } from './pixel_unshuffle';
import { AutoencoderKL } from './vae';

/** The image <-> latent map of a pipeline (null: the UNet works on pixels). */
export type ImageAutoencoder = AutoencoderKL | PixelUnshuffleAutoencoder;

export type AutoencoderKind = 'AutoencoderKL' | 'PixelUnshuffleAutoencoder' | null;

function readJson(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The autoencoder class a pipeline folder declares (null: none, pixel space). */
export function autoencoderKind(dir: string): AutoencoderKind {
  const idx = readJson(path.join(dir, 'model_index.json'));
  const v = idx?.vae;
  if (v === null || (Array.isArray(v) && v.every((x) => x === null))) return null;
  if (Array.isArray(v) && v[1] === 'PixelUnshuffleAutoencoder') return 'PixelUnshuffleAutoencoder';
  if (readJson(path.join(dir, 'vae', 'config.json'))?._class_name === 'PixelUnshuffleAutoencoder') return 'PixelUnshuffleAutoencoder';
  return 'AutoencoderKL';
}

/** Loads the pipeline's autoencoder (null for a pixel-space pipeline). */
export async function loadAutoencoder(dir: string, options: { device?: Device; variant?: string } = {}): Promise<ImageAutoencoder | null> {
  const kind = autoencoderKind(dir);
  if (kind === null) return null;
  if (kind === 'PixelUnshuffleAutoencoder') return PixelUnshuffleAutoencoder.fromPretrained(dir, { device: options.device });
  return AutoencoderKL.fromPretrained(path.join(dir, 'vae'), { variant: options.variant, device: options.device });
}

/** Channels the UNet denoises: the autoencoder's latent channels, or RGB for a pixel-space model. */
export function latentChannels(vae: ImageAutoencoder | null): number {
  return vae ? Number(vae.config.latent_channels ?? 4) : 3;
}
