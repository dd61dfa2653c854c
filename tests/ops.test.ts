// Every op, forward and backward, through the JS API against float64 references, on every CPU
// path this machine has. Backward: the directional derivative <grad, d> must match a central finite
// difference of the float64 reference forward of L = <y, R>.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, ops, randn, tensor, backends, setCpuPath } from '../src';
import * as R from './reference';

const paths = (['generic', 'avx2', 'avx512'] as const).slice(0, ['generic', 'avx2', 'avx512'].indexOf(backends().cpuPathDetected) + 1);
const initialPath = backends().cpuPath;
afterAll(() => setCpuPath(initialPath));

let seed = 1000;
function rnd(shape: number[], scale = 1): [Tensor, R.F64] {
  const t = randn(shape, { seed: seed++, std: scale });
  return [t, R.f64(t.toArraySync())];
}
const arr = (t: Tensor): Float32Array => t.toArraySync() as Float32Array;
const TOL = 1e-5;

/** Checks <grad, d> against FD of L(x) = <f(x), r> along a random direction d. */
function checkGrad(name: string, grad: Tensor, x: R.F64, f: (x: R.F64) => R.F64, r: R.F64): void {
  const d = R.f64(randn([x.length], { seed: seed++ }).toArraySync());
  const fd = R.directionalFD((xx) => R.dot(f(xx), r), x, d);
  const an = R.dot(arr(grad), d);
  expect(Math.abs(an - fd) / Math.max(1e-3, Math.abs(fd)), `${name}: <grad,d>=${an} vs FD ${fd}`).toBeLessThan(1e-4);
}

