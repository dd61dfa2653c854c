import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions, finiteNumber, integer } from '../validate';
import { h, T } from './wrap';

export interface AttentionOptions {
  /** Number of heads; channels are split as [head, headDim] (diffusers' layout). */
  heads: number;
  /** Score scale (default 1/√headDim). */
  scale?: number;
  /** Query i attends to keys j ≤ i only (needs as many queries as keys). */
  causal?: boolean;
}

function parse(o: AttentionOptions, op: string): [number, number, boolean] {
  if (o === undefined || o === null) throw new TypeError(`${op}: options with { heads } are required`);
  checkOptions(o, ['heads', 'scale', 'causal'], op);
  const heads = integer(o.heads, op, 'heads', 1);
  const scale = o.scale === undefined ? 0 : finiteNumber(o.scale, op, 'scale');
  if (o.scale !== undefined && scale <= 0) throw new RangeError(`${op}: scale must be > 0, got ${scale}`);
  return [heads, scale, bool(o.causal ?? false, op, 'causal')];
}

/**
 * Fused multi-head attention softmax(q·kᵀ·scale)·v without materialising the score matrix.
 * q[B, Lq, H·D], k and v[B, Lk, H·D] → [B, Lq, H·D].
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor {
  const r = attentionForward(q, k, v, options);
  r.lse.dispose();
  return r.out;
}

/** attention that also returns the per-row log-sum-exp lse[B, H, Lq] that attentionBackward needs. */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): { out: Tensor; lse: Tensor } {
  const op = 'attention';
  const [heads, scale, causal] = parse(options, op);
  const r = native.attention(h(q, op, 'q'), h(k, op, 'k'), h(v, op, 'v'), heads, scale, causal);
  return { out: T(r.out), lse: T(r.lse) };
}

/** Gradients of attention w.r.t. q, k and v. */
export function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  saved: { out: Tensor; lse: Tensor },
  dout: Tensor,
  options: AttentionOptions,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const op = 'attentionBackward';
  const [heads, scale, causal] = parse(options, op);
  const r = native.attentionBackward(
    h(q, op, 'q'),
    h(k, op, 'k'),
    h(v, op, 'v'),
    h(saved?.out, op, 'out'),
    h(saved?.lse, op, 'lse'),
    h(dout, op, 'dout'),
    heads,
    scale,
    causal,
  );
  return { dq: T(r.dq), dk: T(r.dk), dv: T(r.dv) };
}
