import { native } from '../native';
import { Tensor } from '../tensor';
import { checkOptions, finiteNumber, integer } from '../validate';
import { h, T } from './wrap';

export interface AdamWOptions {
  lr: number;
  /** 1-based step (the bias corrections use β^step). */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 1e-2, as torch.optim.AdamW). */
  weightDecay?: number;
  /** Multiplies the gradient on the fly (clipping, loss scaling); default 1. */
  gradScale?: number;
}

/**
 * One fused AdamW update of a flat parameter buffer in place, with its gradients and moment
 * buffers m, v (all float32, same length), computed as torch.optim.AdamW does.
 */
export function adamwStep(params: Tensor, grads: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
  const op = 'adamwStep';
  checkOptions(o, ['lr', 'step', 'beta1', 'beta2', 'eps', 'weightDecay', 'gradScale'], op);
  native.adamwStep(h(params, op, 'params'), h(grads, op, 'grads'), h(m, op, 'm'), h(v, op, 'v'),
    finiteNumber(o.lr, op, 'lr'), finiteNumber(o.beta1 ?? 0.9, op, 'beta1'), finiteNumber(o.beta2 ?? 0.999, op, 'beta2'),
    finiteNumber(o.eps ?? 1e-8, op, 'eps'), finiteNumber(o.weightDecay ?? 1e-2, op, 'weightDecay'),
    integer(o.step, op, 'step', 1), finiteNumber(o.gradScale ?? 1, op, 'gradScale'));
}

/** float32 [2]: Σ x² (accumulated in double, deterministic) and 1 if every element is finite, else 0. */
export function sumSquares(x: Tensor): Tensor {
  return T(native.sumSquares(h(x, 'sumSquares', 'x')));
}

/** The global norm of a (flat gradient) buffer and whether it is all finite, read back. */
export async function gradNorm(x: Tensor): Promise<{ norm: number; sumSquares: number; finite: boolean }> {
  const t = sumSquares(x);
  try {
    const [s, f] = (await t.toArray()) as Float32Array;
    return { norm: Math.sqrt(s), sumSquares: s, finite: f === 1 && Number.isFinite(s) };
  } finally {
    t.dispose();
  }
}

/** ema += (1 − decay)·(params − ema), in place (flat buffers of equal length). */
export function emaUpdate(ema: Tensor, params: Tensor, decay: number): void {
  native.emaUpdate(h(ema, 'emaUpdate', 'ema'), h(params, 'emaUpdate', 'params'), finiteNumber(decay, 'emaUpdate', 'decay'));
}
