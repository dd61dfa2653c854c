// A whole training run from a config (what `instructedit train --config train.json` runs): load a
// pipeline, stream the manifest through the frozen VAE and text encoder, step the Trainer, log
// metrics as JSONL, save checkpoints atomically (and on abort), render sample edits, and resume
// from the output folder's latest checkpoint exactly where it stopped.
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { Editor } from '../editor';
import { loadAutoencoder } from '../models/autoencoder';
import { CLIPTextModel } from '../models/clip_text';
import { UNet2DConditionModel } from '../models/unet';
import { createScheduler, SchedulerConfig } from '../schedulers';
import { setNumThreads } from '../runtime';
import { CLIPTokenizer } from '../text/clip_tokenizer';
import { checkDevice, checkOptions, finiteNumber, integer } from '../validate';
import type { Device } from '../types';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { createDataLoader, DataLoaderState } from './data';
import { BatchEncoder, disposeTrainBatch } from './encode';
import { LRSchedule, StepResult, Trainer, TripletOptions } from './trainer';

export interface TrainConfig {
  /** Pipeline folder to fine-tune (unet/, vae/, text_encoder/, tokenizer/, scheduler/). */
  model: string;
  /** JSONL manifest {source, target, instruction, negatives?}. */
  data: string;
  /** Output folder: checkpoints, metrics.jsonl, samples/. */
  output: string;
  /** Optimizer steps to reach (a resumed run continues up to it). */
  steps: number;
  batchSize?: number;
  resolution?: number;
  seed?: number;
  lr?: number;
  weightDecay?: number;
  lrSchedule?: LRSchedule;
  warmupSteps?: number;
  gradientAccumulation?: number;
  maxGradNorm?: number;
  emaDecay?: number;
  conditioningDropout?: number;
  /** Timestep sampling bias toward high noise (TrainerOptions.timestepPower; default 1 = uniform). */
  timestepPower?: number;
  /** Train the text encoder with the UNet (saved in checkpoints as text_encoder/, text_encoder_ema/). */
  trainTextEncoder?: boolean;
  /** The text encoder's learning rate (default: lr). */
  textEncoderLr?: number;
  /** Per-sample loss weights (TrainerOptions.lossWeighting: 'none' default, or 'edit'). */
  lossWeighting?: 'none' | 'edit';
  gradientCheckpointing?: boolean;
  /** Cache the frozen encodings per record (useful with crop 'center' and flipProbability 0). */
  cacheEncodings?: boolean;
  /** 'random' (default) or 'center' crops. */
  crop?: 'random' | 'center';
  /** SuperEdit's triplet term (omit or null for plain InstructPix2Pix training). */
  triplet?: TripletOptions | null;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Render sample edits every N steps into output/samples (0 = never). */
  sampleEvery?: number;
  samples?: { image: string; instruction: string }[];
  sampleSteps?: number;
  /** 'error' (default) or 'skip' bad manifest records. */
  onBadRecord?: 'error' | 'skip';
  flipProbability?: number;
  prefetch?: number;
  threads?: number;
  /** Where the models and the training step run: 'cpu' (default) or 'cuda[:N]'. */
  device?: Device;
  /** Continue from output/latest when it exists (default true). */
  resume?: boolean;
}

const KEYS = ['model', 'data', 'output', 'steps', 'batchSize', 'resolution', 'seed', 'lr', 'weightDecay', 'lrSchedule',
  'warmupSteps', 'gradientAccumulation', 'maxGradNorm', 'emaDecay', 'conditioningDropout', 'timestepPower', 'lossWeighting', 'trainTextEncoder', 'textEncoderLr', 'gradientCheckpointing', 'triplet',
  'cacheEncodings', 'crop',
  'checkpointEvery', 'keepCheckpoints', 'sampleEvery', 'samples', 'sampleSteps', 'onBadRecord', 'flipProbability', 'prefetch',
  'threads', 'resume', 'device'];

export interface TrainProgress {
  step: number;
  steps: number;
  result?: StepResult;
  /** Optimizer steps per second over this run (excluding loading). */
  stepsPerSecond: number;
  etaSeconds: number;
  event?: 'checkpoint' | 'samples' | 'resumed';
  detail?: string;
}

export interface RunTrainingOptions {
  onProgress?: (p: TrainProgress) => void;
  /** Stops after the current step, writes a checkpoint and resolves (with `interrupted: true`). */
  signal?: AbortSignal;
}

