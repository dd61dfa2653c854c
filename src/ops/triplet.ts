import { native } from '../native';
import { Tensor } from '../tensor';
import { checkOptions, finiteNumber } from '../validate';
import { h, T } from './wrap';

export interface TripletLossOptions {
  /**
   * Per sample: 1 = counted in the triplet mean, 0 = excluded (its text condition was dropped).
   * Default: all counted.
   */
  mask?: ArrayLike<number | boolean>;
  /** relu(d_pos − d_neg + margin); default 5e-4 (SuperEdit's release). */
  margin?: number;
  /** loss = mseWeight·mse(pos, target) + weight·triplet; defaults 1 and 1. */
  weight?: number;
  mseWeight?: number;
  /**
   * SuperEdit's `--triplet_loss_threshold` (default 0): a sample whose hinge is below it contributes
   * nothing (no loss, no gradient) but still counts in the mean's denominator.
   */
  hingeThreshold?: number;
  /** Multiplies the returned gradient (e.g. 1/accumulation steps); default 1. */
  gradScale?: number;
  /** 'mse' (default): d = mean over C,H,W of the squared difference; 'l2': its L2 norm. */
  distance?: 'mse' | 'l2';
  /** The triplet term sends no gradient into pos (it keeps the MSE gradient). Default false. */
  stopGradPositive?: boolean;
}

export interface TripletLossResult {
  /** d loss / d pred, [2B, ...]. */
  grad: Tensor;
  /** float32 [4 + 3B]: loss, mse, triplet, counted, d_pos[B], d_neg[B], active[B]; see readTripletStats. */
  stats: Tensor;
}

export interface TripletStats {
  loss: number;
  mse: number;
  triplet: number;
  /** Samples counted in the triplet mean, and those whose hinge was active (> 0). */
  counted: number;
  active: number;
  dPos: number[];
  dNeg: number[];
  activeMask: boolean[];
}

/**
 * SuperEdit's triplet loss fused with the InstructPix2Pix MSE, with its gradient, in one op.
 * `pred` [2B, ...] = [positive; negative] UNet predictions (one call at batch 2B), `target` [B, ...]
 * (ε, or v). d_pos/d_neg are per-sample distances to the target; triplet = mean over counted
 * samples of relu(d_pos − d_neg + margin) (relu'(0) = 0, as PyTorch); under 'l2' the slope at zero
 * distance is 0 (never NaN). Deterministic on any thread count.
 */
export function tripletLoss(pred: Tensor, target: Tensor, options: TripletLossOptions = {}): TripletLossResult {
  const op = 'tripletLoss';
  checkOptions(options, ['mask', 'margin', 'weight', 'mseWeight', 'hingeThreshold', 'gradScale', 'distance', 'stopGradPositive'], op);
  const B = target instanceof Tensor ? target.shape[0] ?? 0 : 0;
  const mask = new Uint8Array(B).fill(1);
  if (options.mask !== undefined) {
    if (options.mask.length !== B) throw new RangeError(`${op}: mask has ${options.mask.length} entries for batch ${B}`);
    for (let i = 0; i < B; i++) mask[i] = options.mask[i] ? 1 : 0;
  }
  const distance = options.distance ?? 'mse';
  if (distance !== 'mse' && distance !== 'l2') throw new RangeError(`${op}: distance must be 'mse' or 'l2', got '${String(distance)}'`);
  const cap = options.hingeThreshold === undefined ? 0 : finiteNumber(options.hingeThreshold, op, 'hingeThreshold');
  if (!(cap >= 0)) throw new RangeError(`${op}: hingeThreshold must be >= 0`);
  const r = native.tripletLoss(
    h(pred, op, 'pred'), h(target, op, 'target'), mask,
    finiteNumber(options.margin ?? 5e-4, op, 'margin'), finiteNumber(options.weight ?? 1, op, 'weight'),
    finiteNumber(options.mseWeight ?? 1, op, 'mseWeight'), cap, finiteNumber(options.gradScale ?? 1, op, 'gradScale'),
    distance === 'l2', options.stopGradPositive === true,
  );
  return { grad: T(r.grad), stats: T(r.stats) };
}

/** Reads a tripletLoss stats tensor (waits for the op) and disposes it unless `keep`. */
export async function readTripletStats(stats: Tensor, keep = false): Promise<TripletStats> {
  const s = (await stats.toArray()) as Float32Array;
  if (!keep) stats.dispose();
  const B = (s.length - 4) / 3;
  const activeMask = Array.from(s.subarray(4 + 2 * B, 4 + 3 * B), (v) => v !== 0);
  return {
    loss: s[0], mse: s[1], triplet: s[2], counted: s[3], active: activeMask.filter(Boolean).length,
    dPos: Array.from(s.subarray(4, 4 + B)), dNeg: Array.from(s.subarray(4 + B, 4 + 2 * B)), activeMask,
  };
}
