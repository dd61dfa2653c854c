// Trainer: InstructPix2Pix fine-tuning of a UNet with SuperEdit's triplet loss, on the native
// kernels. One `step(batch)` = one micro-batch: noise, per-sample timesteps, conditioning dropout,
// one UNet forward at batch 2B ([positive, negative] instructions) with its backward, the fused
// triplet + MSE loss; every `gradientAccumulation` micro-batches: global-norm clipping, a
// non-finite guard, fused AdamW on the flat parameter buffer and an EMA update.
//
// Randomness is a pure function of (seed, micro-step): the noise comes from Philox streams keyed by
// the step, the per-sample draws (timesteps, dropout) from a small counter-based hash. So a run
// resumed from a checkpoint reproduces the uninterrupted run exactly.
import { CLIPTextModel } from '../models/clip_text';
import type { TokenIds } from '../text/clip_tokenizer';
import { UNet2DConditionModel } from '../models/unet';
import * as ops from '../ops';
import { Scheduler } from '../schedulers';
import { randn, Tensor, tensor, zeros } from '../tensor';
import { checkOptions, finiteNumber, integer } from '../validate';

export type LRSchedule = 'constant' | 'warmup' | 'cosine';

export interface TripletOptions {
  /** Margin of relu(d_pos − d_neg + margin) (default 5e-4, SuperEdit's release). */
  margin?: number;
  /** Weight w of the triplet term in loss = mse + w·triplet (default 1). */
  weight?: number;
  /** Optimizer step from which the triplet term is on (default 0; SuperEdit used 2000). */
  startStep?: number;
  /** Per-sample distance: mean square (default, SuperEdit's release) or the L2 norm (earlier code). */
  distance?: 'mse' | 'l2';
  /** SuperEdit's --triplet_loss_threshold: hinges below it are zeroed (default 0 = off). */
  hingeThreshold?: number;
  /** No triplet gradient into the positive branch (it still gets the MSE gradient). Default false. */
  stopGradPositive?: boolean;
}

export interface TrainerOptions {
  /** The noise schedule for training (a DDPM-style config: add_noise, prediction type). */
  noiseScheduler: Scheduler;
  /** Peak learning rate (default 1e-4). */
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (default 1e-2, as torch.optim.AdamW). */
  weightDecay?: number;
  lrSchedule?: LRSchedule;
  warmupSteps?: number;
  /** Total optimizer steps (the cosine schedule's length). */
  totalSteps?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradientAccumulation?: number;
  /** Global-norm clipping threshold (default 1; 0 or Infinity = off). */
  maxGradNorm?: number;
  /** EMA of the weights (decay, e.g. 0.9999); off when undefined. */
  emaDecay?: number;
  /** InstructPix2Pix conditioning dropout probability p (default 0.05): text only, image only, both, each with p. */
  conditioningDropout?: number;
  /** The triplet term; off when undefined (plain InstructPix2Pix training). */
  triplet?: TripletOptions;
  /** Gradient checkpointing in the UNet (less memory, ~1.3× compute). */
  gradientCheckpointing?: boolean;
  /** Seed of all training randomness (default 0). */
  seed?: number;
  /**
   * Timestep sampling: 1 (default) draws t uniformly; p > 1 draws t = T − 1 − ⌊u^p·T⌋, which puts
   * more samples at high noise (p = 3: 46% of them have t ≥ 900 of 1000) — for few-step samplers
   * and x0 prediction, where the first, noisiest step decides the result.
   */
  timestepPower?: number;
  /**
   * Per-sample loss weights: 'none' (default) or 'edit', which weights each sample by the inverse of
   * how much its edit changes the image, w ∝ 1 / (mean((target − source)²) + 1e-3), normalised to
   * mean 1 over the batch. Without it a whole-image edit (a new background) outweighs a small object
   * edit ~30:1 in the MSE and the gradient; with it every edit counts alike. Applied to the triplet
   * term too (both predictions and the target are scaled by √w, so its distances are weighted alike).
   */
  lossWeighting?: 'none' | 'edit';
  /**
   * Train this text encoder together with the UNet (InstructPix2Pix freezes it; a model trained
   * from scratch needs its text learnt). Batches then carry token ids (`inputIds`, `nullIds`,
   * `negativeIds`) instead of text states: the encoder runs forward and backward inside each step,
   * with its own AdamW moments and EMA, and its gradients count in the global clipping norm.
   */
  textEncoder?: CLIPTextModel;
  /** Peak learning rate of the text encoder (default: lr). */
  textEncoderLr?: number;
}

