// Editor: the InstructPix2Pix pipeline (SPEC §1) behind one call. An image and an instruction in,
// the edited image out, from a diffusers pipeline folder (model_index.json, unet/, vae/,
// text_encoder/, tokenizer/, scheduler/). Model work runs on the native stream and worker threads;
// edits are queued, so several calls in flight run one after the other.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { ImageInput, prepareImage } from './image';
import { AutoencoderKL } from './models/vae';
import { autoencoderKind, ImageAutoencoder, latentChannels, loadAutoencoder } from './models/autoencoder';
import { CLIPTextModel } from './models/clip_text';
import { ComputeDType, computeDtype, UNet2DConditionModel } from './models/unet';
import * as ops from './ops';
import { abortError, denoise } from './pipeline/denoise';
import { EditResult } from './pipeline/result';
import { createScheduler, Scheduler, SchedulerClassName, SchedulerConfig, SchedulerShortName } from './schedulers';
import { setNumThreads } from './runtime';
import { randn, Tensor, zeros } from './tensor';
import { CLIPTokenizer } from './text/clip_tokenizer';
import { checkDevice, checkOptions, finiteNumber, integer } from './validate';
import type { Device } from './types';

/** Sampler names accepted by `edit({ scheduler })` (diffusers class names work too). */
export const SCHEDULER_NAMES: Readonly<Record<SchedulerShortName, SchedulerClassName>> = Object.freeze({
  'euler-ancestral': 'EulerAncestralDiscreteScheduler',
  euler: 'EulerDiscreteScheduler',
  ddim: 'DDIMScheduler',
  ddpm: 'DDPMScheduler',
  'dpmpp-2m': 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
});

export interface EditorOptions {
  /** Where the models run: 'cpu' (default) or 'cuda[:N]' (a build with CUDA and a GPU; see backends()). */
  device?: Device;
  /**
   * The UNet's compute dtype: 'float32' (default), or 'float16'/'bfloat16' on CUDA (the text encoder
   * and the VAE compute in float32). Weights of any float dtype are converted on load.
   */
  dtype?: ComputeDType;
  /** CPU threads for the kernels (process-wide; default: all cores). */
  threads?: number;
  /** Weights variant, e.g. 'fp16' (reads *.fp16.safetensors). */
  variant?: string;
  /**
   * A UNet folder to use instead of the pipeline's unet/ — e.g. a training checkpoint's
   * `checkpoint-NNNNNNN/unet_ema` (the pipeline's unet/ folder is then not needed).
   */
  unet?: string;
  /**
   * A text encoder folder to use instead of the pipeline's text_encoder/ — e.g. the
   * `checkpoint-NNNNNNN/text_encoder_ema` of a run that trained its text encoder.
   */
  textEncoder?: string;
  /**
   * Replay the denoising UNet from a CUDA graph (default: true on CUDA; CUDA only). The first step
   * of an image size captures the graph, the others replay it: the same bytes as without, less
   * launch overhead. The graph keeps about one UNet forward's activation memory per image size
   * while the editor lives; pass false to save that memory.
   */
  cudaGraph?: boolean;
}

export interface EditProgress {
  phase: 'encode' | 'denoise' | 'decode';
  /** Denoising steps done so far, and their total. */
  step: number;
  steps: number;
  /** Milliseconds since the edit started running. */
  elapsedMs: number;
}

