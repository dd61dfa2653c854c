import { native } from '../native';
import { Tensor } from '../tensor';
import { integer } from '../validate';
import { h, T } from './wrap';

/** Joins tensors along `axis` (default 1, the channel axis of NCHW). Any dtype. */
export function concat(tensors: Tensor[], axis = 1): Tensor {
  if (!Array.isArray(tensors)) throw new TypeError('concat: tensors must be an array of Tensors');
  const hs = tensors.map((t, i) => h(t, 'concat', `tensors[${i}]`));
  return T(native.concat(hs, integer(axis, 'concat', 'axis')));
}

/** Splits x along `axis` into pieces of the given sizes (concat's inverse and backward). */
export function split(x: Tensor, sizes: number[], axis = 1): Tensor[] {
  if (!Array.isArray(sizes)) throw new TypeError('split: sizes must be an array of integers');
  return (native.split(h(x, 'split', 'x'), sizes, integer(axis, 'split', 'axis')) as any[]).map((p) => T(p));
}
