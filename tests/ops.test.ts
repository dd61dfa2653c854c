// Every op, forward and backward, through the JS API against float64 references, on every target
// this machine has: each CPU path, and CUDA (float32, then float16 and bfloat16) when a GPU is
// present. Backward: the directional derivative <grad, d> must match a central finite difference of
// the float64 reference forward of L = <y, R>.
//
// Inputs are drawn on the CPU in float32 (randn with a fixed seed per test: every target sees the
// same numbers), rounded to the target's dtype on the CPU, and copied to the target's device; the
// float64 reference is computed from the rounded values. Results are copied back to the CPU before
// they are widened, so a wrong answer points at the op, not at the device's cast.
//
// Tolerances (relative L2 error against the float64 reference of the rounded inputs):
//   float32  1e-5 (forward), 1e-4 (directional derivative vs finite difference)
//   float16  1e-2  (outputs rounded to 11 significant bits, float32 accumulation)
//   bfloat16 2e-2  (8 significant bits)
// For the 16-bit dtypes the directional-derivative error is measured against the typical size of
// <grad, d> (‖grad‖·‖d‖/√n) as well as |FD|, so a direction that happens to cancel cannot fail a
// correct kernel on rounding noise alone.
import { beforeEach, afterAll, describe, expect, it } from 'vitest';
import { Tensor, ops, randn, rand, tensor, backends, setCpuPath } from '../src';
import * as R from './reference';

type CpuPath = 'generic' | 'avx2' | 'avx512';
type FloatDType = 'float32' | 'float16' | 'bfloat16';
interface Target {
  /** Named in test titles and failure messages: 'cpu:avx2', 'cuda', 'cuda:float16'. */
  name: string;
  device: 'cpu' | 'cuda';
  dtype: FloatDType;
  cpuPath?: CpuPath;
}
const TOL: Record<FloatDType, number> = { float32: 1e-5, float16: 1e-2, bfloat16: 2e-2 };
const GRAD_TOL: Record<FloatDType, number> = { float32: 1e-4, float16: 1e-2, bfloat16: 2e-2 };

const paths = (['generic', 'avx2', 'avx512'] as const).slice(0, ['generic', 'avx2', 'avx512'].indexOf(backends().cpuPathDetected) + 1);
const initialPath = backends().cpuPath;
afterAll(() => setCpuPath(initialPath));

let seed = 1000;
/** A random tensor on the target (dtype, device) and the float64 values it holds. */
function rnd(T: Target, shape: number[], scale = 1): [Tensor, R.F64] {
  return put(T, randn(shape, { seed: seed++, std: scale }));
}
/** A float32 CPU tensor rounded to the target's dtype and moved to its device, with its values. */
function put(T: Target, x32: Tensor): [Tensor, R.F64] {
  const x = T.dtype === 'float32' ? x32 : x32.to(T.dtype);
  const values = R.f64(x.toArraySync());
  return [T.device === 'cpu' ? x : x.to(T.device), values];
}
/** float32 or int32 data on the target's device (dtype unchanged). */
const dev = (T: Target, data: number[] | Float32Array | Int32Array, shape: number[]): Tensor =>
  tensor(data, shape, { device: T.device });
/** The values of t, copied to the CPU first and widened there. */
const arr = (t: Tensor): Float32Array => (t.device === 'cpu' ? t : t.to('cpu')).toArraySync() as Float32Array;

/** Checks <grad, d> against FD of L(x) = <f(x), r> along a random direction d. */
function checkGrad(T: Target, name: string, grad: Tensor, x: R.F64, f: (x: R.F64) => R.F64, r: R.F64): void {
  const d = R.f64(randn([x.length], { seed: seed++ }).toArraySync());
  const fd = R.directionalFD((xx) => R.dot(f(xx), r), x, d);
  const g = arr(grad);
  const an = R.dot(g, d);
  const typical = T.dtype === 'float32' ? 0 : Math.sqrt((R.dot(g, g) * R.dot(d, d)) / x.length);
  expect(Math.abs(an - fd) / Math.max(1e-3, Math.abs(fd), typical), `${T.name} ${name}: <grad,d>=${an} vs FD ${fd}`).toBeLessThan(GRAD_TOL[T.dtype]);
}