describe.each(paths)('ops on the %s CPU path', (path) => {
  setCpuPath(path);
  it('matmul (transposes, batched, shared operand) and its backward', () => {
    setCpuPath(path);
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const M = 5, N = 7, K = 9;
      const [a, A] = rnd(ta ? [K, M] : [M, K]);
      const [b, B] = rnd(tb ? [N, K] : [K, N]);
      const y = ops.matmul(a, b, { transA: ta, transB: tb });
      expect(y.shape).toEqual([M, N]);
      expect(R.relErr(arr(y), R.matmulRef(A, B, M, N, K, ta, tb))).toBeLessThan(TOL);
      const [, Rr] = rnd([M, N]);
      const g = ops.matmulBackward(a, b, tensor(Float32Array.from(Rr), [M, N]), { transA: ta, transB: tb });
      checkGrad('da', g.da, A, (x) => R.matmulRef(x, B, M, N, K, ta, tb), Rr);
      checkGrad('db', g.db, B, (x) => R.matmulRef(A, x, M, N, K, ta, tb), Rr);
    }
    // batched with a shared 2-D right operand
    const [a, A] = rnd([3, 4, 6]);
    const [b, B] = rnd([6, 5]);
    const y = arr(ops.matmul(a, b));
    for (let i = 0; i < 3; i++) {
      const ref = R.matmulRef(A.subarray(i * 24, i * 24 + 24), B, 4, 5, 6);
      expect(R.relErr(y.subarray(i * 20, i * 20 + 20), ref)).toBeLessThan(TOL);
    }
  });

  it('linear and its backward', () => {
    setCpuPath(path);
    const [x, X] = rnd([2, 3, 10]);
    const [w, Wt] = rnd([6, 10]);
    const [b, Bv] = rnd([6]);
    const f = (xx: R.F64, ww: R.F64, bb: R.F64): R.F64 => {
      const y = R.matmulRef(xx, ww, 6, 6, 10, false, true);
      for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) y[i * 6 + j] += bb[j];
      return y;
    };
    const y = ops.linear(x, w, b);
    expect(y.shape).toEqual([2, 3, 6]);
    expect(R.relErr(arr(y), f(X, Wt, Bv))).toBeLessThan(TOL);
    const [r, Rr] = rnd([2, 3, 6]);
    const g = ops.linearBackward(x, w, r);
    checkGrad('dx', g.dx, X, (v) => f(v, Wt, Bv), Rr);
    checkGrad('dw', g.dw, Wt, (v) => f(X, v, Bv), Rr);
    checkGrad('db', g.db!, Bv, (v) => f(X, Wt, v), Rr);
  });

  it('conv2d (3×3 pad 1, stride 2, 1×1) and its backward', () => {
    setCpuPath(path);
    for (const [R_, st, pad] of [[3, 1, 1], [3, 2, 1], [1, 1, 0], [3, 2, 0]]) {
      const N = 2, C = 3, H = 7, W = 6, K = 4;
      const [x, X] = rnd([N, C, H, W]);
      const [w, Wt] = rnd([K, C, R_, R_]);
      const [b, Bv] = rnd([K]);
      const f = (xx: R.F64, ww: R.F64, bb: R.F64) => R.conv2dRef(xx, ww, bb, N, C, H, W, K, R_, R_, st, pad).y;
      const { P, Q } = R.conv2dRef(X, Wt, Bv, N, C, H, W, K, R_, R_, st, pad);
      const y = ops.conv2d(x, w, b, { stride: st, padding: pad });
      expect(y.shape).toEqual([N, K, P, Q]);
      expect(R.relErr(arr(y), f(X, Wt, Bv))).toBeLessThan(TOL);
      const [r, Rr] = rnd([N, K, P, Q]);
      const g = ops.conv2dBackward(r, x, w, { stride: st, padding: pad });
      checkGrad('dx', g.dx, X, (v) => f(v, Wt, Bv), Rr);
      checkGrad('dw', g.dw, Wt, (v) => f(X, v, Bv), Rr);
      checkGrad('db', g.db!, Bv, (v) => f(X, Wt, v), Rr);
    }
  });

  it('groupNorm (± SiLU) and layerNorm with their backward', () => {
    setCpuPath(path);
    for (const silu of [false, true]) {
      const N = 2, C = 6, HW = 10, G = 3;
      const [x, X] = rnd([N, C, 2, 5], 2);
      const [g, Gm] = rnd([C]);
      const [b, Bt] = rnd([C]);
      const f = (xx: R.F64, gg: R.F64, bb: R.F64) => R.groupNormRef(xx, N, C, HW, G, gg, bb, 1e-5, silu);
      const fw = ops.groupNormForward(x, G, { weight: g, bias: b, silu });
      expect(R.relErr(arr(fw.y), f(X, Gm, Bt))).toBeLessThan(TOL);
      const [r, Rr] = rnd([N, C, 2, 5]);
      const gr = ops.groupNormBackward(r, x, G, fw, { weight: g, bias: b, silu });
      checkGrad('gn dx', gr.dx, X, (v) => f(v, Gm, Bt), Rr);
      checkGrad('gn dgamma', gr.dgamma!, Gm, (v) => f(X, v, Bt), Rr);
      checkGrad('gn dbeta', gr.dbeta!, Bt, (v) => f(X, Gm, v), Rr);
    }
    const [x, X] = rnd([3, 4, 12]);
    const [g, Gm] = rnd([12]);
    const [b, Bt] = rnd([12]);
    const f = (xx: R.F64, gg: R.F64, bb: R.F64) => R.layerNormRef(xx, 12, 12, gg, bb, 1e-5);
    const fw = ops.layerNormForward(x, { weight: g, bias: b });
    expect(R.relErr(arr(fw.y), f(X, Gm, Bt))).toBeLessThan(TOL);
    const [r, Rr] = rnd([3, 4, 12]);
    const gr = ops.layerNormBackward(r, x, fw, { weight: g, bias: b });
    checkGrad('ln dx', gr.dx, X, (v) => f(v, Gm, Bt), Rr);
    checkGrad('ln dgamma', gr.dgamma!, Gm, (v) => f(X, v, Bt), Rr);
    checkGrad('ln dbeta', gr.dbeta!, Bt, (v) => f(X, Gm, v), Rr);
  });

  it('activations, GEGLU and softmax with their backward', () => {
    setCpuPath(path);
    for (const kind of ['silu', 'gelu', 'gelu-tanh', 'quick-gelu'] as const) {
      const [x, X] = rnd([37], 2);
      const f = (v: R.F64) => v.map(R.ACT[kind]);
      expect(R.relErr(arr(ops.activation(kind, x)), f(X))).toBeLessThan(TOL);
      const [r, Rr] = rnd([37]);
      checkGrad(kind, ops.activationBackward(kind, x, r), X, f, Rr);
    }
    const [x, X] = rnd([3, 10]);
    const geglu = (v: R.F64) => {
      const y = new Float64Array(15);
      for (let m = 0; m < 3; m++) for (let d = 0; d < 5; d++) y[m * 5 + d] = v[m * 10 + d] * R.ACT.gelu(v[m * 10 + 5 + d]);
      return y;
    };
    expect(R.relErr(arr(ops.geglu(x)), geglu(X))).toBeLessThan(TOL);
    const [r, Rr] = rnd([3, 5]);
    checkGrad('geglu', ops.gegluBackward(x, r), X, geglu, Rr);
    const [s, S] = rnd([4, 9], 3);
    const y = ops.softmax(s);
    expect(R.relErr(arr(y), R.softmaxRef(S, 4, 9))).toBeLessThan(TOL);
    const [r2, R2] = rnd([4, 9]);
    checkGrad('softmax', ops.softmaxBackward(y, r2), S, (v) => R.softmaxRef(v, 4, 9), R2);
  });

  it('attention (self, cross Lq≠Lk, causal) and its backward', () => {
    setCpuPath(path);
    for (const [Lq, Lk, causal] of [[9, 9, false], [7, 13, false], [8, 8, true]] as const) {
      const B = 2, H = 2, D = 8;
      const [q, Q] = rnd([B, Lq, H * D]);
      const [k, K] = rnd([B, Lk, H * D]);
      const [v, V] = rnd([B, Lk, H * D]);
      const scale = 1 / Math.sqrt(D);
      const f = (qq: R.F64, kk: R.F64, vv: R.F64) => R.attentionRef(qq, kk, vv, B, H, Lq, Lk, D, scale, causal);
      const fw = ops.attentionForward(q, k, v, { heads: H, causal });
      expect(R.relErr(arr(fw.out), f(Q, K, V))).toBeLessThan(TOL);
      expect(fw.lse.shape).toEqual([B, H, Lq]);
      const [r, Rr] = rnd([B, Lq, H * D]);
      const g = ops.attentionBackward(q, k, v, fw, r, { heads: H, causal });
      checkGrad('dq', g.dq, Q, (x) => f(x, K, V), Rr);
      checkGrad('dk', g.dk, K, (x) => f(Q, x, V), Rr);
      checkGrad('dv', g.dv, V, (x) => f(Q, K, x), Rr);
    }
  });

  it('nearest upsampling (×2 and an exact size) and its backward', () => {
    setCpuPath(path);
    const [x, X] = rnd([2, 3, 4, 5]);
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
      expect(R.relErr(arr(y), up(X, 4, 5, OH, OW))).toBe(0);
      const [r, Rr] = rnd([2, 3, OH, OW]);
      checkGrad('upsample', ops.upsampleNearestBackward(r, [4, 5]), X, (v) => up(v, 4, 5, OH, OW), Rr);
    }
  });

  it('timestep embedding matches diffusers float32 arithmetic (flip and shift)', () => {
    setCpuPath(path);
    const ts = [0, 1, 10.5, 500, 999];
    for (const [flip, shift, dim] of [[true, 0, 32], [false, 1, 33]] as const) {
      const y = arr(ops.timestepEmbedding(tensor(ts, [5]), dim, { flipSinToCos: flip, freqShift: shift }));
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
      expect(R.relErr(y, ref)).toBeLessThan(TOL);
    }
  });

  it('broadcasting binary ops, scale, sum/mean and their backward', () => {
    setCpuPath(path);
    const [a, A] = rnd([2, 3, 4]);
    const [b, B] = rnd([1, 3, 1]);
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
      expect(R.relErr(arr(ops.binary(op, a, bb)), f(A, BB))).toBeLessThan(TOL);
      const [r, Rr] = rnd([2, 3, 4]);
      const g = ops.binaryBackward(op, a, bb, r);
      expect(g.db.shape).toEqual([1, 3, 1]);
      checkGrad(`${op} da`, g.da, A, (x) => f(x, BB), Rr);
      checkGrad(`${op} db`, g.db, BB, (x) => f(A, x), Rr);
    }
    expect(R.relErr(arr(ops.scale(a, 2, -1)), A.map((v) => 2 * v - 1))).toBeLessThan(TOL);
    const s = ops.sum(a, { axes: [0, 2] });
    expect(s.shape).toEqual([3]);
    const ref = new Float64Array(3);
    A.forEach((v, i) => (ref[Math.floor(i / 4) % 3] += v));
    expect(R.relErr(arr(s), ref)).toBeLessThan(TOL);
    const m = ops.mean(a, { axes: -1, keepdim: true });
    expect(m.shape).toEqual([2, 3, 1]);
    const [r, Rr] = rnd([2, 3, 1]);
    const meanF = (x: R.F64) => {
      const y = new Float64Array(6);
      x.forEach((v, i) => (y[Math.floor(i / 4)] += v / 4));
      return y;
    };
    expect(R.relErr(arr(m), meanF(A))).toBeLessThan(TOL);
    checkGrad('mean', ops.meanBackward(r, [2, 3, 4], { axes: -1, keepdim: true }), A, meanF, Rr);
    expect(R.relErr(arr(ops.sum(a)), [A.reduce((x, y) => x + y, 0)])).toBeLessThan(TOL);
  });

  it('concat / split along an axis, any dtype', () => {
    setCpuPath(path);
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6], [2, 1]);
    const c = ops.concat([a, b], 1);
    expect(c.shape).toEqual([2, 3]);
    expect(Array.from(arr(c))).toEqual([1, 2, 5, 3, 4, 6]);
    const [p, q] = ops.split(c, [2, 1], -1);
    expect(Array.from(arr(p))).toEqual([1, 2, 3, 4]);
    expect(Array.from(arr(q))).toEqual([5, 6]);
    const i = ops.concat([tensor(new Int32Array([1, 2]), [1, 2]), tensor(new Int32Array([3, 4]), [1, 2])], 0);
    expect(Array.from(i.toArraySync())).toEqual([1, 2, 3, 4]);
  });

  it('mse loss and its backward', () => {
    setCpuPath(path);
    const [p, P] = rnd([3, 5]);
    const [t, Tt] = rnd([3, 5]);
    const f = (x: R.F64) => [x.reduce((s, v, i) => s + (v - Tt[i]) ** 2, 0) / 15];
    const l = ops.mseLoss(p, t);
    expect(l.shape).toEqual([]);
    expect(R.relErr(arr(l), f(P))).toBeLessThan(TOL);
    checkGrad('mse', ops.mseLossBackward(p, t), P, (x) => R.f64(f(x)), R.f64([1]));
  });

  it('pix2pix guidance combine and its backward', () => {
    setCpuPath(path);
    const [e, E] = rnd([6, 4, 3, 5]);
    const n = 2 * 4 * 3 * 5;
    const f = (x: R.F64) => {
      const y = new Float64Array(n);
      for (let k = 0; k < n; k++) y[k] = x[2 * n + k] + 7.5 * (x[k] - x[n + k]) + 1.5 * (x[n + k] - x[2 * n + k]);
      return y;
    };
    const g = ops.pix2pixGuidance(e, 7.5, 1.5);
    expect(g.shape).toEqual([2, 4, 3, 5]);
    expect(R.relErr(arr(g), f(E))).toBeLessThan(TOL);
    const [dy, DY] = rnd([2, 4, 3, 5]);
    checkGrad('pix2pixGuidance', ops.pix2pixGuidanceBackward(dy, 7.5, 1.5), E, f, DY);
    expect(() => ops.pix2pixGuidance(dy, 7.5, 1.5)).toThrow(/multiple of 3/);
    expect(() => ops.pix2pixGuidance(e, NaN, 1.5)).toThrow(/guidanceScale/);
  });
});
