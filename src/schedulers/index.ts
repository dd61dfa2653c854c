// Noise schedulers (diffusers' DDPM, DDIM, Euler, Euler ancestral, DPM-Solver++ 2M and LCM) on the
// native schedule code and the fused step kernel. A Scheduler is a config plus the state of one
// denoising loop; clone() one per concurrent edit.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkOptions, finiteNumber, integer } from '../validate';
import { h } from '../ops/wrap';

/** diffusers class names of the supported schedulers. */
export type SchedulerClassName =
  | 'DDPMScheduler'
  | 'DDIMScheduler'
  | 'EulerDiscreteScheduler'
  | 'EulerAncestralDiscreteScheduler'
  | 'DPMSolverMultistepScheduler'
  | 'LCMScheduler';
/** Short names, accepted wherever a class name is. */
export type SchedulerShortName = 'ddpm' | 'ddim' | 'euler' | 'euler-ancestral' | 'dpmpp-2m' | 'lcm';

/**
 * A diffusers scheduler_config.json. `_class_name` picks the class; keys starting with `_` are
 * ignored. Unknown keys and unsupported values are errors naming the key (see README, Schedulers).
 */
export interface SchedulerConfig {
  _class_name?: SchedulerClassName | SchedulerShortName | string;
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  prediction_type?: 'epsilon' | 'v_prediction' | 'sample';
  timestep_spacing?: 'leading' | 'trailing' | 'linspace';
  steps_offset?: number;
  [key: string]: unknown;
}

export interface CreateSchedulerOptions {
  /**
   * Use this class instead of the config's `_class_name` (diffusers' `Cls.from_config(other.config)`):
   * keys that belong to other scheduler classes are then dropped.
   */
  className?: SchedulerClassName | SchedulerShortName;
  /** Seed of the noise drawn inside steps (default 0); see {@link Scheduler.step}. */
  seed?: number | bigint;
}

export interface SchedulerStepOptions {
  /** The noise of this step (same shape as the sample); wins over the seed. */
  noise?: Tensor;
  /** Seed of this step's noise instead of the scheduler's. */
  seed?: number | bigint;
  /** DDIM's eta (default 0: deterministic); other classes reject a non-zero eta. */
  eta?: number;
}

export interface SchedulerStepOutput {
  /** x_{t-1}: the sample to feed the next step. */
  prevSample: Tensor;
  /** The model's x0 estimate at this step (LCM: the denoised sample). */
  predOriginalSample: Tensor;
}

interface NativeScheduler {
  config(): string;
  setTimesteps(n: number): void;
  timesteps(): Float32Array;
  sigmas(): Float32Array;
  betas(): Float32Array;
  alphasCumprod(): Float32Array;
  info(): { className: SchedulerClassName; initNoiseSigma: number; order: number; stepIndex: number;
    numInferenceSteps: number; integerTimesteps: boolean; seed: bigint };
  setSeed(seed: number | bigint): void;
  scaleModelInput(x: NativeTensor, t: number): NativeTensor;
  step(e: NativeTensor, t: number, x: NativeTensor, noise: NativeTensor | null, seed: number | bigint | null, eta: number):
    { prevSample: NativeTensor; predOriginalSample: NativeTensor };
  addNoise(x: NativeTensor, z: NativeTensor, t: number[]): NativeTensor;
  getVelocity(x: NativeTensor, z: NativeTensor, t: number[]): NativeTensor;
  reset(): void;
}
type NativeSchedulerCtor = new (...args: unknown[]) => NativeScheduler;
const Ctor = (): NativeSchedulerCtor => native.NativeScheduler as unknown as NativeSchedulerCtor;