/** float32 x rounded to nearest-even with p significant bits (normal exponents >= emin), IEEE-style. */
function roundFloat(x: number, p: number, emin: number, maxFinite: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.max(Math.floor(Math.log2(a)), emin);
  if (e > emin && 2 ** e > a) e--; // log2 rounding near powers of two
  if (e > emin && 2 ** (e + 1) <= a) e++;
  const q = 2 ** (e - (p - 1));
  const y = a / q, f = Math.floor(y), rest = y - f;
  const n = rest > 0.5 || (rest === 0.5 && f % 2 === 1) ? f + 1 : f;
  const r = n * q;
  return Math.sign(x) * (r > maxFinite ? Infinity : r);
}
const ROUND: Record<'float16' | 'bfloat16', (x: number) => number> = {
  float16: (x) => roundFloat(x, 11, -14, 65504),
  bfloat16: (x) => roundFloat(x, 8, -126, 3.3895313892515355e38),
};

/** The op tests, registered for one target. Tests of ops that stay float32-only run in the float32 passes. */
function opTests(T: Target): void {
  const half = T.dtype !== 'float32';
  const tol = TOL[T.dtype];
  /** A test of a float32-only op (optimizer, losses, guidance, embeddings, casts, random numbers). */
  const itF32 = (name: string, fn: () => void): void => {
    if (!half) it(name, fn);
  };
  beforeEach(() => {
    if (T.cpuPath) setCpuPath(T.cpuPath);
    seed = 1000;
  });

  it('matmul (transposes, batched, shared operand) and its backward', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const M = 5, N = 7, K = 9;
      const [a, A] = rnd(T, ta ? [K, M] : [M, K]);
      const [b, B] = rnd(T, tb ? [N, K] : [K, N]);
      const y = ops.matmul(a, b, { transA: ta, transB: tb });
      expect(y.shape).toEqual([M, N]);
      expect(R.relErr(arr(y), R.matmulRef(A, B, M, N, K, ta, tb)), `${T.name} transA=${ta} transB=${tb}`).toBeLessThan(tol);
      const [r, Rr] = rnd(T, [M, N]);
      const g = ops.matmulBackward(a, b, r, { transA: ta, transB: tb });
      checkGrad(T, `da transA=${ta} transB=${tb}`, g.da, A, (x) => R.matmulRef(x, B, M, N, K, ta, tb), Rr);
      checkGrad(T, `db transA=${ta} transB=${tb}`, g.db, B, (x) => R.matmulRef(A, x, M, N, K, ta, tb), Rr);
    }
    // batched with a shared 2-D right operand
    const [a, A] = rnd(T, [3, 4, 6]);
    const [b, B] = rnd(T, [6, 5]);
    const y = arr(ops.matmul(a, b));
    for (let i = 0; i < 3; i++) {
      const ref = R.matmulRef(A.subarray(i * 24, i * 24 + 24), B, 4, 5, 6);
      expect(R.relErr(y.subarray(i * 20, i * 20 + 20), ref), `${T.name} batch ${i}`).toBeLessThan(tol);
    }
  });

  it('linear and its backward', () => {
    const [x, X] = rnd(T, [2, 3, 10]);
    const [w, Wt] = rnd(T, [6, 10]);
    const [b, Bv] = rnd(T, [6]);
    const f = (xx: R.F64, ww: R.F64, bb: R.F64): R.F64 => {
      const y = R.matmulRef(xx, ww, 6, 6, 10, false, true);
      for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) y[i * 6 + j] += bb[j];
      return y;
    };
    const y = ops.linear(x, w, b);
    expect(y.shape).toEqual([2, 3, 6]);
    expect(R.relErr(arr(y), f(X, Wt, Bv))).toBeLessThan(tol);
    const [r, Rr] = rnd(T, [2, 3, 6]);
    const g = ops.linearBackward(x, w, r);
    checkGrad(T, 'dx', g.dx, X, (v) => f(v, Wt, Bv), Rr);
    checkGrad(T, 'dw', g.dw, Wt, (v) => f(X, v, Bv), Rr);
    checkGrad(T, 'db', g.db!, Bv, (v) => f(X, Wt, v), Rr);
  });

  it('conv2d (3×3 pad 1, stride 2, 1×1) and its backward', () => {
    for (const [R_, st, pad] of [[3, 1, 1], [3, 2, 1], [1, 1, 0], [3, 2, 0]]) {
      const N = 2, C = 3, H = 7, W = 6, K = 4;
      const what = `${R_}×${R_} stride ${st} pad ${pad}`;
      const [x, X] = rnd(T, [N, C, H, W]);
      const [w, Wt] = rnd(T, [K, C, R_, R_]);
      const [b, Bv] = rnd(T, [K]);
      const f = (xx: R.F64, ww: R.F64, bb: R.F64) => R.conv2dRef(xx, ww, bb, N, C, H, W, K, R_, R_, st, pad).y;
      const { P, Q } = R.conv2dRef(X, Wt, Bv, N, C, H, W, K, R_, R_, st, pad);
      const y = ops.conv2d(x, w, b, { stride: st, padding: pad });
      expect(y.shape).toEqual([N, K, P, Q]);
      expect(R.relErr(arr(y), f(X, Wt, Bv)), `${T.name} ${what}`).toBeLessThan(tol);
      const [r, Rr] = rnd(T, [N, K, P, Q]);
      const g = ops.conv2dBackward(r, x, w, { stride: st, padding: pad });
      checkGrad(T, `dx ${what}`, g.dx, X, (v) => f(v, Wt, Bv), Rr);
      checkGrad(T, `dw ${what}`, g.dw, Wt, (v) => f(X, v, Bv), Rr);
      checkGrad(T, `db ${what}`, g.db!, Bv, (v) => f(X, Wt, v), Rr);
    }
  });

  it('groupNorm (± SiLU) and layerNorm with their backward', () => {
    for (const silu of [false, true]) {
      const N = 2, C = 6, HW = 10, G = 3;
      const [x, X] = rnd(T, [N, C, 2, 5], 2);
      const [g, Gm] = rnd(T, [C]);
      const [b, Bt] = rnd(T, [C]);
      const f = (xx: R.F64, gg: R.F64, bb: R.F64) => R.groupNormRef(xx, N, C, HW, G, gg, bb, 1e-5, silu);
      const fw = ops.groupNormForward(x, G, { weight: g, bias: b, silu });
      expect(R.relErr(arr(fw.y), f(X, Gm, Bt)), `${T.name} silu=${silu}`).toBeLessThan(tol);
      const [r, Rr] = rnd(T, [N, C, 2, 5]);
      const gr = ops.groupNormBackward(r, x, G, fw, { weight: g, bias: b, silu });
      checkGrad(T, `gn dx silu=${silu}`, gr.dx, X, (v) => f(v, Gm, Bt), Rr);
      checkGrad(T, `gn dgamma silu=${silu}`, gr.dgamma!, Gm, (v) => f(X, v, Bt), Rr);
      checkGrad(T, `gn dbeta silu=${silu}`, gr.dbeta!, Bt, (v) => f(X, Gm, v), Rr);
    }
    const [x, X] = rnd(T, [3, 4, 12]);
    const [g, Gm] = rnd(T, [12]);
    const [b, Bt] = rnd(T, [12]);
    const f = (xx: R.F64, gg: R.F64, bb: R.F64) => R.layerNormRef(xx, 12, 12, gg, bb, 1e-5);
    const fw = ops.layerNormForward(x, { weight: g, bias: b });
    expect(R.relErr(arr(fw.y), f(X, Gm, Bt))).toBeLessThan(tol);
    const [r, Rr] = rnd(T, [3, 4, 12]);
    const gr = ops.layerNormBackward(r, x, fw, { weight: g, bias: b });
    checkGrad(T, 'ln dx', gr.dx, X, (v) => f(v, Gm, Bt), Rr);
    checkGrad(T, 'ln dgamma', gr.dgamma!, Gm, (v) => f(X, v, Bt), Rr);
    checkGrad(T, 'ln dbeta', gr.dbeta!, Bt, (v) => f(X, Gm, v), Rr);
  });

  it('activations, GEGLU and softmax with their backward', () => {
    for (const kind of ['silu', 'gelu', 'gelu-tanh', 'quick-gelu'] as const) {
      const [x, X] = rnd(T, [37], 2);
      const f = (v: R.F64) => v.map(R.ACT[kind]);
      expect(R.relErr(arr(ops.activation(kind, x)), f(X)), `${T.name} ${kind}`).toBeLessThan(tol);
      const [r, Rr] = rnd(T, [37]);
      checkGrad(T, kind, ops.activationBackward(kind, x, r), X, f, Rr);
    }
    const [x, X] = rnd(T, [3, 10]);
    const geglu = (v: R.F64) => {
      const y = new Float64Array(15);
      for (let m = 0; m < 3; m++) for (let d = 0; d < 5; d++) y[m * 5 + d] = v[m * 10 + d] * R.ACT.gelu(v[m * 10 + 5 + d]);
      return y;
    };
    expect(R.relErr(arr(ops.geglu(x)), geglu(X)), `${T.name} geglu`).toBeLessThan(tol);
    const [r, Rr] = rnd(T, [3, 5]);
    checkGrad(T, 'geglu', ops.gegluBackward(x, r), X, geglu, Rr);
    const [s, S] = rnd(T, [4, 9], 3);
    const y = ops.softmax(s);
    expect(R.relErr(arr(y), R.softmaxRef(S, 4, 9)), `${T.name} softmax`).toBeLessThan(tol);
    const [r2, R2] = rnd(T, [4, 9]);
    checkGrad(T, 'softmax', ops.softmaxBackward(y, r2), S, (v) => R.softmaxRef(v, 4, 9), R2);
  });

  it('attention (self, cross Lq≠Lk, causal) and its backward', () => {
    for (const [Lq, Lk, causal] of [[9, 9, false], [7, 13, false], [8, 8, true]] as const) {
      const B = 2, H = 2, D = 8;
      const what = `Lq=${Lq} Lk=${Lk} causal=${causal}`;
      const [q, Q] = rnd(T, [B, Lq, H * D]);
      const [k, K] = rnd(T, [B, Lk, H * D]);
      const [v, V] = rnd(T, [B, Lk, H * D]);
      const scale = 1 / Math.sqrt(D);
      const f = (qq: R.F64, kk: R.F64, vv: R.F64) => R.attentionRef(qq, kk, vv, B, H, Lq, Lk, D, scale, causal);
      const fw = ops.attentionForward(q, k, v, { heads: H, causal });
      expect(R.relErr(arr(fw.out), f(Q, K, V)), `${T.name} ${what}`).toBeLessThan(tol);
      expect(fw.lse.shape).toEqual([B, H, Lq]);
      const [r, Rr] = rnd(T, [B, Lq, H * D]);
      const g = ops.attentionBackward(q, k, v, fw, r, { heads: H, causal });
      checkGrad(T, `dq ${what}`, g.dq, Q, (x) => f(x, K, V), Rr);
      checkGrad(T, `dk ${what}`, g.dk, K, (x) => f(Q, x, V), Rr);
      checkGrad(T, `dv ${what}`, g.dv, V, (x) => f(Q, K, x), Rr);
    }
  });

  it('nearest upsampling (×2 and an exact size) and its backward', () => {
    const [x, X] = rnd(T, [2, 3, 4, 5]);
    const up = (v: R.F64, H: number, W: number, OH: number, OW: number) => {
      const y = new Float64Array(6 * OH * OW);
      for (let c = 0; c < 6; c++)
        for (let i = 0; i < OH; i++)
          for (let j = 0; j < OW; j++) {
            const si = Math.min(Math.floor(i * Math.fround(H / OH)), H - 1);
            const sj = Math.min(Math.floor(j * Math.fround(W / OW)), W - 1);
            y[(c * OH + i) * OW + j] = v[(c * H + si) * W + sj];
          }
      return y;
    };
    for (const [OH, OW] of [[8, 10], [7, 11]]) {
      const y = OH === 8 ? ops.upsampleNearest(x) : ops.upsampleNearest(x, { size: [OH, OW] });
      expect(y.shape).toEqual([2, 3, OH, OW]);
      expect(R.relErr(arr(y), up(X, 4, 5, OH, OW)), `${T.name} ${OH}×${OW}`).toBe(0); // a copy: exact in every dtype
      const [r, Rr] = rnd(T, [2, 3, OH, OW]);
      checkGrad(T, `upsample ${OH}×${OW}`, ops.upsampleNearestBackward(r, [4, 5]), X, (v) => up(v, 4, 5, OH, OW), Rr);
    }
  });

  itF32('timestep embedding matches diffusers float32 arithmetic (flip and shift)', () => {
    const ts = [0, 1, 10.5, 500, 999];
    for (const [flip, shift, dim] of [[true, 0, 32], [false, 1, 33]] as const) {
      const y = arr(ops.timestepEmbedding(dev(T, ts, [5]), dim, { flipSinToCos: flip, freqShift: shift }));
      const half = Math.floor(dim / 2);
      const ref = new Float64Array(5 * dim);
      ts.forEach((t, n) => {
        for (let k = 0; k < half; k++) {
          const freq = Math.fround(Math.exp(Math.fround(Math.fround(-Math.log(10000) * k) / (half - shift))));
          const a = Math.fround(Math.fround(t) * freq);
          ref[n * dim + (flip ? half + k : k)] = Math.sin(a);
          ref[n * dim + (flip ? k : half + k)] = Math.cos(a);
        }
      });
      expect(R.relErr(y, ref), `${T.name} flip=${flip} shift=${shift} dim=${dim}`).toBeLessThan(tol);
    }
  });

  it('broadcasting binary ops, scale, sum/mean and their backward', () => {
    const [a, A] = rnd(T, [2, 3, 4]);
    const [b, B] = rnd(T, [1, 3, 1]);
    void B;
    const bc = (fn: (x: number, y: number) => number) => (aa: R.F64, bb: R.F64) => {
      const y = new Float64Array(24);
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) y[(i * 3 + j) * 4 + k] = fn(aa[(i * 3 + j) * 4 + k], bb[j]);
      return y;
    };
    const fns = { add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y, div: (x: number, y: number) => x / y };
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      const bb = op === 'div' ? ops.scale(ops.binary('mul', b, b), 1, 0.5) : b; // keep divisors away from 0
      const BB = R.f64(arr(bb));
      const f = bc(fns[op]);
      expect(R.relErr(arr(ops.binary(op, a, bb)), f(A, BB)), `${T.name} ${op}`).toBeLessThan(tol);
      const [r, Rr] = rnd(T, [2, 3, 4]);
      const g = ops.binaryBackward(op, a, bb, r);
      expect(g.db.shape).toEqual([1, 3, 1]);
      checkGrad(T, `${op} da`, g.da, A, (x) => f(x, BB), Rr);
      checkGrad(T, `${op} db`, g.db, BB, (x) => f(A, x), Rr);
    }
    expect(R.relErr(arr(ops.scale(a, 2, -1)), A.map((v) => 2 * v - 1)), `${T.name} scale`).toBeLessThan(tol);
    const s = ops.sum(a, { axes: [0, 2] });
    expect(s.shape).toEqual([3]);
    const ref = new Float64Array(3);
    A.forEach((v, i) => (ref[Math.floor(i / 4) % 3] += v));
    expect(R.relErr(arr(s), ref), `${T.name} sum axes [0, 2]`).toBeLessThan(tol);
    const m = ops.mean(a, { axes: -1, keepdim: true });
    expect(m.shape).toEqual([2, 3, 1]);
    const [r, Rr] = rnd(T, [2, 3, 1]);
    const meanF = (x: R.F64) => {
      const y = new Float64Array(6);
      x.forEach((v, i) => (y[Math.floor(i / 4)] += v / 4));
      return y;
    };
    expect(R.relErr(arr(m), meanF(A)), `${T.name} mean`).toBeLessThan(tol);
    checkGrad(T, 'mean', ops.meanBackward(r, [2, 3, 4], { axes: -1, keepdim: true }), A, meanF, Rr);
    expect(R.relErr(arr(ops.sum(a)), [A.reduce((x, y) => x + y, 0)]), `${T.name} sum all`).toBeLessThan(tol);
  });

  itF32('concat / split along an axis, any dtype', () => {
    const a = dev(T, [1, 2, 3, 4], [2, 2]);
    const b = dev(T, [5, 6], [2, 1]);
    const c = ops.concat([a, b], 1);
    expect(c.shape).toEqual([2, 3]);
    expect(Array.from(arr(c))).toEqual([1, 2, 5, 3, 4, 6]);
    const [p, q] = ops.split(c, [2, 1], -1);
    expect(Array.from(arr(p))).toEqual([1, 2, 3, 4]);
    expect(Array.from(arr(q))).toEqual([5, 6]);
    const i = ops.concat([dev(T, new Int32Array([1, 2]), [1, 2]), dev(T, new Int32Array([3, 4]), [1, 2])], 0);
    expect(Array.from(arr(i))).toEqual([1, 2, 3, 4]);
    for (const dt of ['float16', 'bfloat16'] as const) {
      const h = ops.concat([a.to(dt), b.to(dt)], 1);
      expect(h.dtype).toBe(dt);
      expect(Array.from(arr(h)), `${T.name} concat ${dt}`).toEqual([1, 2, 5, 3, 4, 6]);
    }
  });

  itF32('mse loss and its backward', () => {
    const [p, P] = rnd(T, [3, 5]);
    const [t, Tt] = rnd(T, [3, 5]);
    const f = (x: R.F64) => [x.reduce((s, v, i) => s + (v - Tt[i]) ** 2, 0) / 15];
    const l = ops.mseLoss(p, t);
    expect(l.shape).toEqual([]);
    expect(R.relErr(arr(l), f(P))).toBeLessThan(tol);
    checkGrad(T, 'mse', ops.mseLossBackward(p, t), P, (x) => R.f64(f(x)), R.f64([1]));
  });

  itF32('pix2pix guidance combine and its backward', () => {
    const [e, E] = rnd(T, [6, 4, 3, 5]);
    const n = 2 * 4 * 3 * 5;
    const f = (x: R.F64) => {
      const y = new Float64Array(n);
      for (let k = 0; k < n; k++) y[k] = x[2 * n + k] + 7.5 * (x[k] - x[n + k]) + 1.5 * (x[n + k] - x[2 * n + k]);
      return y;
    };
    const g = ops.pix2pixGuidance(e, 7.5, 1.5);
    expect(g.shape).toEqual([2, 4, 3, 5]);
    expect(R.relErr(arr(g), f(E))).toBeLessThan(tol);
    const [dy, DY] = rnd(T, [2, 4, 3, 5]);
    checkGrad(T, 'pix2pixGuidance', ops.pix2pixGuidanceBackward(dy, 7.5, 1.5), E, f, DY);
    expect(() => ops.pix2pixGuidance(dy, 7.5, 1.5)).toThrow(/multiple of 3/);
    expect(() => ops.pix2pixGuidance(e, NaN, 1.5)).toThrow(/guidanceScale/);
  });

  itF32('AdamW step, sum of squares and EMA update (flat float32 buffers, in place)', () => {
    const n = 1000; // not a multiple of any block size
    const [p, P] = rnd(T, [n]);
    const [g, G] = rnd(T, [n]);
    const [m, M0] = rnd(T, [n], 0.1);
    const v0 = randn([n], { seed: seed++ });
    const [v, V0] = put(T, ops.binary('mul', v0, v0)); // second moments are >= 0
    const o = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.05, step: 3, gradScale: 0.5 };
    ops.adamwStep(p, g, m, v, o);
    // torch.optim.AdamW (decoupled weight decay, bias-corrected moments), in float64
    const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
    const dP = new Float64Array(n), Mr = new Float64Array(n), Vr = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const gi = G[i] * o.gradScale;
      Mr[i] = o.beta1 * M0[i] + (1 - o.beta1) * gi;
      Vr[i] = o.beta2 * V0[i] + (1 - o.beta2) * gi * gi;
      const pi = P[i] * (1 - o.lr * o.weightDecay) - (o.lr / bc1) * (Mr[i] / (Math.sqrt(Vr[i]) / Math.sqrt(bc2) + o.eps));
      dP[i] = pi - P[i];
    }
    const P1 = arr(p);
    expect(R.relErr(P1.map((x, i) => x - P[i]), dP), `${T.name} adamw Δparams`).toBeLessThan(1e-4); // Δ of O(lr) read off O(1) float32 values
    expect(R.relErr(arr(m), Mr), `${T.name} adamw m`).toBeLessThan(tol);
    expect(R.relErr(arr(v), Vr), `${T.name} adamw v`).toBeLessThan(tol);

    const [ss, finite] = arr(ops.sumSquares(g));
    expect(R.relErr([ss], [R.dot(G, G)]), `${T.name} sumSquares`).toBeLessThan(tol);
    expect(finite).toBe(1);
    const bad = dev(T, Float32Array.from([1, 2, NaN, 4]), [4]);
    expect(arr(ops.sumSquares(bad))[1], `${T.name} sumSquares flags NaN`).toBe(0);

    const [ema, E0] = rnd(T, [n]);
    ops.emaUpdate(ema, p, 0.99);
    expect(R.relErr(arr(ema), E0.map((e, i) => e + 0.01 * (P1[i] - e))), `${T.name} emaUpdate`).toBeLessThan(tol);
  });

  itF32('triplet loss fused with the MSE: statistics and gradient', () => {
    const B = 3, n = 2 * 5;
    const [pred, Pd] = rnd(T, [2 * B, 2, 5]);
    const [tgt, Tg] = rnd(T, [B, 2, 5]);
    const mask = [1, 0, 1], margin = 0.1;
    // loss = mse(pos, target) + mean over kept samples of relu(d_pos − d_neg + margin), d = mean square
    const loss = (x: R.F64): R.F64 => {
      const d = (row: number, b: number) => {
        let a = 0;
        for (let i = 0; i < n; i++) a += (x[row * n + i] - Tg[b * n + i]) ** 2;
        return a / n;
      };
      let mse = 0, trip = 0, kept = 0;
      for (let b = 0; b < B; b++) {
        mse += d(b, b) / B;
        if (mask[b]) {
          trip += Math.max(0, d(b, b) - d(B + b, b) + margin);
          kept++;
        }
      }
      return R.f64([mse + trip / kept]);
    };
    const r = ops.tripletLoss(pred, tgt, { margin, mask });
    const s = arr(r.stats);
    expect(s.length).toBe(4 + 3 * B);
    expect(R.relErr([s[0]], loss(Pd)), `${T.name} triplet loss value`).toBeLessThan(tol);
    expect(s[3]).toBe(2); // counted
    expect(r.grad.shape).toEqual([2 * B, 2, 5]);
    checkGrad(T, 'tripletLoss', r.grad, Pd, loss, R.f64([1]));
  });

  itF32('randn / rand are counter-based: the same numbers on every device and offset', () => {
    const a = arr(randn([1001], { seed: 77, device: T.device, mean: 0.5, std: 2 }));
    const ref = randn([1001], { seed: 77, mean: 0.5, std: 2 }).toArraySync(); // CPU
    // the device's exp/log/sin/cos may differ from the CPU's in the last bits
    expect(R.relErr(a, ref), `${T.name} randn vs the CPU`).toBeLessThan(1e-6);
    const tail = arr(randn([501], { seed: 77, offset: 500, device: T.device, mean: 0.5, std: 2 }));
    expect(R.relErr(tail, ref.subarray(500)), `${T.name} randn at offset 500`).toBeLessThan(1e-6);
    const u = arr(rand([777], { seed: 78, device: T.device, low: -1, high: 3 }));
    const uref = rand([777], { seed: 78, low: -1, high: 3 }).toArraySync();
    expect(R.relErr(u, uref), `${T.name} rand vs the CPU`).toBeLessThan(1e-6);
    expect(u.every((x) => x >= -1 && x < 3)).toBe(true);
  });

  itF32('casts float32 ⇄ float16 / bfloat16 round to nearest even (specials, subnormals, overflow)', () => {
    const special = [0, -0, 1, -1.5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 65519, 65520, 1e5, -1e5,
      6e-8, 3e-5, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-40, 3e38, -3.4e38, Infinity, -Infinity, NaN];
    const x32 = Float32Array.from([...special, ...randn([67], { seed: seed++, std: 100 }).toArraySync()]);
    const x = dev(T, x32, [x32.length]);
    for (const dt of ['float16', 'bfloat16'] as const) {
      const y = x.to(dt);
      expect(y.dtype).toBe(dt);
      const back = arr(y.to('float32')); // widened on the device
      const bad: string[] = [];
      x32.forEach((v, i) => {
        const want = Math.fround(ROUND[dt](v));
        if (!Object.is(back[i], want)) bad.push(`${v} -> ${back[i]} (want ${want})`);
      });
      expect(bad, `${T.name} cast to ${dt} and back`).toEqual([]);
    }
  });
}

describe.each(paths)('ops on the %s CPU path', (path) => opTests({ name: `cpu:${path}`, device: 'cpu', dtype: 'float32', cpuPath: path }));

// CUDA: the same tests on the GPU; skipped (and said so in the title) where none is present.
const cuda = backends().cuda;
const noCuda = cuda ? '' : ` (skipped: no CUDA device${backends().cudaBuilt ? '' : '; the addon was built without CUDA'})`;
describe.skipIf(!cuda)(`ops on cuda${noCuda}`, () => opTests({ name: 'cuda', device: 'cuda', dtype: 'float32' }));
describe.skipIf(!cuda).each(['float16', 'bfloat16'] as const)(`ops on cuda in %s${noCuda}`, (dtype) =>
  opTests({ name: `cuda:${dtype}`, device: 'cuda', dtype }),
);