export interface EditOptions {
  /** Denoising steps (default 20; the reference pipeline's default is 100, its model card uses 10-20). */
  steps?: number;
  /** Text guidance scale s_T (default 7.5). */
  guidanceScale?: number;
  /** Image guidance scale s_I (default 1.5). Guidance is on when guidanceScale > 1 and imageGuidanceScale >= 1. */
  imageGuidanceScale?: number;
  /** Sampler (default: the model's scheduler/scheduler_config.json, Euler ancestral for instruct-pix2pix). */
  scheduler?: SchedulerShortName | SchedulerClassName;
  /** Seed of the initial noise and of the sampler's noise: the same seed gives the same bytes. Default 0. */
  seed?: number;
  /** What the edit should avoid (the unconditional text; default ""). */
  negativePrompt?: string;
  /** Images per call (default 1); each has its own noise. */
  numImages?: number;
  /** Largest pixel count to work at (default 512·512); larger inputs are scaled down, aspect kept. */
  maxPixels?: number;
  /** Initial latents [numImages, 4, h, w] before × initNoiseSigma (replaces the seeded noise). */
  latents?: Tensor;
  /** VAE tiling for large images (default: automatic). */
  tiling?: boolean;
  /**
   * Replays given sampler noise: step i uses stepNoise(i) ([numImages, 4, h, w]) instead of seeded
   * noise. For reproducing another implementation's run (e.g. diffusers with a torch generator).
   */
  stepNoise?: (step: number) => Tensor | undefined;
  onProgress?: (p: EditProgress) => void;
  /** Aborts the edit within one denoising step; its memory is freed and the promise rejects (AbortError). */
  signal?: AbortSignal;
}

/** Edit options a model folder may set as its defaults (instructedit.json: {"editDefaults": {...}}). */
export type EditDefaults = Pick<EditOptions, 'steps' | 'guidanceScale' | 'imageGuidanceScale' | 'scheduler' | 'maxPixels' | 'negativePrompt'>;
const EDIT_DEFAULT_KEYS = ['steps', 'guidanceScale', 'imageGuidanceScale', 'scheduler', 'maxPixels', 'negativePrompt'] as const;

/** Where the built-in ShapeEdit model lives in the installed package (see docs/shapeedit.md). */
export const DEFAULT_MODEL_DIR = path.join(__dirname, '..', 'models', 'shapeedit');

const EDIT_OPTIONS = ['steps', 'guidanceScale', 'imageGuidanceScale', 'scheduler', 'seed', 'negativePrompt', 'numImages',
  'maxPixels', 'latents', 'tiling', 'stepNoise', 'onProgress', 'signal'] as const;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}


export class Editor {
  readonly unet: UNet2DConditionModel;
  /** The autoencoder, or null for a pixel-space model (the UNet denoises RGB in [−1, 1] directly). */
  /** The image autoencoder: SD's VAE, a PixelUnshuffleAutoencoder, or null (pixel space). */
  readonly vae: ImageAutoencoder | null;
  readonly textEncoder: CLIPTextModel;
  readonly tokenizer: CLIPTokenizer;
  /** The pipeline's scheduler config (scheduler/scheduler_config.json). */
  readonly schedulerConfig: SchedulerConfig;
  /** Options used when an edit leaves them out: the model folder's instructedit.json, else none (the documented defaults). */
  readonly editDefaults: Readonly<EditDefaults>;
  /** Whether edits replay the UNet from a CUDA graph (EditorOptions.cudaGraph). */
  readonly cudaGraph: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(parts: { unet: UNet2DConditionModel; vae: ImageAutoencoder | null; textEncoder: CLIPTextModel;
    tokenizer: CLIPTokenizer; schedulerConfig: SchedulerConfig; editDefaults?: EditDefaults; cudaGraph?: boolean }) {
    this.editDefaults = Object.freeze({ ...(parts.editDefaults ?? {}) });
    this.cudaGraph = parts.cudaGraph ?? parts.unet.device.startsWith('cuda');
    this.unet = parts.unet;
    this.vae = parts.vae;
    this.textEncoder = parts.textEncoder;
    this.tokenizer = parts.tokenizer;
    this.schedulerConfig = parts.schedulerConfig;
  }

