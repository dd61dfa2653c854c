import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions, finiteNumber, integer } from '../validate';
import { h, hOpt, T } from './wrap';

export interface NormOptions {
  /** Scale γ[C] (default: none, i.e. 1). */
  weight?: Tensor | null;
  /** Shift β[C] (default: none, i.e. 0). */
  bias?: Tensor | null;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}
export interface GroupNormOptions extends NormOptions {
  /** Apply SiLU to the result in the same pass (the UNet's norm → SiLU pairs). */
  silu?: boolean;
}

/** Result of a forward pass that keeps the statistics for backward. */
export interface NormForward {
  y: Tensor;
  /** Per (sample, group) or per row: the mean and 1/√(var + eps). */
  mean: Tensor;
  rstd: Tensor;
}
export interface NormGrads {
  dx: Tensor;
  dgamma: Tensor | null;
  dbeta: Tensor | null;
}

function gn(x: Tensor, groups: number, o: GroupNormOptions, op: string): NormForward {
  checkOptions(o, ['weight', 'bias', 'eps', 'silu'], op);
  const r = native.groupNorm(
    h(x, op, 'x'),
    integer(groups, op, 'groups', 1),
    hOpt(o.weight, op, 'weight'),
    hOpt(o.bias, op, 'bias'),
    finiteNumber(o.eps ?? 1e-5, op, 'eps'),
    bool(o.silu ?? false, op, 'silu'),
  );
  return { y: T(r.y), mean: T(r.mean), rstd: T(r.rstd) };
}

/** GroupNorm over x[N, C, ...]: `groups` contiguous channel groups, biased variance. */
export function groupNorm(x: Tensor, groups: number, options: GroupNormOptions = {}): Tensor {
  const r = gn(x, groups, options, 'groupNorm');
  r.mean.dispose();
  r.rstd.dispose();
  return r.y;
}

/** groupNorm that also returns the statistics groupNormBackward needs. */
export function groupNormForward(x: Tensor, groups: number, options: GroupNormOptions = {}): NormForward {
  return gn(x, groups, options, 'groupNormForward');
}

/** Gradients of groupNorm (with SiLU when `silu`): dy is ∂L/∂y of the final output. */
export function groupNormBackward(
  dy: Tensor,
  x: Tensor,
  groups: number,
  saved: { mean: Tensor; rstd: Tensor },
  options: { weight?: Tensor | null; bias?: Tensor | null; silu?: boolean } = {},
): NormGrads {
  const op = 'groupNormBackward';
  checkOptions(options, ['weight', 'bias', 'silu'], op);
  const r = native.groupNormBackward(
    h(dy, op, 'dy'),
    h(x, op, 'x'),
    integer(groups, op, 'groups', 1),
    hOpt(options.weight, op, 'weight'),
    hOpt(options.bias, op, 'bias'),
    h(saved?.mean, op, 'mean'),
    h(saved?.rstd, op, 'rstd'),
    bool(options.silu ?? false, op, 'silu'),
  );
  return { dx: T(r.dx), dgamma: T(r.dgamma), dbeta: T(r.dbeta) };
}

function ln(x: Tensor, o: NormOptions, op: string): NormForward {
  checkOptions(o, ['weight', 'bias', 'eps'], op);
  const r = native.layerNorm(h(x, op, 'x'), hOpt(o.weight, op, 'weight'), hOpt(o.bias, op, 'bias'), finiteNumber(o.eps ?? 1e-5, op, 'eps'));
  return { y: T(r.y), mean: T(r.mean), rstd: T(r.rstd) };
}

/** LayerNorm over the last axis. */
export function layerNorm(x: Tensor, options: NormOptions = {}): Tensor {
  const r = ln(x, options, 'layerNorm');
  r.mean.dispose();
  r.rstd.dispose();
  return r.y;
}

export function layerNormForward(x: Tensor, options: NormOptions = {}): NormForward {
  return ln(x, options, 'layerNormForward');
}

export function layerNormBackward(
  dy: Tensor,
  x: Tensor,
  saved: { mean: Tensor; rstd: Tensor },
  options: { weight?: Tensor | null; bias?: Tensor | null } = {},
): NormGrads {
  const op = 'layerNormBackward';
  checkOptions(options, ['weight', 'bias'], op);
  const r = native.layerNormBackward(
    h(dy, op, 'dy'),
    h(x, op, 'x'),
    hOpt(options.weight, op, 'weight'),
    hOpt(options.bias, op, 'bias'),
    h(saved?.mean, op, 'mean'),
    h(saved?.rstd, op, 'rstd'),
  );
  return { dx: T(r.dx), dgamma: T(r.dgamma), dbeta: T(r.dbeta) };
}
