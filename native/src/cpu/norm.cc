#include "cpu/norm.h"

#include <cmath>
#include <cstdlib>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/vmath.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kGrainElems = 1 << 14;  // elements per parallel chunk (memory-bound loops)

inline int64_t row_grain(int64_t len) { return len > 0 ? (kGrainElems + len - 1) / len : 1; }

// Scratch buffer freed on scope exit (no std::vector in kernel files).
struct Scratch {
  double* p;
  explicit Scratch(int64_t n) : p(static_cast<double*>(std::malloc(size_t(n > 0 ? n : 1) * sizeof(double)))) {}
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// s1 = Σ(x − K), s2 = Σ(x − K)² in double. Shifting by a sample K of the same group keeps the
// one-pass variance s2/n − (s1/n)² stable when |mean| >> std; double sums keep it exact enough.
void shifted_sums(const float* p, int64_t n, float K, double* s1, double* s2) {
  int64_t i = 0;
  double t1 = 0, t2 = 0;
#if defined(__AVX512F__)
  {
    __m512d k = _mm512_set1_pd(K), a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
    for (; i + 16 <= n; i += 16) {
      __m512 v = _mm512_loadu_ps(p + i);
      __m512d lo = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), k);
      __m512d hi = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), k);
      a0 = _mm512_add_pd(a0, lo);
      a1 = _mm512_add_pd(a1, hi);
      q0 = _mm512_fmadd_pd(lo, lo, q0);
      q1 = _mm512_fmadd_pd(hi, hi, q1);
    }
    t1 = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    t2 = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1));
  }
#elif defined(__AVX2__)
  {
    __m256d k = _mm256_set1_pd(K), a0 = _mm256_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(p + i);
      __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), k);
      __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), k);
      a0 = _mm256_add_pd(a0, lo);
      a1 = _mm256_add_pd(a1, hi);
      q0 = _mm256_fmadd_pd(lo, lo, q0);
      q1 = _mm256_fmadd_pd(hi, hi, q1);
    }
    double b1[4], b2[4];
    _mm256_storeu_pd(b1, _mm256_add_pd(a0, a1));
    _mm256_storeu_pd(b2, _mm256_add_pd(q0, q1));
    t1 = (b1[0] + b1[1]) + (b1[2] + b1[3]);
    t2 = (b2[0] + b2[1]) + (b2[2] + b2[3]);
  }
#else
  {
    double a[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};
    for (; i + 4 <= n; i += 4)
      for (int j = 0; j < 4; ++j) {
        double d = double(p[i + j]) - K;
        a[j] += d;
        q[j] += d * d;
      }
    t1 = (a[0] + a[1]) + (a[2] + a[3]);
    t2 = (q[0] + q[1]) + (q[2] + q[3]);
  }
#endif
  for (; i < n; ++i) {
    double d = double(p[i]) - K;
    t1 += d;
    t2 += d * d;
  }
  *s1 = t1;
  *s2 = t2;
}

// A = Σ g, B = Σ g·x̂ with x̂ = (x − mean)·rstd, in double (8 independent lanes, fixed order).
void grad_sums(const float* g, const float* x, float mean, float rstd, int64_t n, double* A, double* B) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      float xh = (x[i + j] - mean) * rstd;
      a[j] += double(g[i + j]);
      b[j] += double(g[i + j]) * double(xh);
    }
  double sa = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  double sb = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
  for (; i < n; ++i) {
    float xh = (x[i] - mean) * rstd;
    sa += double(g[i]);
    sb += double(g[i]) * double(xh);
  }
  *A = sa;
  *B = sb;
}

// y = (x − mean)·scale + shift, then SiLU when silu.
void normalize_row(const float* x, float* y, int64_t n, float mean, float scale, float shift, bool silu) {
  if (silu) {
    for (int64_t i = 0; i < n; ++i) {
      float z = (x[i] - mean) * scale + shift;
      y[i] = z * vm_sigmoid(z);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * scale + shift;
  }
}

}  // namespace

