// Helpers shared by the op wrappers: handles in, Tensors out.
import { NativeTensor } from '../native';
import { Tensor } from '../tensor';

export function h(t: Tensor, op: string, name: string): NativeTensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describeValue(t)}`);
  if (t.disposed) throw new Error(`${op}: ${name} has been disposed`);
  return t.handle;
}

export function hOpt(t: Tensor | null | undefined, op: string, name: string): NativeTensor | null {
  return t === null || t === undefined ? null : h(t, op, name);
}

export function T(handle: NativeTensor): Tensor;
export function T(handle: NativeTensor | null): Tensor | null;
export function T(handle: NativeTensor | null): Tensor | null {
  return handle === null ? null : new Tensor(handle);
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
}