/**
 * One micro-batch, already encoded by the frozen VAE (and the frozen text encoder, or as token ids
 * when the Trainer trains its textEncoder).
 */
export interface TrainBatch {
  /** Target image latents [B, 4, h, w], scaled by the VAE's scaling factor (what the UNet denoises). */
  latents: Tensor;
  /** Source image latents [B, 4, h, w]: the VAE mean, unscaled (the pix2pix conditioning). */
  imageLatents: Tensor;
  /** Text states of the correct instructions [B, L, D] (frozen text encoder). */
  textEmbeds?: Tensor;
  /** Text states of the negative instructions [B, L, D] (needed when the triplet term is on). */
  negativeEmbeds?: Tensor;
  /** Text states of the empty prompt [1, L, D] (what conditioning dropout substitutes). */
  nullTextEmbeds?: Tensor;
  /** Trained text encoder: token ids of the instructions [B, L], of the negatives, and of the empty prompt [1, L]. */
  inputIds?: TokenIds;
  negativeIds?: TokenIds;
  nullIds?: TokenIds;
}

export interface StepResult {
  /** Micro-steps done so far (1-based after this call) and optimizer steps. */
  microStep: number;
  step: number;
  /** Whether this call ended with an optimizer update (or a skipped one). */
  updated: boolean;
  loss: number;
  mse: number;
  triplet: number;
  /** Samples whose triplet term was active (hinge > 0) / counted (text not dropped). */
  tripletActive: number;
  tripletCounted: number;
  /** Gradient norm before clipping (optimizer steps only; NaN otherwise). */
  gradNorm: number;
  lr: number;
  /** A step whose loss or gradients were not finite: no update was made. */
  skipped: boolean;
  skipReason?: string;
}

/** The resumable part of a trainer (what a checkpoint stores besides the tensors). */
export interface TrainerState {
  microStep: number;
  step: number;
  seed: number;
}

// A counter-based hash to uniform [0, 1): splitmix64 over (seed, step, stream, i). Cheap, no state.
function hashUniform(seed: number, step: number, stream: number, i: number): number {
  let x = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(step) * 0xbf58476d1ce4e5b9n + BigInt(stream) * 0x94d049bb133111ebn + BigInt(i)) &
    0xffffffffffffffffn;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  x ^= x >> 31n;
  return Number(x >> 11n) / 2 ** 53;
}

function checkTimestepPower(v: unknown, op: string): number {
  const p = finiteNumber(v ?? 1, op, 'timestepPower');
  if (!(p >= 1 && p <= 100)) throw new RangeError(`${op}: timestepPower must be in [1, 100], got ${p}`);
  return p;
}

function checkLossWeighting(v: unknown, op: string): 'none' | 'edit' {
  if (v === undefined || v === 'none' || v === 'edit') return v ?? 'none';
  throw new RangeError(`${op}: lossWeighting must be 'none' or 'edit', got ${JSON.stringify(v)}`);
}

/** lossWeighting 'edit': √w per sample, w = (1 / (mean((latents − image)²) + 1e-3)) normalised to mean 1. */
async function editWeightRoots(latents: Tensor, image: Tensor): Promise<number[]> {
  const diff = ops.binary('sub', latents, image);
  const sq = ops.binary('mul', diff, diff);
  const m = ops.mean(sq, { axes: [1, 2, 3] });
  const d = await m.toArray();
  for (const t of [diff, sq, m]) t.dispose();
  const inv = Array.from(d, (v) => 1 / (v + 1e-3));
  const avg = inv.reduce((a, b) => a + b, 0) / inv.length;
  return inv.map((v) => Math.sqrt(v / avg));
}

