// Float64 reference implementations for the JS-level op tests (plain loops, no cleverness), and
// comparison helpers. The native suites (tests/native) check the kernels in depth; these check
// that every op reaches its kernel through the binding with the right shapes and arguments.
export type F64 = Float64Array;

export function relErr(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i];
    if (!Number.isFinite(o)) return Infinity;
    num += (o - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

export const f64 = (a: ArrayLike<number>): F64 => Float64Array.from(a);
export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** erf to ~1e-12 for |x| < 5 (Taylor series), ±1 beyond. */
export function erf(x: number): number {
  if (Math.abs(x) >= 5) return Math.sign(x);
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** a[M,K]·b[K,N] (with optional transposes of the stored matrices). */
export function matmulRef(a: F64, b: F64, M: number, N: number, K: number, ta = false, tb = false): F64 {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
      y[m * N + n] = s;
    }
  return y;
}

export function conv2dRef(x: F64, w: F64, b: F64 | null, N: number, C: number, H: number, W: number, K: number, R: number, S: number, st: number, pad: number): { y: F64; P: number; Q: number } {
  const P = Math.floor((H + 2 * pad - R) / st) + 1, Q = Math.floor((W + 2 * pad - S) / st) + 1;
  const y = new Float64Array(N * K * P * Q);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++)
      for (let p = 0; p < P; p++)
        for (let q = 0; q < Q; q++) {
          let s = b ? b[k] : 0;
          for (let c = 0; c < C; c++)
            for (let r = 0; r < R; r++)
              for (let t = 0; t < S; t++) {
                const ih = p * st - pad + r, iw = q * st - pad + t;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) s += x[((n * C + c) * H + ih) * W + iw] * w[((k * C + c) * R + r) * S + t];
              }
          y[((n * K + k) * P + p) * Q + q] = s;
        }
  return { y, P, Q };
}

/** GroupNorm (+SiLU) over x[N, C, HW]. */
export function groupNormRef(x: F64, N: number, C: number, HW: number, G: number, gamma: F64 | null, beta: F64 | null, eps: number, silu: boolean): F64 {
  const y = new Float64Array(x.length);
  const cg = C / G;
  for (let n = 0; n < N; n++)
    for (let g = 0; g < G; g++) {
      const base = (n * C + g * cg) * HW, cnt = cg * HW;
      let m = 0;
      for (let i = 0; i < cnt; i++) m += x[base + i];
      m /= cnt;
      let v = 0;
      for (let i = 0; i < cnt; i++) v += (x[base + i] - m) ** 2;
      v /= cnt;
      const rs = 1 / Math.sqrt(v + eps);
      for (let i = 0; i < cnt; i++) {
        const c = g * cg + Math.floor(i / HW);
        let o = (x[base + i] - m) * rs * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
        if (silu) o = o * sigmoid(o);
        y[base + i] = o;
      }
    }
  return y;
}

export function layerNormRef(x: F64, M: number, C: number, gamma: F64 | null, beta: F64 | null, eps: number): F64 {
  const y = new Float64Array(x.length);
  for (let r = 0; r < M; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[r * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
    v /= C;
    const rs = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - m) * rs * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
  }
  return y;
}

export const ACT: Record<string, (x: number) => number> = {
  silu: (x) => x * sigmoid(x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  'gelu-tanh': (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  'quick-gelu': (x) => x * sigmoid(1.702 * x),
};

export function softmaxRef(x: F64, M: number, N: number): F64 {
  const y = new Float64Array(x.length);
  for (let r = 0; r < M; r++) {
    let mx = -Infinity;
    for (let j = 0; j < N; j++) mx = Math.max(mx, x[r * N + j]);
    let s = 0;
    for (let j = 0; j < N; j++) s += Math.exp(x[r * N + j] - mx);
    for (let j = 0; j < N; j++) y[r * N + j] = Math.exp(x[r * N + j] - mx) / s;
  }
  return y;
}

/** Multi-head attention, q[B,Lq,H·D], k/v[B,Lk,H·D]. */
export function attentionRef(q: F64, k: F64, v: F64, B: number, H: number, Lq: number, Lk: number, D: number, scale: number, causal: boolean): F64 {
  const C = H * D;
  const out = new Float64Array(B * Lq * C);
  const s = new Float64Array(Lk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) {
        let mx = -Infinity;
        for (let j = 0; j < Lk; j++) {
          let d = 0;
          for (let e = 0; e < D; e++) d += q[(b * Lq + i) * C + h * D + e] * k[(b * Lk + j) * C + h * D + e];
          s[j] = causal && j > i ? -Infinity : d * scale;
          mx = Math.max(mx, s[j]);
        }
        let z = 0;
        for (let j = 0; j < Lk; j++) z += (s[j] = Math.exp(s[j] - mx));
        for (let e = 0; e < D; e++) {
          let o = 0;
          for (let j = 0; j < Lk; j++) o += s[j] * v[(b * Lk + j) * C + h * D + e];
          out[(b * Lq + i) * C + h * D + e] = o / z;
        }
      }
  return out;
}

/** Central finite difference of f along direction d at x. */
export function directionalFD(f: (x: F64) => number, x: F64, d: F64, h = 1e-6): number {
  const xp = x.map((v, i) => v + h * d[i]);
  const xm = x.map((v, i) => v - h * d[i]);
  return (f(xp) - f(xm)) / (2 * h);
}