// Statistics and normalisation both run over (n, c) rows of HW, so G = 1 parallelises too; the
// per-row partial sums are combined per group in a fixed order (deterministic for any threads).
void groupnorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                       int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu) {
  const int64_t Cg = C / G, rows = N * C;
  if (HW <= 0 || Cg <= 0) return;
  Scratch part(rows * 2);
  double* ps = part.p;
  parallel_for(rows, row_grain(HW), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t n = r / C, g = (r % C) / Cg;
      float K = x[(n * C + g * Cg) * HW];  // the group's first element
      shifted_sums(x + r * HW, HW, K, ps + 2 * r, ps + 2 * r + 1);
    }
  });
  const double count = double(Cg * HW);
  for (int64_t ng = 0; ng < N * G; ++ng) {
    int64_t n = ng / G, g = ng % G;
    double s1 = 0, s2 = 0;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
      s1 += ps[2 * (n * C + c)];
      s2 += ps[2 * (n * C + c) + 1];
    }
    double m = s1 / count, var = s2 / count - m * m;
    if (var < 0) var = 0;
    mean[ng] = float(double(x[(n * C + g * Cg) * HW]) + m);
    rstd[ng] = float(1.0 / std::sqrt(var + double(eps)));
  }
  parallel_for(rows, row_grain(HW), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t n = r / C, c = r % C, ng = n * G + c / Cg;
      float scale = rstd[ng] * (gamma ? gamma[c] : 1.0f);
      float shift = beta ? beta[c] : 0.0f;
      normalize_row(x + r * HW, y + r * HW, HW, mean[ng], scale, shift, silu);
    }
  });
}

// With x̂ = (x − μ)·rstd, z = γx̂ + β and dz the gradient w.r.t. z (through SiLU when fused):
//   dβ_c = Σ dz, dγ_c = Σ dz·x̂, dx = rstd·(γ_c·dz − mean_g(γdz) − x̂·mean_g(γdz·x̂)).
// Pass 1 gets per-row Σdz, Σdz·x̂ (and with SiLU stores dz in dx); pass 2 writes dx.
void groupnorm_backward(const float* dy, const float* x, const float* gamma, const float* beta, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t HW,
                        int64_t G, bool silu, bool accumulate) {
  const int64_t Cg = C / G, rows = N * C;
  if (HW <= 0 || Cg <= 0) return;
  Scratch part(rows * 2), coef(N * G * 2);
  double* ps = part.p;
  parallel_for(rows, row_grain(HW), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t n = r / C, c = r % C, ng = n * G + c / Cg;
      const float* xr = x + r * HW;
      const float* dz = dy + r * HW;
      float mu = mean[ng], rs = rstd[ng];
      if (silu) {
        float scale = rs * (gamma ? gamma[c] : 1.0f), shift = beta ? beta[c] : 0.0f;
        float* d = dx + r * HW;
        const float* dyr = dy + r * HW;
        for (int64_t i = 0; i < HW; ++i) {
          float z = (xr[i] - mu) * scale + shift;
          float s = vm_sigmoid(z);
          d[i] = dyr[i] * s * (1.0f + z * (1.0f - s));
        }
        dz = d;
      }
      grad_sums(dz, xr, mu, rs, HW, ps + 2 * r, ps + 2 * r + 1);
    }
  });
  const double count = double(Cg * HW);
  for (int64_t ng = 0; ng < N * G; ++ng) {
    int64_t n = ng / G, g = ng % G;
    double s1 = 0, s2 = 0;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
      double gc = gamma ? double(gamma[c]) : 1.0;
      s1 += gc * ps[2 * (n * C + c)];
      s2 += gc * ps[2 * (n * C + c) + 1];
    }
    coef.p[2 * ng] = s1 / count;
    coef.p[2 * ng + 1] = s2 / count;
  }
  parallel_for(rows, row_grain(HW), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t n = r / C, c = r % C, ng = n * G + c / Cg;
      const float* xr = x + r * HW;
      const float* dz = silu ? dx + r * HW : dy + r * HW;
      float* d = dx + r * HW;
      float mu = mean[ng], rs = rstd[ng];
      float k1 = rs * (gamma ? gamma[c] : 1.0f);
      float k2 = float(-double(rs) * coef.p[2 * ng]);
      float k3 = float(-double(rs) * coef.p[2 * ng + 1]);
      for (int64_t i = 0; i < HW; ++i) d[i] = k1 * dz[i] + k2 + k3 * ((xr[i] - mu) * rs);
    }
  });
  // Channel sums over the batch, in order of n.
  for (int64_t c = 0; c < C; ++c) {
    double sa = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sa += ps[2 * (n * C + c)];
      sb += ps[2 * (n * C + c) + 1];
    }
    if (dbeta) dbeta[c] = accumulate ? float(double(dbeta[c]) + sa) : float(sa);
    if (dgamma) dgamma[c] = accumulate ? float(double(dgamma[c]) + sb) : float(sb);
  }
}