/** Reads and validates a training config (a file path or an object); relative paths are resolved against the file's folder. */
export function readTrainConfig(input: string | TrainConfig): TrainConfig {
  const op = 'train config';
  let cfg: TrainConfig;
  let base = process.cwd();
  if (typeof input === 'string') {
    let text: string;
    try {
      text = readFileSync(input, 'utf8');
    } catch (e) {
      throw new Error(`${op}: cannot read ${input}: ${(e as Error).message}`);
    }
    try {
      cfg = JSON.parse(text) as TrainConfig;
    } catch (e) {
      throw new Error(`${op}: ${input} is not valid JSON: ${(e as Error).message}`);
    }
    base = path.dirname(path.resolve(input));
  } else {
    cfg = { ...input };
  }
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new TypeError(`${op}: must be a JSON object`);
  checkOptions(cfg, KEYS, op);
  for (const k of ['model', 'data', 'output'] as const) {
    if (typeof cfg[k] !== 'string' || cfg[k] === '') throw new TypeError(`${op}: '${k}' must be a path`);
    cfg[k] = path.resolve(base, cfg[k]);
  }
  integer(cfg.steps, op, 'steps', 1);
  if (cfg.samples !== undefined) {
    if (!Array.isArray(cfg.samples)) throw new TypeError(`${op}: 'samples' must be a list of {image, instruction}`);
    cfg.samples = cfg.samples.map((s, i) => {
      checkOptions(s, ['image', 'instruction'], `${op}: samples[${i}]`);
      if (typeof s.image !== 'string' || typeof s.instruction !== 'string') throw new TypeError(`${op}: samples[${i}] needs image and instruction strings`);
      return { image: path.resolve(base, s.image), instruction: s.instruction };
    });
  }
  for (const k of ['checkpointEvery', 'keepCheckpoints', 'sampleEvery', 'sampleSteps', 'threads', 'prefetch'] as const) {
    if (cfg[k] !== undefined) integer(cfg[k], op, k, k === 'threads' || k === 'sampleSteps' ? 1 : 0);
  }
  if (cfg.flipProbability !== undefined) finiteNumber(cfg.flipProbability, op, 'flipProbability');
  if (cfg.trainTextEncoder !== undefined && typeof cfg.trainTextEncoder !== 'boolean') throw new TypeError(`${op}: 'trainTextEncoder' must be true or false`);
  if (cfg.device !== undefined) checkDevice(cfg.device, op);
  return cfg;
}

async function appendLine(file: string, obj: unknown): Promise<void> {
  await fsp.appendFile(file, `${JSON.stringify(obj)}\n`);
}

