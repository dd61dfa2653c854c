import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions, pair } from '../validate';
import { h, hOpt, T } from './wrap';

export interface Conv2dOptions {
  /** Stride, one number or [h, w] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side, one number or [h, w] (default 0). */
  padding?: number | [number, number];
}

function params(o: Conv2dOptions, op: string, extra: string[] = []): number[] {
  checkOptions(o, ['stride', 'padding', ...extra], op);
  const [sh, sw] = pair(o.stride ?? 1, op, 'stride', 1);
  const [ph, pw] = pair(o.padding ?? 0, op, 'padding', 0);
  return [sh, sw, ph, pw];
}

/** 2-D convolution, NCHW: x[N, C, H, W], weight[K, C, kh, kw], bias[K]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const p = params(options, 'conv2d');
  return T(native.conv2d(h(x, 'conv2d', 'x'), h(weight, 'conv2d', 'weight'), hOpt(bias, 'conv2d', 'bias'), ...p));
}

export interface Conv2dGrads {
  dx: Tensor;
  dw: Tensor;
  db: Tensor | null;
}

/** Gradients of conv2d w.r.t. input, weight and (when `bias`, default true) bias. */
export function conv2dBackward(dy: Tensor, x: Tensor, weight: Tensor, options: Conv2dOptions & { bias?: boolean } = {}): Conv2dGrads {
  const p = params(options, 'conv2dBackward', ['bias']);
  const hasBias = bool(options.bias ?? true, 'conv2dBackward', 'bias');
  const r = native.conv2dBackward(
    h(dy, 'conv2dBackward', 'dy'),
    h(x, 'conv2dBackward', 'x'),
    h(weight, 'conv2dBackward', 'weight'),
    hasBias,
    ...p,
  );
  return { dx: T(r.dx), dw: T(r.dw), db: T(r.db) };
}