  /**
   * Loads the built-in editing model shipped with the package: a small pixel-space InstructPix2Pix
   * model trained on ShapeEdit (64×64 scenes of coloured shapes; see docs/shapeedit.md). It works
   * offline and edits in about a second on a laptop CPU. Images are processed at 64×64.
   *
   * ```ts
   * const editor = await Editor.default();
   * const out = await editor.edit('examples/scene.png', 'make the red circle blue');
   * await out.save('out.png');
   * ```
   */
  static async default(options: Omit<EditorOptions, 'unet' | 'variant'> = {}): Promise<Editor> {
    if (!existsSync(path.join(DEFAULT_MODEL_DIR, 'model_index.json'))) {
      throw new Error(`Editor.default: the built-in model is missing from this install (expected ${DEFAULT_MODEL_DIR}); reinstall instructedit or pass a model folder to Editor.fromPretrained`);
    }
    checkOptions(options, ['device', 'dtype', 'threads', 'cudaGraph'], 'Editor.default');
    return Editor.fromPretrained(DEFAULT_MODEL_DIR, options);
  }

  /**
   * Loads an InstructPix2Pix pipeline from a diffusers folder (e.g. a download of
   * timbrooks/instruct-pix2pix): unet/, vae/, text_encoder/, tokenizer/, scheduler/. A missing or
   * corrupt component rejects with an error naming it.
   */
  static async fromPretrained(dir: string, options: EditorOptions = {}): Promise<Editor> {
    const op = 'Editor.fromPretrained';
    if (typeof dir !== 'string' || dir === '') throw new TypeError(`${op}: dir must be a non-empty string`);
    checkOptions(options, ['device', 'dtype', 'threads', 'variant', 'unet', 'textEncoder', 'cudaGraph'], op);
    const device = options.device === undefined ? 'cpu' : (checkDevice(options.device, op) as Device);
    computeDtype(options, op);
    checkCudaGraph(options.cudaGraph, String(device), op);
    if (options.threads !== undefined) setNumThreads(integer(options.threads, op, 'threads', 1));
    if (!isDir(dir)) throw new Error(`${op}: ${dir} is not a folder (expected a diffusers pipeline folder)`);
    if (options.unet !== undefined && (typeof options.unet !== 'string' || !isDir(options.unet))) {
      throw new Error(`${op}: unet ${String(options.unet)} is not a folder (expected a UNet folder with config.json)`);
    }
    if (options.textEncoder !== undefined && (typeof options.textEncoder !== 'string' || !isDir(options.textEncoder))) {
      throw new Error(`${op}: textEncoder ${String(options.textEncoder)} is not a folder (expected a text encoder folder with config.json)`);
    }
    const pixelSpace = autoencoderKind(dir) === null;
    for (const c of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) {
      if (c === 'unet' && options.unet !== undefined) continue;
      if (c === 'text_encoder' && options.textEncoder !== undefined) continue;
      if (c === 'vae' && pixelSpace) continue;
      if (!isDir(path.join(dir, c))) {
        throw new Error(`${op}: ${dir} has no ${c}/ folder (an InstructPix2Pix pipeline needs unet/, vae/, text_encoder/, tokenizer/ and scheduler/)`);
      }
    }
    const schedulerConfig = readSchedulerConfig(path.join(dir, 'scheduler'), op);
    createScheduler(schedulerConfig); // validates the config now rather than at the first edit
    const variant = options.variant;
    const tag = (what: string) => (e: unknown) => {
      const err = e as Error;
      err.message = `${op}: ${what}: ${err.message}`;
      throw err;
    };
    const tokenizer = await Promise.resolve().then(() => CLIPTokenizer.fromPretrained(path.join(dir, 'tokenizer'))).catch(tag('tokenizer'));
    const loaded: { dispose(): void }[] = [];
    try {
      const textEncoder = await CLIPTextModel.fromPretrained(options.textEncoder ?? path.join(dir, 'text_encoder'),
        { variant: options.textEncoder ? undefined : variant, device }).catch(tag('text_encoder'));
      loaded.push(textEncoder);
      const vae = await loadAutoencoder(dir, { variant, device }).catch(tag('vae'));
      if (vae) loaded.push(vae);
      const unet = await UNet2DConditionModel.fromPretrained(options.unet ?? path.join(dir, 'unet'), { variant: options.unet ? undefined : variant, device, dtype: options.dtype })
        .catch(tag('unet'));
      loaded.push(unet);
      checkUNetChannels(unet, latentChannels(vae), op);
      return new Editor({ unet, vae, textEncoder, tokenizer, schedulerConfig, editDefaults: readEditDefaults(dir, op),
        cudaGraph: options.cudaGraph });
    } catch (e) {
      for (const m of loaded) m.dispose();
      throw e;
    }
  }

