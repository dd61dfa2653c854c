// Where a model's config.json and weights are in the folder layouts diffusers and transformers write:
// a model folder, a pipeline folder (model_index.json + one subfolder per component) or a weights
// file. Shared by the models' fromPretrained.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { checkOptions } from '../validate';

export interface WeightsLayout {
  /** The component's subfolder in a pipeline folder ('unet', 'text_encoder', ...). */
  subfolder: string;
  /** Weights file stem: 'diffusion_pytorch_model' (diffusers) or 'model' (transformers). */
  stem: string;
  /** The stem of the pickled checkpoint the library also writes ('pytorch_model' for transformers). */
  binStem: string;
}

/** The options every fromPretrained shares. */
export interface PretrainedOptions {
  dtype?: 'float32';
  device?: 'cpu';
  config?: Record<string, unknown>;
  variant?: string;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Checks the shared options (dtype, device, variant, config) and any extra keys `allowed` lists. */
export function checkPretrainedOptions(options: PretrainedOptions, extra: readonly string[], op: string): void {
  checkOptions(options, ['dtype', 'device', 'config', 'variant', ...extra], op);
  if (options.dtype !== undefined && options.dtype !== 'float32') {
    throw new Error(`${op}: dtype '${String(options.dtype)}' is not supported yet (compute is float32; half-precision weights are converted on load)`);
  }
  if (options.device !== undefined && options.device !== 'cpu') {
    throw new Error(`${op}: device '${String(options.device)}' is not supported yet (CPU only)`);
  }
  if (options.variant !== undefined && (typeof options.variant !== 'string' || !/^[\w-]+$/.test(options.variant))) {
    throw new TypeError(`${op}: variant must be a name such as 'fp16'`);
  }
  if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null)) {
    throw new TypeError(`${op}: config must be an object`);
  }
}

/** Finds config.json and the weights (one file or a sharded index) for a folder, a pipeline root or a file. */
export function resolveWeights(input: string, layout: WeightsLayout, variant: string | undefined, op: string): { configPath: string; weights: string } {
  if (!existsSync(input)) throw new Error(`${op}: ${input} does not exist`);
  if (!isDir(input)) return { configPath: path.join(path.dirname(input), 'config.json'), weights: input };
  let dir = input;
  // A pipeline folder (model_index.json, unet/, text_encoder/ ...): use the component's subfolder.
  if (!existsSync(path.join(input, 'config.json')) && isDir(path.join(input, layout.subfolder))) dir = path.join(input, layout.subfolder);
  const stem = variant ? `${layout.stem}.${variant}` : layout.stem;
  const candidates = [`${stem}.safetensors`, `${stem}.safetensors.index.json`];
  const weights = candidates.map((c) => path.join(dir, c)).find((c) => existsSync(c));
  if (!weights) {
    const binStem = variant ? `${layout.binStem}.${variant}` : layout.binStem;
    const bin = existsSync(path.join(dir, `${binStem}.bin`)) || existsSync(path.join(dir, `${binStem}.bin.index.json`));
    throw new Error(
      `${op}: no ${candidates.join(' or ')} in ${dir}` +
        (bin ? ' (found a PyTorch .bin checkpoint: convert it to safetensors; pickled .bin files are not read)' : ''),
    );
  }
  return { configPath: path.join(dir, 'config.json'), weights };
}

/** The config text and its name for messages: options.config, else the config.json found beside the weights. */
export function readConfig(configPath: string, weights: string, config: Record<string, unknown> | undefined, op: string): { text: string; source: string } {
  if (config !== undefined) return { text: JSON.stringify(config), source: 'options.config' };
  if (!existsSync(configPath)) throw new Error(`${op}: no config.json next to ${weights}; pass options.config`);
  return { text: readFileSync(configPath, 'utf8'), source: configPath };
}
