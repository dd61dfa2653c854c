import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions } from '../validate';
import { h, hOpt, T } from './wrap';

export interface MatmulOptions {
  /** Use aᵀ (the last two dims swapped). */
  transA?: boolean;
  /** Use bᵀ. */
  transB?: boolean;
}

function transposes(o: MatmulOptions, op: string): [boolean, boolean] {
  checkOptions(o, ['transA', 'transB'], op);
  return [bool(o.transA ?? false, op, 'transA'), bool(o.transB ?? false, op, 'transB')];
}

/** a[(batch,) M, K] · b[(batch,) K, N] (float32). A 2-D operand is shared across the batch. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const [ta, tb] = transposes(options, 'matmul');
  return T(native.matmul(h(a, 'matmul', 'a'), h(b, 'matmul', 'b'), ta, tb));
}

/** Gradients of matmul w.r.t. a and b, given dy = ∂L/∂(a·b). */
export function matmulBackward(a: Tensor, b: Tensor, dy: Tensor, options: MatmulOptions = {}): { da: Tensor; db: Tensor } {
  const [ta, tb] = transposes(options, 'matmulBackward');
  const r = native.matmulBackward(h(a, 'matmulBackward', 'a'), h(b, 'matmulBackward', 'b'), h(dy, 'matmulBackward', 'dy'), ta, tb);
  return { da: T(r.da), db: T(r.db) };
}

/** x[..., in] · weight[out, in]ᵀ + bias[out] (PyTorch's nn.Linear). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return T(native.linear(h(x, 'linear', 'x'), h(weight, 'linear', 'weight'), hOpt(bias, 'linear', 'bias')));
}

export interface LinearGrads {
  dx: Tensor;
  dw: Tensor;
  /** null when the layer has no bias */
  db: Tensor | null;
}

/** Gradients of linear: dx = dy·W, dW = dyᵀ·x, db = Σ dy (when `bias`). */
export function linearBackward(x: Tensor, weight: Tensor, dy: Tensor, options: { bias?: boolean } = {}): LinearGrads {
  checkOptions(options, ['bias'], 'linearBackward');
  const r = native.linearBackward(
    h(x, 'linearBackward', 'x'),
    h(weight, 'linearBackward', 'weight'),
    h(dy, 'linearBackward', 'dy'),
    bool(options.bias ?? true, 'linearBackward', 'bias'),
  );
  return { dx: T(r.dx), dw: T(r.dw), db: T(r.db) };
}