/** Runs (or resumes) a training run. Resolves when `steps` is reached or the signal stopped it. */
export async function runTraining(input: string | TrainConfig, options: RunTrainingOptions = {}): Promise<{ step: number; interrupted: boolean; output: string }> {
  const cfg = readTrainConfig(input);
  if (cfg.threads !== undefined) setNumThreads(cfg.threads);
  const schedulerFile = path.join(cfg.model, 'scheduler', 'scheduler_config.json');
  let schedulerConfig: SchedulerConfig;
  try {
    schedulerConfig = JSON.parse(readFileSync(schedulerFile, 'utf8')) as SchedulerConfig;
  } catch (e) {
    throw new Error(`train: cannot read ${schedulerFile}: ${(e as Error).message}`);
  }
  const device = cfg.device ?? 'cpu';
  const tokenizer = await CLIPTokenizer.fromPretrained(cfg.model);
  const textEncoder = await CLIPTextModel.fromPretrained(cfg.model, { device });
  // A pixel-space pipeline has no vae/ (model_index.json: "vae": [null, null]).
  const vae = existsSync(path.join(cfg.model, 'vae')) ? await loadAutoencoder(cfg.model, { device }) : null;
  const unet = await UNet2DConditionModel.fromPretrained(cfg.model, { device });
  const seed = cfg.seed ?? 0;
  const loader = await createDataLoader(cfg.data, {
    batchSize: cfg.batchSize ?? 1, resolution: cfg.resolution ?? 256, seed, epochs: Infinity,
    flipProbability: cfg.flipProbability, prefetch: cfg.prefetch, onBadRecord: cfg.onBadRecord ?? 'error', crop: cfg.crop, device,
  });
  const trainer = new Trainer(unet, {
    noiseScheduler: createScheduler(schedulerConfig, { className: 'ddpm' }),
    lr: cfg.lr, weightDecay: cfg.weightDecay, lrSchedule: cfg.lrSchedule, warmupSteps: cfg.warmupSteps,
    totalSteps: cfg.steps, gradientAccumulation: cfg.gradientAccumulation, maxGradNorm: cfg.maxGradNorm,
    emaDecay: cfg.emaDecay, conditioningDropout: cfg.conditioningDropout, gradientCheckpointing: cfg.gradientCheckpointing,
    triplet: cfg.triplet ?? undefined, seed, timestepPower: cfg.timestepPower, lossWeighting: cfg.lossWeighting,
    textEncoder: cfg.trainTextEncoder === true ? textEncoder : undefined, textEncoderLr: cfg.textEncoderLr,
  });
  const encoder = new BatchEncoder({ vae, textEncoder, tokenizer }, { seed, cache: cfg.cacheEncodings === true, textIds: cfg.trainTextEncoder === true });
  await fsp.mkdir(path.join(cfg.output, 'samples'), { recursive: true });
  const metrics = path.join(cfg.output, 'metrics.jsonl');
  const dispose = () => {
    trainer.dispose();
    encoder.dispose();
    unet.dispose();
    vae?.dispose();
    textEncoder.dispose();
  };
  try {
    if (cfg.resume !== false && (await latestCheckpoint(cfg.output))) {
      const st = await loadCheckpoint(cfg.output, trainer);
      if (st.data) loader.setState(st.data as DataLoaderState);
      options.onProgress?.({ step: st.step, steps: cfg.steps, stepsPerSecond: 0, etaSeconds: NaN, event: 'resumed', detail: `step ${st.step}` });
    }
    const save = async () => {
      const dir = await saveCheckpoint(cfg.output, trainer, { keep: cfg.keepCheckpoints ?? 2, data: loader.state() });
      return dir;
    };
    const t0 = performance.now();
    const startStep = trainer.state.step;
    let interrupted = false;
    if (trainer.state.step < cfg.steps) {
      for await (const batch of loader) {
        let res: StepResult;
        const tb = await encoder.encode(batch, trainer.state.microStep);
        try {
          res = await trainer.step(tb);
        } finally {
          disposeTrainBatch(tb);
          batch.dispose();
        }
        const done = trainer.state.step - startStep;
        const sps = done / ((performance.now() - t0) / 1e3);
        await appendLine(metrics, {
          step: res.step, microStep: res.microStep, loss: res.loss, mse: res.mse, triplet: res.triplet,
          tripletActive: res.tripletActive, lr: res.lr, gradNorm: Number.isFinite(res.gradNorm) ? res.gradNorm : null,
          skipped: res.skipped, skipReason: res.skipReason, time: new Date().toISOString(),
        });
        const p: TrainProgress = { step: res.step, steps: cfg.steps, result: res, stepsPerSecond: sps, etaSeconds: sps > 0 ? (cfg.steps - res.step) / sps : NaN };
        options.onProgress?.(p);
        if (res.updated && cfg.checkpointEvery && res.step % cfg.checkpointEvery === 0) {
          options.onProgress?.({ ...p, event: 'checkpoint', detail: await save() });
        }
        if (res.updated && cfg.sampleEvery && cfg.samples?.length && res.step % cfg.sampleEvery === 0) {
          const editor = Editor.fromComponents({ unet, vae, textEncoder, tokenizer, schedulerConfig });
          for (const [i, s] of cfg.samples.entries()) {
            const r = await editor.edit(s.image, s.instruction, { steps: cfg.sampleSteps ?? 20, seed: i, maxPixels: (cfg.resolution ?? 256) ** 2 });
            await r.save(path.join(cfg.output, 'samples', `step-${String(res.step).padStart(7, '0')}-${i}.png`));
            r.dispose();
          }
          options.onProgress?.({ ...p, event: 'samples', detail: path.join(cfg.output, 'samples') });
        }
        if (trainer.state.step >= cfg.steps) break;
        if (options.signal?.aborted) {
          interrupted = true;
          break;
        }
      }
    }
    const dir = await save();
    options.onProgress?.({ step: trainer.state.step, steps: cfg.steps, stepsPerSecond: 0, etaSeconds: 0, event: 'checkpoint', detail: dir });
    return { step: trainer.state.step, interrupted, output: cfg.output };
  } finally {
    dispose();
  }
}
