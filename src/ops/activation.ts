import { native } from '../native';
import { Tensor } from '../tensor';
import { checkOptions } from '../validate';
import { h, T } from './wrap';

/** The pointwise activations the kernels implement. */
export type ActivationKind = 'silu' | 'gelu' | 'gelu-tanh' | 'quick-gelu';
const KINDS: Record<ActivationKind, number> = { silu: 0, gelu: 1, 'gelu-tanh': 2, 'quick-gelu': 3 };

function kindOf(kind: unknown, op: string): number {
  const k = KINDS[kind as ActivationKind];
  if (k === undefined) throw new TypeError(`${op}: unknown activation '${String(kind)}' (expected ${Object.keys(KINDS).join(', ')})`);
  return k;
}

/** Applies an activation: silu x·σ(x); gelu (exact, erf); gelu-tanh; quick-gelu x·σ(1.702x). */
export function activation(kind: ActivationKind, x: Tensor): Tensor {
  return T(native.activation(kindOf(kind, 'activation'), h(x, 'activation', 'x')));
}
/** dx given the forward input x and dy. */
export function activationBackward(kind: ActivationKind, x: Tensor, dy: Tensor): Tensor {
  const op = 'activationBackward';
  return T(native.activationBackward(kindOf(kind, op), h(x, op, 'x'), h(dy, op, 'dy')));
}

export const silu = (x: Tensor): Tensor => activation('silu', x);
export const quickGelu = (x: Tensor): Tensor => activation('quick-gelu', x);
/** GELU; `approximate: 'tanh'` selects the tanh form (default exact erf form). */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  checkOptions(options, ['approximate'], 'gelu');
  const a = options.approximate ?? 'none';
  if (a !== 'none' && a !== 'tanh') throw new TypeError(`gelu: approximate must be 'none' or 'tanh', got '${String(a)}'`);
  return activation(a === 'tanh' ? 'gelu-tanh' : 'gelu', x);
}

/** GEGLU (diffusers): x[..., 2D] = hidden ‖ gate → hidden · gelu(gate), [..., D]. */
export function geglu(x: Tensor): Tensor {
  return T(native.geglu(h(x, 'geglu', 'x')));
}
export function gegluBackward(x: Tensor, dy: Tensor): Tensor {
  return T(native.gegluBackward(h(x, 'gegluBackward', 'x'), h(dy, 'gegluBackward', 'dy')));
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  return T(native.softmax(h(x, 'softmax', 'x')));
}
/** dx from the softmax output y and dy. */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  return T(native.softmaxBackward(h(y, 'softmaxBackward', 'y'), h(dy, 'softmaxBackward', 'dy')));
}