  /** Builds an Editor from loaded components (e.g. randomly initialised ones for a benchmark). */
  static fromComponents(parts: { unet: UNet2DConditionModel; vae: ImageAutoencoder | null; textEncoder: CLIPTextModel;
    tokenizer: CLIPTokenizer; schedulerConfig: SchedulerConfig; editDefaults?: EditDefaults; cudaGraph?: boolean }): Editor {
    createScheduler(parts.schedulerConfig);
    checkCudaGraph(parts.cudaGraph, parts.unet.device, 'Editor.fromComponents');
    if (parts.editDefaults !== undefined) checkOptions(parts.editDefaults, EDIT_DEFAULT_KEYS, 'Editor.fromComponents: editDefaults');
    checkUNetChannels(parts.unet, latentChannels(parts.vae), 'Editor.fromComponents');
    return new Editor(parts);
  }

  #scheduler(name: string | undefined, op: string): Scheduler {
    if (name === undefined) return createScheduler(this.schedulerConfig);
    const known = Object.keys(SCHEDULER_NAMES).includes(name) || Object.values(SCHEDULER_NAMES).includes(name as SchedulerClassName);
    if (!known) {
      throw new Error(`${op}: unknown scheduler '${name}' (use one of ${Object.keys(SCHEDULER_NAMES).join(', ')} or a diffusers class name)`);
    }
    // diffusers' Cls.from_config(pipeline.scheduler.config): the model's schedule, another sampler.
    return createScheduler(this.schedulerConfig, { className: name as SchedulerShortName });
  }

  /**
   * Edits `image` as `instruction` says. Resolves to the result (PNG/JPEG/raw encoders, the image
   * tensor and the final latents). The same inputs and seed give the same bytes.
   *
   * ```ts
   * const editor = await Editor.fromPretrained('instruct-pix2pix');
   * const out = await editor.edit('photo.jpg', 'make it snow', { steps: 20, seed: 1 });
   * await out.save('snow.png');
   * ```
   */
  edit(image: ImageInput, instruction: string, options: EditOptions = {}): Promise<EditResult> {
    const op = 'Editor.edit';
    try {
      this.#validate(image, instruction, options, op);
      options = { ...this.editDefaults, ...withoutUndefined(options) };
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.#queue.then(() => this.#edit(image, instruction, options, op));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #validate(image: ImageInput, instruction: string, o: EditOptions, op: string): void {
    if (this.#disposed) throw new Error(`${op}: the editor has been disposed`);
    if (image === undefined || image === null) throw new TypeError(`${op}: image is required (a path, Buffer, sharp instance or Tensor)`);
    if (typeof instruction !== 'string') throw new TypeError(`${op}: instruction must be a string, got ${typeof instruction}`);
    checkOptions(o, EDIT_OPTIONS, op);
    if (o.steps !== undefined) integer(o.steps, op, 'steps', 1);
    if (o.guidanceScale !== undefined) finiteNumber(o.guidanceScale, op, 'guidanceScale');
    if (o.imageGuidanceScale !== undefined) finiteNumber(o.imageGuidanceScale, op, 'imageGuidanceScale');
    if (o.seed !== undefined) integer(o.seed, op, 'seed', 0);
    if (o.numImages !== undefined) integer(o.numImages, op, 'numImages', 1);
    if (o.maxPixels !== undefined) integer(o.maxPixels, op, 'maxPixels', 64);
    if (o.negativePrompt !== undefined && typeof o.negativePrompt !== 'string') throw new TypeError(`${op}: negativePrompt must be a string`);
    if (o.scheduler !== undefined && typeof o.scheduler !== 'string') throw new TypeError(`${op}: scheduler must be a name such as 'euler_ancestral'`);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`${op}: onProgress must be a function`);
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError(`${op}: signal must be an AbortSignal`);
    if (o.latents !== undefined && !(o.latents instanceof Tensor)) throw new TypeError(`${op}: latents must be a Tensor`);
    if (o.tiling !== undefined && typeof o.tiling !== 'boolean') throw new TypeError(`${op}: tiling must be a boolean`);
    if (o.stepNoise !== undefined && typeof o.stepNoise !== 'function') throw new TypeError(`${op}: stepNoise must be a function`);
    if (o.scheduler !== undefined) this.#scheduler(o.scheduler, op);
  }

  async #edit(image: ImageInput, instruction: string, o: EditOptions, op: string): Promise<EditResult> {
    if (this.#disposed) throw new Error(`${op}: the editor has been disposed`);
    const signal = o.signal;
    if (signal?.aborted) throw abortError(op);
    const started = performance.now();
    const steps = o.steps ?? 20;
    const sT = o.guidanceScale ?? 7.5;
    const sI = o.imageGuidanceScale ?? 1.5;
    const seed = o.seed ?? 0;
    const n = o.numImages ?? 1;
    const guidance = sT > 1 && sI >= 1;
    const progress = (phase: EditProgress['phase'], step: number) =>
      o.onProgress?.({ phase, step, steps, elapsedMs: performance.now() - started });
    const scheduler = this.#scheduler(o.scheduler, op);
    const owned: Tensor[] = [];
    const own = <T extends Tensor>(t: T): T => {
      owned.push(t);
      return t;
    };
    try {
      progress('encode', 0);
      // Sizes in multiples of the VAE's downscale factor (8 for SD's VAE), as diffusers rounds them.
      const vae = this.vae;
      const f = vae ? vae.downscaleFactor : 1;
      const C = latentChannels(vae);
      const img = await prepareImage(image, { maxPixels: o.maxPixels, multipleOf: f }, op);
      if (!(image instanceof Tensor)) own(img.pixels);
      const h = img.height / f;
      const w = img.width / f;
      if (o.latents && (o.latents.shape.length !== 4 || o.latents.shape[0] !== n || o.latents.shape[1] !== C ||
          o.latents.shape[2] !== h || o.latents.shape[3] !== w)) {
        throw new Error(`${op}: latents must be [${n}, ${C}, ${h}, ${w}] for this image, got [${o.latents.shape.join(', ')}]`);
      }

      // Text: [cond × n, uncond × n, uncond × n] (diffusers' order).
      const ids = this.tokenizer.encodeBatch([instruction, o.negativePrompt ?? '']);
      const enc = await this.textEncoder.forward(ids, { signal });
      for (const t of Object.values(enc)) if (t instanceof Tensor) own(t);
      const [cond, uncond] = ops.split(own(enc.lastHiddenState), [1, 1], 0).map(own);
      const rep = (t: Tensor, k: number) => (k === 1 ? t : own(ops.concat(Array(k).fill(t), 0)));
      const promptEmbeds = guidance
        ? own(ops.concat([rep(cond, n), rep(uncond, n), rep(uncond, n)], 0))
        : rep(cond, n);

      // Image: m = VAE mean of 2x − 1, unscaled (pixel space: 2x − 1 itself); [m × n, m × n, 0 × n].
      // Everything follows the UNet's device: the decoded image moves there once.
      const device = this.unet.device;
      const pixels = img.pixels.device === device ? img.pixels : own(img.pixels.to(device));
      const x = own(ops.scale(pixels, 2, -1));
      let mean = x;
      if (vae) {
        const dist = vae instanceof AutoencoderKL ? await vae.encode(x, { signal, tiling: o.tiling }) : await vae.encode(x, { signal });
        for (const t of Object.values(dist)) if (t instanceof Tensor) own(t);
        mean = dist.mean;
      }
      const m = rep(mean, n);
      const imageLatents = guidance ? own(ops.concat([m, m, own(zeros(m.shape as number[], { device }))], 0)) : m;

      // Initial latents.
      scheduler.setTimesteps(steps);
      const init = o.latents ? (o.latents.device === device ? o.latents : own(o.latents.to(device)))
        : own(randn([n, C, h, w], { seed, device }));
      const latents0 = own(ops.scale(init, scheduler.initNoiseSigma, 0));
      progress('denoise', 0);
      const latents = own(await denoise({
        unet: this.unet, scheduler, promptEmbeds, imageLatents, latents: latents0, guidance,
        guidanceScale: sT, imageGuidanceScale: sI, seed, signal, stepNoise: o.stepNoise,
        onStep: (p) => progress('denoise', p.step), cudaGraph: this.cudaGraph,
      }));

      progress('decode', steps);
      let decoded = latents;
      if (vae) {
        const z = own(ops.scale(latents, 1 / vae.scalingFactor, 0));
        decoded = own(vae instanceof AutoencoderKL ? await vae.decode(z, { signal, tiling: o.tiling }) : await vae.decode(z, { signal }));
      }
      const images = ops.scale(decoded, 0.5, 0.5); // clamped to [0, 1] when encoded
      owned.splice(owned.indexOf(latents), 1);
      return new EditResult(images, latents, img.width, img.height);
    } catch (e) {
      if (signal?.aborted) throw abortError(op);
      throw e;
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** Frees the models once queued edits have finished. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue;
    this.unet.dispose();
    this.vae?.dispose();
    this.textEncoder.dispose();
  }
}

/** Validates EditorOptions.cudaGraph: a boolean, and true only with a CUDA device. */
function checkCudaGraph(v: unknown, device: string, op: string): void {
  if (v === undefined) return;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: cudaGraph must be a boolean, got ${typeof v}`);
  if (v && !device.startsWith('cuda')) {
    throw new Error(`${op}: cudaGraph replays the UNet on CUDA only; the device is ${device} (leave cudaGraph off)`);
  }
}

function checkUNetChannels(unet: UNet2DConditionModel, c: number, op: string): void {
  const inC = Number(unet.config.in_channels);
  const outC = Number(unet.config.out_channels);
  if (inC !== 2 * c || outC !== c) {
    throw new Error(`${op}: unet has ${inC} input / ${outC} output channels; an InstructPix2Pix UNet over ${c}-channel ` +
      `${c === 3 ? 'pixels' : 'latents'} has ${2 * c} (noisy + image) in and ${c} out`);
  }
}


function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The model folder's optional instructedit.json: {"editDefaults": {steps, guidanceScale, ...}}. */
function readEditDefaults(dir: string, op: string): EditDefaults {
  const file = path.join(dir, 'instructedit.json');
  if (!existsSync(file)) return {};
  let cfg: { editDefaults?: EditDefaults };
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as { editDefaults?: EditDefaults };
  } catch (e) {
    throw new Error(`${op}: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  checkOptions(cfg, ['editDefaults', '_comment'], `${op}: ${file}`);
  const d = cfg.editDefaults ?? {};
  const where = `${op}: ${file} editDefaults`;
  checkOptions(d, EDIT_DEFAULT_KEYS, where);
  if (d.steps !== undefined) integer(d.steps, where, 'steps', 1);
  if (d.guidanceScale !== undefined) finiteNumber(d.guidanceScale, where, 'guidanceScale');
  if (d.imageGuidanceScale !== undefined) finiteNumber(d.imageGuidanceScale, where, 'imageGuidanceScale');
  if (d.maxPixels !== undefined) integer(d.maxPixels, where, 'maxPixels', 64);
  if (d.scheduler !== undefined && typeof d.scheduler !== 'string') throw new TypeError(`${where}: scheduler must be a name`);
  if (d.negativePrompt !== undefined && typeof d.negativePrompt !== 'string') throw new TypeError(`${where}: negativePrompt must be a string`);
  return d;
}

function readSchedulerConfig(dir: string, op: string): SchedulerConfig {
  const file = path.join(dir, 'scheduler_config.json');
  if (!existsSync(file)) throw new Error(`${op}: no scheduler_config.json in ${dir}`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SchedulerConfig;
  } catch (e) {
    throw new Error(`${op}: ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