function seedArg(v: unknown, op: string): number | bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${op}: seed must be in [0, 2^64), got ${v}`);
    return v;
  }
  return integer(v, op, 'seed', 0);
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The scheduler_config.json for a path: the file itself, or `dir/scheduler/…` or `dir/…`. */
function configFile(p: string, op: string): string {
  if (!existsSync(p)) throw new Error(`${op}: ${p} does not exist`);
  if (isFile(p)) return p;
  for (const c of [path.join(p, 'scheduler', 'scheduler_config.json'), path.join(p, 'scheduler_config.json')]) {
    if (isFile(c)) return c;
  }
  throw new Error(`${op}: no scheduler/scheduler_config.json or scheduler_config.json in ${p}`);
}

/**
 * Creates a scheduler from a config object, JSON text, a scheduler_config.json file, or a folder
 * holding one (a pipeline folder's `scheduler/` is used).
 *
 * ```ts
 * const s = createScheduler('instruct-pix2pix');           // its scheduler/scheduler_config.json
 * const d = createScheduler({ _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear',
 *                             beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 });
 * ```
 */
export function createScheduler(config: SchedulerConfig | string, options: CreateSchedulerOptions = {}): Scheduler {
  const op = 'createScheduler';
  checkOptions(options, ['className', 'seed'], op);
  let text: string;
  let source: string;
  if (typeof config === 'string') {
    if (config.trimStart().startsWith('{')) {
      text = config;
      source = 'config';
    } else {
      source = configFile(config, op);
      text = readFileSync(source, 'utf8');
    }
  } else if (typeof config === 'object' && config !== null && !Array.isArray(config)) {
    text = JSON.stringify(config);
    source = 'config';
  } else {
    throw new TypeError(`${op}: config must be an object, JSON text or a path, got ${config === null ? 'null' : typeof config}`);
  }
  if (options.className !== undefined && typeof options.className !== 'string') {
    throw new TypeError(`${op}: className must be a string`);
  }
  const seed = options.seed === undefined ? 0 : seedArg(options.seed, op);
  const C = Ctor();
  return new Scheduler(new C(text, source, options.className ?? '', seed));
}

/**
 * A noise scheduler: what diffusers' scheduler of the same class computes, with the step fused into
 * one pass over the latents. Call {@link setTimesteps} first, then for each `t` of
 * {@link timesteps}: `scaleModelInput` → model → `step`.
 *
 * Noise (DDPM, Euler ancestral, LCM, DDIM with eta > 0): the `noise` option if given, else drawn
 * inside the step from the counter-based generator: step i (its position in `timesteps`) uses
 * `randn(shape, { seed, offset: i · n })`, n = the sample's element count rounded up to even, with
 * `seed` the step's option or the scheduler's. The same seed therefore gives the same bytes, on any
 * thread count, whatever else runs.
 */
export class Scheduler {
  /** The resolved configuration (diffusers keys, defaults of the class filled in). */
  readonly config: Readonly<SchedulerConfig>;
  /** The diffusers class name. */
  readonly className: SchedulerClassName;
  #s: NativeScheduler;

  /** @internal Use createScheduler or Scheduler.fromPretrained. */
  constructor(s: NativeScheduler) {
    this.#s = s;
    this.config = Object.freeze(JSON.parse(s.config()) as SchedulerConfig);
    this.className = s.info().className;
  }

  /** Reads `dir/scheduler/scheduler_config.json` or `dir/scheduler_config.json` (or a config file). */
  static fromPretrained(dir: string, options: CreateSchedulerOptions = {}): Scheduler {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('Scheduler.fromPretrained: path must be a non-empty string');
    return createScheduler(configFile(dir, 'Scheduler.fromPretrained'), options);
  }

  /** Sets the inference schedule of `numInferenceSteps` steps and restarts the loop. */
  setTimesteps(numInferenceSteps: number): void {
    this.#s.setTimesteps(integer(numInferenceSteps, 'scheduler.setTimesteps', 'numInferenceSteps', 1));
  }

  /** The timesteps to run, in order (a copy); integral except for the Euler family. Empty before setTimesteps. */
  get timesteps(): Float32Array {
    return this.#s.timesteps();
  }
  /** Euler family and DPM-Solver: σ per timestep plus the final one (a copy); others: empty. */
  get sigmas(): Float32Array {
    return this.#s.sigmas();
  }
  get betas(): Float32Array {
    return this.#s.betas();
  }
  get alphasCumprod(): Float32Array {
    return this.#s.alphasCumprod();
  }
  /** Standard deviation of the initial noise: multiply N(0, 1) latents by it. */
  get initNoiseSigma(): number {
    return this.#s.info().initNoiseSigma;
  }
  /** Model evaluations per step (1 for every supported class). */
  get order(): number {
    return this.#s.info().order;
  }
  /** Position in `timesteps` of the next step (-1 before the first step). */
  get stepIndex(): number {
    return this.#s.info().stepIndex;
  }
  get numInferenceSteps(): number {
    return this.#s.info().numInferenceSteps;
  }
  /** Seed of the noise drawn inside steps. */
  get seed(): bigint {
    return this.#s.info().seed;
  }
  set seed(v: number | bigint) {
    this.#s.setSeed(seedArg(v, 'scheduler.seed'));
  }

  /** The model input for timestep t: x/√(σ²+1) for the Euler family, else x itself (a view). */
  scaleModelInput(sample: Tensor, t: number): Tensor {
    const op = 'scheduler.scaleModelInput';
    return new Tensor(this.#s.scaleModelInput(h(sample, op, 'sample'), finiteNumber(t, op, 't')));
  }

  /**
   * One denoising step from timestep `t` (a value of `timesteps`): returns x_{t−1} and the x0
   * estimate, computed in one pass. Throws at once for a t outside the schedule, shapes that
   * differ, non-float32 tensors, or a call before setTimesteps.
   */
  step(modelOutput: Tensor, t: number, sample: Tensor, options: SchedulerStepOptions = {}): SchedulerStepOutput {
    const op = 'scheduler.step';
    checkOptions(options, ['noise', 'seed', 'eta'], op);
    const noise = options.noise === undefined ? null : h(options.noise, op, 'noise');
    const seed = options.seed === undefined ? null : seedArg(options.seed, op);
    const eta = options.eta === undefined ? 0 : finiteNumber(options.eta, op, 'eta');
    const r = this.#s.step(h(modelOutput, op, 'modelOutput'), finiteNumber(t, op, 't'), h(sample, op, 'sample'), noise, seed, eta);
    return { prevSample: new Tensor(r.prevSample), predOriginalSample: new Tensor(r.predOriginalSample) };
  }

  /**
   * Training: the noisy sample at per-sample timesteps (one per batch entry, or one for all):
   * √ᾱ_t·x0 + √(1−ᾱ_t)·ε with integer t in [0, num_train_timesteps); for the Euler family and
   * DPM-Solver, as diffusers, t must be in `timesteps` and σ(t) is used. A Tensor of timesteps is
   * read back first (this waits until it has been computed).
   */
  addNoise(original: Tensor, noise: Tensor, timesteps: Tensor | readonly number[] | number): Tensor {
    const op = 'scheduler.addNoise';
    return new Tensor(this.#s.addNoise(h(original, op, 'original'), h(noise, op, 'noise'), timestepList(timesteps, op)));
  }

  /** The v-prediction target √ᾱ_t·ε − √(1−ᾱ_t)·x0 per sample (integer t, as addNoise). */
  getVelocity(sample: Tensor, noise: Tensor, timesteps: Tensor | readonly number[] | number): Tensor {
    const op = 'scheduler.getVelocity';
    return new Tensor(this.#s.getVelocity(h(sample, op, 'sample'), h(noise, op, 'noise'), timestepList(timesteps, op)));
  }

  /** An independent copy (config, timesteps, loop state and seed): one per concurrent loop. */
  clone(): Scheduler {
    const C = Ctor();
    return new Scheduler(new C(this.#s));
  }

  /** Restarts the loop (step index, DPM-Solver history); the timesteps stay. */
  reset(): void {
    this.#s.reset();
  }
}

function timestepList(t: Tensor | readonly number[] | number, op: string): number[] {
  if (typeof t === 'number') return [t];
  if (Array.isArray(t)) return t.slice();
  if (t instanceof Tensor) {
    if (t.ndim > 1) throw new RangeError(`${op}: timesteps must be 1-D, got ${t.describe()}`);
    return Array.from(t.toArraySync());
  }
  throw new TypeError(`${op}: timesteps must be a Tensor, an array of numbers or a number`);
}
