// Checks of JS-side arguments (option objects, shapes, enums). Shape/dtype/device agreement between
// tensors is checked natively, where the kernels are; both throw before any work is queued.
import { DType, DTYPES, Shape } from './types';

/** Throws on keys that `allowed` does not list (a typo must not be silently ignored). */
export function checkOptions(options: object | undefined, allowed: readonly string[], op: string): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${op}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) {
      throw new TypeError(`${op}: unknown option '${k}' (allowed: ${allowed.join(', ')})`);
    }
  }
}

export function checkShape(shape: unknown, op: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers, got ${typeof shape}`);
  if (shape.length > 8) throw new RangeError(`${op}: shape has ${shape.length} dimensions; at most 8 are supported`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${op}: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
  }
  return shape.slice() as number[];
}

export function checkDType(dtype: unknown, op: string): DType {
  if (!(DTYPES as readonly unknown[]).includes(dtype)) {
    throw new TypeError(`${op}: unknown dtype '${String(dtype)}' (expected ${DTYPES.join(', ')})`);
  }
  return dtype as DType;
}

export function checkDevice(device: unknown, op: string): string {
  if (typeof device !== 'string' || !/^(cpu|cuda(:\d{1,3})?)$/.test(device)) {
    throw new TypeError(`${op}: unknown device '${String(device)}' (expected 'cpu', 'cuda' or 'cuda:N')`);
  }
  return device;
}

export function finiteNumber(v: unknown, op: string, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new RangeError(`${op}: ${name} must be a finite number, got ${String(v)}`);
  }
  return v;
}

export function integer(v: unknown, op: string, name: string, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`${op}: ${name} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${String(v)}`);
  }
  return v;
}

/** A number or [h, w] pair of integers (stride, padding). */
export function pair(v: unknown, op: string, name: string, min: number): [number, number] {
  if (Array.isArray(v)) {
    if (v.length !== 2) throw new RangeError(`${op}: ${name} must be a number or a [h, w] pair, got [${v.join(', ')}]`);
    return [integer(v[0], op, `${name}[0]`, min), integer(v[1], op, `${name}[1]`, min)];
  }
  const x = integer(v, op, name, min);
  return [x, x];
}

export function bool(v: unknown, op: string, name: string): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be a boolean, got ${typeof v}`);
  return v;
}

export type { Shape };
