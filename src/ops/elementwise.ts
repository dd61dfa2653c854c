import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions, checkShape, finiteNumber, integer } from '../validate';
import { Shape } from '../types';
import { h, T } from './wrap';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
const BINARY: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };

function binaryCode(op: unknown, where: string): number {
  const c = BINARY[op as BinaryOp];
  if (c === undefined) throw new TypeError(`${where}: unknown op '${String(op)}' (expected add, sub, mul or div)`);
  return c;
}

/** a ∘ b elementwise with NumPy broadcasting. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return T(native.binary(binaryCode(op, op), h(a, op, 'a'), h(b, op, 'b')));
}
export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

/** Gradients of a ∘ b, each summed back to its input's shape. */
export function binaryBackward(op: BinaryOp, a: Tensor, b: Tensor, dy: Tensor): { da: Tensor; db: Tensor } {
  const w = `${op}Backward`;
  const r = native.binaryBackward(binaryCode(op, w), h(a, w, 'a'), h(b, w, 'b'), h(dy, w, 'dy'));
  return { da: T(r.da), db: T(r.db) };
}

/** alpha·x + beta. */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  return T(native.affine(h(x, 'scale', 'x'), finiteNumber(alpha, 'scale', 'alpha'), finiteNumber(beta, 'scale', 'beta')));
}

export interface ReduceOptions {
  /** Axes to reduce (negative counts from the end); default all. */
  axes?: number | number[];
  /** Keep reduced axes as size 1. */
  keepdim?: boolean;
}

function axesOf(o: ReduceOptions, op: string): [number[], boolean] {
  checkOptions(o, ['axes', 'keepdim'], op);
  const a = o.axes === undefined ? [] : Array.isArray(o.axes) ? o.axes : [o.axes];
  a.forEach((x, i) => integer(x, op, `axes[${i}]`));
  return [a, bool(o.keepdim ?? false, op, 'keepdim')];
}

/** Sum over axes (accumulated in double). */
export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  const [axes, keep] = axesOf(options, 'sum');
  return T(native.reduce(h(x, 'sum', 'x'), axes, keep, false));
}
/** Mean over axes. */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  const [axes, keep] = axesOf(options, 'mean');
  return T(native.reduce(h(x, 'mean', 'x'), axes, keep, true));
}
/** Gradient of sum: dy broadcast back to inputShape. */
export function sumBackward(dy: Tensor, inputShape: Shape, options: ReduceOptions = {}): Tensor {
  const [axes, keep] = axesOf(options, 'sumBackward');
  return T(native.reduceBackward(h(dy, 'sumBackward', 'dy'), checkShape(inputShape, 'sumBackward'), axes, keep, false));
}
/** Gradient of mean. */
export function meanBackward(dy: Tensor, inputShape: Shape, options: ReduceOptions = {}): Tensor {
  const [axes, keep] = axesOf(options, 'meanBackward');
  return T(native.reduceBackward(h(dy, 'meanBackward', 'dy'), checkShape(inputShape, 'meanBackward'), axes, keep, true));
}
/** Sums dy over the dimensions that broadcasting expanded from `shape` (a broadcast's backward). */
export function sumToShape(dy: Tensor, shape: Shape): Tensor {
  return T(native.sumToShape(h(dy, 'sumToShape', 'dy'), checkShape(shape, 'sumToShape')));
}

/**
 * Copies src into dst in place (or adds it with `accumulate`): same element count, both float32.
 * dst may be a view, e.g. one parameter of a model's flat buffer.
 */
export function assign(dst: Tensor, src: Tensor, options: { accumulate?: boolean } = {}): void {
  checkOptions(options, ['accumulate'], 'assign');
  native.assign(h(dst, 'assign', 'dst'), h(src, 'assign', 'src'), options.accumulate === true);
}