const OPTIONS = ['noiseScheduler', 'lr', 'betas', 'eps', 'weightDecay', 'lrSchedule', 'warmupSteps', 'totalSteps',
  'gradientAccumulation', 'maxGradNorm', 'emaDecay', 'conditioningDropout', 'triplet', 'gradientCheckpointing', 'seed', 'timestepPower', 'lossWeighting', 'textEncoder', 'textEncoderLr'] as const;
const TRIPLET_OPTIONS = ['margin', 'weight', 'startStep', 'distance', 'hingeThreshold', 'stopGradPositive'] as const;

export class Trainer {
  readonly unet: UNet2DConditionModel;
  /** The text encoder trained alongside (TrainerOptions.textEncoder), or null. */
  readonly textEncoder: CLIPTextModel | null;
  readonly options: Readonly<Required<Omit<TrainerOptions, 'triplet' | 'emaDecay' | 'noiseScheduler' | 'textEncoder'>>> & {
    triplet?: Required<Omit<TripletOptions, 'hingeThreshold'>> & { hingeThreshold?: number };
    emaDecay?: number;
  };
  readonly noiseScheduler: Scheduler;
  #m: Tensor;
  #v: Tensor;
  #ema: Tensor | null;
  // The text encoder's AdamW moments and EMA (with textEncoder).
  #tm: Tensor | null = null;
  #tv: Tensor | null = null;
  #tema: Tensor | null = null;
  #microStep = 0;
  #step = 0;
  #busy = false;