void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                       int64_t M, int64_t C, float eps) {
  if (C <= 0) return;
  parallel_for(M, row_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      const float* xr = x + m * C;
      float* yr = y + m * C;
      double s1, s2;
      shifted_sums(xr, C, xr[0], &s1, &s2);
      double mm = s1 / double(C), var = s2 / double(C) - mm * mm;
      if (var < 0) var = 0;
      float mu = float(double(xr[0]) + mm), rs = float(1.0 / std::sqrt(var + double(eps)));
      mean[m] = mu;
      rstd[m] = rs;
      if (gamma && beta) {
        for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
      } else {
        for (int64_t c = 0; c < C; ++c)
          yr[c] = (xr[c] - mu) * rs * (gamma ? gamma[c] : 1.0f) + (beta ? beta[c] : 0.0f);
      }
    }
  });
}

// dx per row as for GroupNorm with one group. dγ/dβ are column sums over rows: fixed blocks of
// kRowBlock rows write double partials, which are then summed per column in block order.
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                        float* dx, float* dgamma, float* dbeta, int64_t M, int64_t C, bool accumulate) {
  constexpr int64_t kRowBlock = 64;
  const bool params = dgamma || dbeta;
  const int64_t nblocks = (M + kRowBlock - 1) / kRowBlock;
  Scratch part(params ? nblocks * 2 * C : 1);
  parallel_for(nblocks, row_grain(C * kRowBlock), [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      double* pg = part.p + blk * 2 * C;
      double* pb = pg + C;
      if (params)
        for (int64_t c = 0; c < 2 * C; ++c) pg[c] = 0;
      for (int64_t m = blk * kRowBlock; m < M && m < (blk + 1) * kRowBlock; ++m) {
        const float* xr = x + m * C;
        const float* dyr = dy + m * C;
        float* d = dx + m * C;
        float mu = mean[m], rs = rstd[m];
        double A = 0, B = 0;
        if (gamma) {
          for (int64_t c = 0; c < C; ++c) d[c] = dyr[c] * gamma[c];  // dx̂, kept in dx
          grad_sums(d, xr, mu, rs, C, &A, &B);
        } else {
          grad_sums(dyr, xr, mu, rs, C, &A, &B);
        }
        const float* g = gamma ? d : dyr;
        float k2 = float(-double(rs) * A / double(C)), k3 = float(-double(rs) * B / double(C));
        for (int64_t c = 0; c < C; ++c) {
          float xh = (xr[c] - mu) * rs;
          d[c] = rs * g[c] + k2 + k3 * xh;
        }
        if (params)
          for (int64_t c = 0; c < C; ++c) {
            float xh = (xr[c] - mu) * rs;
            pg[c] += double(dyr[c]) * double(xh);
            pb[c] += double(dyr[c]);
          }
      }
    }
  });
  if (!params) return;
  parallel_for(C, 256, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      double sg = 0, sb = 0;
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        sg += part.p[blk * 2 * C + c];
        sb += part.p[blk * 2 * C + C + c];
      }
      if (dgamma) dgamma[c] = accumulate ? float(double(dgamma[c]) + sg) : float(sg);
      if (dbeta) dbeta[c] = accumulate ? float(double(dbeta[c]) + sb) : float(sb);
    }
  });
}

}  // namespace ie::cpu::IE_ISA