  constructor(unet: UNet2DConditionModel, options: TrainerOptions) {
    const op = 'Trainer';
    if (!(unet instanceof UNet2DConditionModel)) throw new TypeError(`${op}: unet must be a UNet2DConditionModel`);
    checkOptions(options, OPTIONS, op);
    if (!(options?.noiseScheduler instanceof Scheduler)) throw new TypeError(`${op}: noiseScheduler (a Scheduler, e.g. DDPM) is required`);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => !(b >= 0 && b < 1))) {
      throw new RangeError(`${op}: betas must be two numbers in [0, 1)`);
    }
    const lrSchedule = options.lrSchedule ?? 'constant';
    if (!['constant', 'warmup', 'cosine'].includes(lrSchedule)) {
      throw new RangeError(`${op}: lrSchedule must be 'constant', 'warmup' or 'cosine', got '${String(lrSchedule)}'`);
    }
    let triplet: Trainer['options']['triplet'];
    if (options.triplet !== undefined) {
      const t = options.triplet;
      checkOptions(t, TRIPLET_OPTIONS, `${op}: triplet`);
      const distance = t.distance ?? 'mse';
      if (distance !== 'mse' && distance !== 'l2') throw new RangeError(`${op}: triplet.distance must be 'mse' or 'l2'`);
      triplet = {
        margin: finiteNumber(t.margin ?? 5e-4, op, 'triplet.margin'),
        weight: finiteNumber(t.weight ?? 1, op, 'triplet.weight'),
        startStep: integer(t.startStep ?? 0, op, 'triplet.startStep', 0),
        distance,
        stopGradPositive: t.stopGradPositive === true,
        hingeThreshold: t.hingeThreshold === undefined ? undefined : finiteNumber(t.hingeThreshold, op, 'triplet.hingeThreshold'),
      };
    }
    const p = options.conditioningDropout ?? 0.05;
    if (!(p >= 0 && p <= 1 / 3)) throw new RangeError(`${op}: conditioningDropout must be in [0, 1/3], got ${String(p)}`);
    const emaDecay = options.emaDecay === undefined ? undefined : finiteNumber(options.emaDecay, op, 'emaDecay');
    if (emaDecay !== undefined && !(emaDecay >= 0 && emaDecay < 1)) throw new RangeError(`${op}: emaDecay must be in [0, 1)`);
    this.options = Object.freeze({
      lr: finiteNumber(options.lr ?? 1e-4, op, 'lr'),
      betas: [betas[0], betas[1]] as [number, number],
      eps: finiteNumber(options.eps ?? 1e-8, op, 'eps'),
      weightDecay: finiteNumber(options.weightDecay ?? 1e-2, op, 'weightDecay'),
      lrSchedule,
      warmupSteps: integer(options.warmupSteps ?? 0, op, 'warmupSteps', 0),
      totalSteps: integer(options.totalSteps ?? 0, op, 'totalSteps', 0),
      gradientAccumulation: integer(options.gradientAccumulation ?? 1, op, 'gradientAccumulation', 1),
      maxGradNorm: options.maxGradNorm === Infinity ? 0 : finiteNumber(options.maxGradNorm ?? 1, op, 'maxGradNorm'),
      conditioningDropout: p,
      gradientCheckpointing: options.gradientCheckpointing === true,
      seed: integer(options.seed ?? 0, op, 'seed', 0),
      timestepPower: checkTimestepPower(options.timestepPower, op),
      lossWeighting: checkLossWeighting(options.lossWeighting, op),
      textEncoderLr: finiteNumber(options.textEncoderLr ?? options.lr ?? 1e-4, op, 'textEncoderLr'),
      triplet,
      emaDecay,
    });
    if (lrSchedule === 'cosine' && this.options.totalSteps <= this.options.warmupSteps) {
      throw new RangeError(`${op}: the cosine schedule needs totalSteps > warmupSteps`);
    }
    this.unet = unet;
    this.noiseScheduler = options.noiseScheduler;
    const n = unet.flatParameters().shape[0];
    // Optimizer state lives with the parameters (the UNet's device).
    this.#m = zeros([n], { device: unet.device });
    this.#v = zeros([n], { device: unet.device });
    this.#ema = emaDecay === undefined ? null : unet.flatParameters().clone();
    if (options.textEncoder !== undefined && !(options.textEncoder instanceof CLIPTextModel)) {
      throw new TypeError(`${op}: textEncoder must be a CLIPTextModel`);
    }
    this.textEncoder = options.textEncoder ?? null;
    if (this.textEncoder) {
      const te = this.textEncoder.flatParameters();
      const tn = te.shape[0];
      const dev = te.device;
      this.#tm = zeros([tn], { device: dev });
      this.#tv = zeros([tn], { device: dev });
      this.#tema = emaDecay === undefined ? null : te.clone();
      te.dispose();
    }
  }

  /** Micro-steps and optimizer steps done. */
  get state(): TrainerState {
    return { microStep: this.#microStep, step: this.#step, seed: this.options.seed };
  }

  /** The learning rate of optimizer step `step` (0-based) under the schedule. */
  lrAt(step: number): number {
    const o = this.options;
    const warm = o.warmupSteps > 0 && step < o.warmupSteps ? (step + 1) / o.warmupSteps : 1;
    if (o.lrSchedule === 'constant') return o.lr;
    if (o.lrSchedule === 'warmup') return o.lr * warm;
    if (step < o.warmupSteps) return o.lr * warm;
    const t = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
    return o.lr * 0.5 * (1 + Math.cos(Math.PI * t));
  }

  /** The EMA weights as a flat buffer (same layout as the UNet's), or null without EMA. */
  emaParameters(): Tensor | null {
    return this.#ema;
  }

  /** AdamW's moment buffers (flat, the parameters' layout). */
  optimizerState(): { m: Tensor; v: Tensor } {
    return { m: this.#m, v: this.#v };
  }

  /** The trained text encoder's EMA weights (flat), or null (no textEncoder or no EMA). */
  textEncoderEmaParameters(): Tensor | null {
    return this.#tema;
  }

  /** The trained text encoder's AdamW moments, or null without a textEncoder. */
  textEncoderOptimizerState(): { m: Tensor; v: Tensor } | null {
    return this.#tm && this.#tv ? { m: this.#tm, v: this.#tv } : null;
  }

  /** Restores a checkpoint's state (the UNet's weights are loaded separately). */
  restore(state: TrainerState, tensors: { m: Tensor; v: Tensor; ema?: Tensor | null; textM?: Tensor; textV?: Tensor; textEma?: Tensor | null }): void {
    const op = 'Trainer.restore';
    const n = this.#m.shape[0];
    const tn = this.#tm ? this.#tm.shape[0] : 0;
    for (const [k, t] of Object.entries(tensors)) {
      const want = k.startsWith('text') ? tn : n;
      if (t && (t.shape.length !== 1 || t.shape[0] !== want)) throw new Error(`${op}: ${k} has shape [${t.shape.join(', ')}], expected [${want}]`);
    }
    if (this.#tm && (!tensors.textM || !tensors.textV)) throw new Error(`${op}: the checkpoint has no text encoder optimizer state (was it trained with a frozen text encoder?)`);
    if (this.#tm && tensors.textM && tensors.textV) {
      ops.assign(this.#tm, tensors.textM);
      ops.assign(this.#tv!, tensors.textV);
      if (this.#tema && tensors.textEma) ops.assign(this.#tema, tensors.textEma);
    }
    if (state.seed !== this.options.seed) throw new Error(`${op}: the checkpoint was trained with seed ${state.seed}, this trainer has ${this.options.seed}`);
    ops.assign(this.#m, tensors.m);
    ops.assign(this.#v, tensors.v);
    if (this.#ema && tensors.ema) ops.assign(this.#ema, tensors.ema);
    this.#microStep = integer(state.microStep, op, 'microStep', 0);
    this.#step = integer(state.step, op, 'step', 0);
  }

  /**
   * One micro-batch. Resolves once its backward has run (and, every gradientAccumulation calls,
   * the optimizer update); returns the loss terms. Calls must not overlap.
   */
  async step(batch: TrainBatch): Promise<StepResult> {
    const op = 'Trainer.step';
    if (this.#busy) throw new Error(`${op}: the previous step has not finished (await it first)`);
    this.#busy = true;
    try {
      return await this.#run(batch, op);
    } finally {
      this.#busy = false;
    }
  }

  async #run(b: TrainBatch, op: string): Promise<StepResult> {
    const o = this.options;
    const te = this.textEncoder;
    for (const k of te ? ['latents', 'imageLatents'] as const : ['latents', 'imageLatents', 'textEmbeds', 'nullTextEmbeds'] as const) {
      if (!(b?.[k] instanceof Tensor)) throw new TypeError(`${op}: batch.${k} must be a Tensor`);
    }
    const B = b.latents.shape[0];
    const tripletOn = o.triplet !== undefined && this.#step >= o.triplet.startStep;
    if (te) {
      for (const k of ['inputIds', 'nullIds'] as const) {
        if (!(b[k]?.ids instanceof Int32Array)) throw new TypeError(`${op}: batch.${k} (token ids) is required when the Trainer trains its textEncoder`);
      }
      if (b.inputIds!.shape[0] !== B) throw new Error(`${op}: batch.inputIds has ${b.inputIds!.shape[0]} rows, the latents ${B}`);
      if (tripletOn && !b.negativeIds) throw new TypeError(`${op}: batch.negativeIds is required while the triplet term is on`);
    } else if (tripletOn && !(b.negativeEmbeds instanceof Tensor)) {
      throw new TypeError(`${op}: batch.negativeEmbeds is required while the triplet term is on`);
    }
    const micro = this.#microStep;
    const seed = o.seed;
    const owned: Tensor[] = [];
    const own = (t: Tensor): Tensor => {
      owned.push(t);
      return t;
    };
    try {
      // Per-sample timesteps and InstructPix2Pix conditioning dropout (diffusers' script):
      // r < p: text dropped; p <= r < 2p: both dropped; 2p <= r < 3p: image dropped.
      const T = Number(this.noiseScheduler.config.num_train_timesteps ?? 1000);
      const ts: number[] = [];
      const textKeep: number[] = [];
      const imageKeep: number[] = [];
      const p = o.conditioningDropout;
      for (let i = 0; i < B; i++) {
        const u = hashUniform(seed, micro, 1, i);
        ts.push(o.timestepPower === 1 ? Math.min(T - 1, Math.floor(u * T)) : Math.max(0, T - 1 - Math.floor(u ** o.timestepPower * T)));
        const r = hashUniform(seed, micro, 2, i);
        textKeep.push(r < 2 * p ? 0 : 1);
        imageKeep.push(r >= p && r < 3 * p ? 0 : 1);
      }
      const device = this.unet.device;
      const noise = own(randn(b.latents.shape as number[], { seed, offset: micro * 2 * b.latents.size + 2, device }));
      const noisy = own(this.noiseScheduler.addNoise(b.latents, noise, ts));
      const predType = String(this.noiseScheduler.config.prediction_type ?? 'epsilon');
      // The UNet's target per the schedule's prediction type: ε, v = √ᾱ·ε − √(1−ᾱ)·x0, or x0 itself.
      const target0 = predType === 'v_prediction' ? own(this.noiseScheduler.getVelocity(b.latents, noise, ts))
        : predType === 'sample' ? b.latents : noise;

      const imgMask = own(tensor(Float32Array.from(imageKeep), [B, 1, 1, 1], { device }));
      const img = own(ops.binary('mul', b.imageLatents, imgMask));
      const unetIn1 = own(ops.concat([noisy, img], 1));
      let unetIn = unetIn1;
      let ehs: Tensor;
      let tAll = ts;
      if (te) {
        // Trained text encoder: one forward over the rows the UNet sees (a dropped text is the empty
        // prompt's ids), [positive; negative] with the triplet term; its backward follows the UNet's.
        const rows = (src: TokenIds) => {
          const L = src.shape[1];
          if (b.nullIds!.shape[1] !== L) throw new Error(`${op}: batch.nullIds has length ${b.nullIds!.shape[1]}, the instructions ${L}`);
          const out = new Int32Array(B * L);
          for (let i = 0; i < B; i++) out.set(textKeep[i] ? src.ids.subarray(i * L, (i + 1) * L) : b.nullIds!.ids.subarray(0, L), i * L);
          return out;
        };
        const L = b.inputIds!.shape[1];
        const pos = rows(b.inputIds!);
        const all = tripletOn ? Int32Array.from([...pos, ...rows(b.negativeIds!)]) : pos;
        const enc = await te.forward({ ids: all, shape: [all.length / L, L] }, { train: true });
        enc.pooledOutput.dispose();
        ehs = own(enc.lastHiddenState);
        if (tripletOn) {
          unetIn = own(ops.concat([unetIn1, unetIn1], 0));
          tAll = [...ts, ...ts];
        }
      } else {
        const keep = own(tensor(Float32Array.from(textKeep), [B, 1, 1], { device }));
        const drop = own(tensor(Float32Array.from(textKeep.map((k) => 1 - k)), [B, 1, 1], { device }));
        // text = keep·text + drop·null (an exact select: one of the two factors is 0)
        const withDrop = (e: Tensor) => own(ops.binary('add', own(ops.binary('mul', e, keep)), own(ops.binary('mul', b.nullTextEmbeds!, drop))));
        ehs = withDrop(b.textEmbeds!);
        if (tripletOn) {
          // One UNet call at batch 2B: [positive; negative], same noisy latent, timestep and image.
          unetIn = own(ops.concat([unetIn1, unetIn1], 0));
          ehs = own(ops.concat([ehs, withDrop(b.negativeEmbeds as Tensor)], 0));
          tAll = [...ts, ...ts];
        }
      }
      let pred = own(await this.unet.forward(unetIn, tAll, ehs, { train: true, checkpoint: o.gradientCheckpointing }));
      let target = target0;
      // Per-sample weights: the loss is taken on √w·pred against √w·target, and its gradient scaled by √w.
      let sw: Tensor | null = null;
      if (o.lossWeighting === 'edit') {
        const r = await editWeightRoots(b.latents, b.imageLatents);
        const all = tripletOn ? [...r, ...r] : r;
        sw = own(tensor(Float32Array.from(all), [all.length, 1, 1, 1], { device }));
        pred = own(ops.binary('mul', pred, sw));
        target = own(ops.binary('mul', target0, own(tensor(Float32Array.from(r), [B, 1, 1, 1], { device }))));
      }
      const scale = 1 / o.gradientAccumulation;
      let lossTerms: { loss: number; mse: number; triplet: number; active: number; counted: number };
      let grad: Tensor;
      if (tripletOn) {
        const t = o.triplet!;
        const r = ops.tripletLoss(pred, target, {
          margin: t.margin, weight: t.weight, distance: t.distance, hingeThreshold: t.hingeThreshold,
          stopGradPositive: t.stopGradPositive, mask: textKeep, gradScale: scale,
        });
        grad = own(r.grad);
        const st = await ops.readTripletStats(r.stats);
        lossTerms = { loss: st.loss, mse: st.mse, triplet: st.triplet, active: st.active, counted: st.counted };
      } else {
        const l = own(ops.mseLoss(pred, target));
        grad = own(ops.scale(own(ops.mseLossBackward(pred, target)), scale));
        const mse = (await l.toArray())[0];
        lossTerms = { loss: mse, mse, triplet: 0, active: 0, counted: 0 };
      }
      if (sw) grad = own(ops.binary('mul', grad, sw));
      const accumulate = micro % o.gradientAccumulation !== 0;
      const g = await this.unet.backward(grad, { accumulate });
      g.sample.dispose();
      try {
        if (te) await te.backward(g.encoderHiddenStates, { accumulate });
      } finally {
        g.encoderHiddenStates.dispose();
      }
      this.#microStep++;

      const res: StepResult = {
        microStep: this.#microStep, step: this.#step, updated: false, loss: lossTerms.loss, mse: lossTerms.mse,
        triplet: lossTerms.triplet, tripletActive: lossTerms.active, tripletCounted: lossTerms.counted,
        gradNorm: NaN, lr: this.lrAt(this.#step), skipped: false,
      };
      if (this.#microStep % o.gradientAccumulation === 0) await this.#update(res);
      return res;
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  async #update(res: StepResult): Promise<void> {
    const o = this.options;
    const params = this.unet.flatParameters();
    const grads = this.unet.flatGradients();
    const te = this.textEncoder;
    const gn = await ops.gradNorm(grads);
    let sumSquares = gn.sumSquares;
    let finite = gn.finite;
    let tparams: Tensor | null = null;
    let tgrads: Tensor | null = null;
    if (te) {
      tparams = te.flatParameters();
      tgrads = te.flatGradients();
      const tg = await ops.gradNorm(tgrads);
      sumSquares += tg.sumSquares;
      finite &&= tg.finite;
    }
    const norm = Math.sqrt(sumSquares);
    res.gradNorm = norm;
    res.updated = true;
    const lossFinite = Number.isFinite(res.loss);
    if (!finite || !lossFinite) {
      res.skipped = true;
      res.skipReason = !lossFinite ? `loss is ${res.loss}` : 'non-finite gradients';
      tparams?.dispose();
      tgrads?.dispose();
      this.#step++;
      res.step = this.#step;
      return;
    }
    const clip = o.maxGradNorm > 0 && norm > o.maxGradNorm ? o.maxGradNorm / (norm + 1e-6) : 1;
    const lr = this.lrAt(this.#step);
    ops.adamwStep(params, grads, this.#m, this.#v, {
      lr, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay, step: this.#step + 1, gradScale: clip,
    });
    if (this.#ema && o.emaDecay !== undefined) ops.emaUpdate(this.#ema, params, o.emaDecay);
    if (tparams && tgrads) {
      ops.adamwStep(tparams, tgrads, this.#tm!, this.#tv!, {
        lr: lr * (o.textEncoderLr / o.lr), beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay,
        step: this.#step + 1, gradScale: clip,
      });
      if (this.#tema && o.emaDecay !== undefined) ops.emaUpdate(this.#tema, tparams, o.emaDecay);
      tparams.dispose();
      tgrads.dispose();
    }
    this.#step++;
    res.step = this.#step;
    res.lr = lr;
  }

  /** Frees the optimizer state and EMA (the UNet and text encoder stay the caller's). */
  dispose(): void {
    this.#m.dispose();
    this.#v.dispose();
    this.#ema?.dispose();
    this.#tm?.dispose();
    this.#tv?.dispose();
    this.#tema?.dispose();
  }
}
