// GroupNorm (+ fused SiLU) and LayerNorm on CUDA.
//
// GroupNorm forward, three kernels (every one parallel over the whole tensor, so the VAE's few
// huge groups — 32 groups of 2.6M elements at 512² — still fill the GPU):
//   1. a block per (n, c) row of HW: two passes over the row, Σ(x − K) with K the row's first
//      element gives the row mean m (float), then t = Σ(x − m), q = Σ(x − m)² (float32 sums);
//   2. a thread per (n, g) combines its Cg rows in double (Chan's parallel formula):
//      μ_r = m + t/HW, M2_r = q − t²/HW, μ = mean μ_r, M2 = Σ M2_r + HW·Σ(μ_r − μ)²;
//      biased var = M2/(Cg·HW), rstd = 1/√(var + eps) — no cancellation even for |mean| >> std;
//   3. an elementwise pass y = (x − μ)·rstd·γ_c + β_c, then SiLU when fused.
// Backward: a block per row sums dz and dz·x̂ (dz = dy, through SiLU when fused, recomputed from
// x); a thread per group turns the γ-weighted row sums into the two coefficients; an elementwise
// pass writes dx = rstd·γ_c·dz + k2 + k3·x̂ (the CPU kernel's formula); a thread per channel sums
// the row sums over n in order for dγ/dβ. All reductions have a fixed order (deterministic).
// Faster later: one-pass statistics in registers for rows that fit, vector loads, fusing the row
// and group kernels with a cluster / grid sync.
//
// LayerNorm: a warp per row (two-pass statistics as above, then the normalisation). Backward: a
// warp per row for dx; dγ/dβ in two deterministic stages (per row-block column partials, then a
// per-column sum of the partials in block order).
#include "cuda/common.cuh"
#include "cuda/norm.h"

namespace ie::cuda {
namespace {

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__device__ __forceinline__ float opt_load(const T* p, int64_t i, float dflt) {
  return p ? to_f(p[i]) : dflt;
}

int row_threads(int64_t len) { return len <= 2048 ? 128 : 256; }

int grid_rows(int64_t rows, int device) {
  int64_t cap = int64_t(sm_count(device)) * 32;
  return int(rows < 1 ? 1 : rows < cap ? rows : cap);
}

// ---------------------------------------------------------------------------------------------
// GroupNorm forward

// stats[r] = {m, t, q} of row r (length HW).
template <typename T>
__global__ void gn_row_stats_kernel(const T* __restrict__ x, float* __restrict__ stats, int64_t rows, int64_t HW) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * HW;
    const float K = to_f(xr[0]);
    float s1 = 0.f;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) s1 += to_f(xr[i]) - K;
    s1 = block_sum(s1, scratch);
    const float m = K + s1 / float(HW);
    float t = 0.f, q = 0.f;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
      float d = to_f(xr[i]) - m;
      t += d;
      q += d * d;
    }
    t = block_sum(t, scratch);
    q = block_sum(q, scratch);
    if (threadIdx.x == 0) {
      stats[3 * r] = m;
      stats[3 * r + 1] = t;
      stats[3 * r + 2] = q;
    }
  }
}

__global__ void gn_group_stats_kernel(const float* __restrict__ stats, float* __restrict__ mean,
                                      float* __restrict__ rstd, int64_t N, int64_t C, int64_t HW, int64_t G,
                                      float eps) {
  const int64_t Cg = C / G, NG = N * G;
  IE_GRID_STRIDE(ng, NG) {
    const int64_t n = ng / G, g = ng % G;
    const float* s = stats + 3 * (n * C + g * Cg);
    const double hw = double(HW);
    double mu = 0, m2 = 0;
    for (int64_t c = 0; c < Cg; ++c) mu += double(s[3 * c]) + double(s[3 * c + 1]) / hw;
    mu /= double(Cg);
    for (int64_t c = 0; c < Cg; ++c) {
      double t = double(s[3 * c + 1]), mr = double(s[3 * c]) + t / hw, dm = mr - mu;
      m2 += double(s[3 * c + 2]) - t * t / hw + hw * dm * dm;
    }
    double var = m2 / (double(Cg) * hw);
    if (var < 0) var = 0;
    mean[ng] = float(mu);
    rstd[ng] = float(1.0 / sqrt(var + double(eps)));
  }
}

template <typename T>
__global__ void gn_normalize_kernel(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                    const float* __restrict__ mean, const float* __restrict__ rstd, T* __restrict__ y,
                                    int64_t N, int64_t C, int64_t HW, int64_t G, bool silu) {
  const int64_t n_total = N * C * HW, Cg = C / G;
  IE_GRID_STRIDE(i, n_total) {
    const int64_t r = i / HW, c = r % C, ng = (r / C) * G + c / Cg;
    const float scale = rstd[ng] * opt_load(gamma, c, 1.0f), shift = opt_load(beta, c, 0.0f);
    float z = (to_f(x[i]) - mean[ng]) * scale + shift;
    if (silu) z = z * sigmoid_f(z);
    y[i] = from_f<T>(z);
  }
}

// ---------------------------------------------------------------------------------------------
// GroupNorm backward

// dz at element i of row r (channel c): dy, or dy·SiLU'(z) when the forward fused SiLU.
template <typename T>
__device__ __forceinline__ float gn_dz(const T* dy, float xv, int64_t i, float mu, float scale, float shift,
                                       bool silu) {
  float g = to_f(dy[i]);
  if (silu) {
    float z = (xv - mu) * scale + shift;
    float s = sigmoid_f(z);
    g = g * s * (1.0f + z * (1.0f - s));
  }
  return g;
}

// part[r] = {Σ dz, Σ dz·x̂} over row r.
template <typename T>
__global__ void gn_bwd_rows_kernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ gamma,
                                   const T* __restrict__ beta, const float* __restrict__ mean,
                                   const float* __restrict__ rstd, float* __restrict__ part, int64_t N, int64_t C,
                                   int64_t HW, int64_t G, bool silu) {
  __shared__ float scratch[32];
  const int64_t rows = N * C, Cg = C / G;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t c = r % C, ng = (r / C) * G + c / Cg;
    const float mu = mean[ng], rs = rstd[ng];
    const float scale = rs * opt_load(gamma, c, 1.0f), shift = opt_load(beta, c, 0.0f);
    const T* xr = x + r * HW;
    const T* dyr = dy + r * HW;
    float a = 0.f, b = 0.f;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
      float xv = to_f(xr[i]);
      float dz = gn_dz(dyr, xv, i, mu, scale, shift, silu);
      a += dz;
      b += dz * ((xv - mu) * rs);
    }
    a = block_sum(a, scratch);
    b = block_sum(b, scratch);
    if (threadIdx.x == 0) {
      part[2 * r] = a;
      part[2 * r + 1] = b;
    }
  }
}

// coef[ng] = {k2, k3} = −rstd·{mean_g(γ·dz), mean_g(γ·dz·x̂)}.
template <typename T>
__global__ void gn_bwd_coef_kernel(const float* __restrict__ part, const T* __restrict__ gamma,
                                   const float* __restrict__ rstd, float* __restrict__ coef, int64_t N, int64_t C,
                                   int64_t HW, int64_t G) {
  const int64_t Cg = C / G, NG = N * G;
  IE_GRID_STRIDE(ng, NG) {
    const int64_t n = ng / G, g = ng % G;
    double s1 = 0, s2 = 0;
    for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
      double gc = gamma ? double(to_f(gamma[c])) : 1.0;
      s1 += gc * double(part[2 * (n * C + c)]);
      s2 += gc * double(part[2 * (n * C + c) + 1]);
    }
    const double count = double(Cg) * double(HW), rs = double(rstd[ng]);
    coef[2 * ng] = float(-rs * (s1 / count));
    coef[2 * ng + 1] = float(-rs * (s2 / count));
  }
}

template <typename T>
__global__ void gn_bwd_dx_kernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ gamma,
                                 const T* __restrict__ beta, const float* __restrict__ mean,
                                 const float* __restrict__ rstd, const float* __restrict__ coef, T* __restrict__ dx,
                                 int64_t N, int64_t C, int64_t HW, int64_t G, bool silu) {
  const int64_t n_total = N * C * HW, Cg = C / G;
  IE_GRID_STRIDE(i, n_total) {
    const int64_t r = i / HW, c = r % C, ng = (r / C) * G + c / Cg;
    const float mu = mean[ng], rs = rstd[ng];
    const float k1 = rs * opt_load(gamma, c, 1.0f);
    const float xv = to_f(x[i]);
    const float dz = gn_dz(dy, xv, i, mu, k1, opt_load(beta, c, 0.0f), silu);
    dx[i] = from_f<T>(k1 * dz + coef[2 * ng] + coef[2 * ng + 1] * ((xv - mu) * rs));
  }
}

// dβ_c = Σ_n part[n, c].a, dγ_c = Σ_n part[n, c].b, in order of n.
__global__ void gn_bwd_params_kernel(const float* __restrict__ part, float* __restrict__ dgamma,
                                     float* __restrict__ dbeta, int64_t N, int64_t C, bool accumulate) {
  IE_GRID_STRIDE(c, C) {
    double sa = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sa += double(part[2 * (n * C + c)]);
      sb += double(part[2 * (n * C + c) + 1]);
    }
    if (dbeta) dbeta[c] = accumulate ? float(double(dbeta[c]) + sa) : float(sa);
    if (dgamma) dgamma[c] = accumulate ? float(double(dgamma[c]) + sb) : float(sb);
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

constexpr int kLnWarps = 4;  // warps (rows) per 128-thread block

template <typename T>
__global__ void ln_fwd_kernel(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                              T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd, int64_t M,
                              int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t stride = int64_t(gridDim.x) * kLnWarps;
  for (int64_t m = int64_t(blockIdx.x) * kLnWarps + (threadIdx.x >> 5); m < M; m += stride) {
    const T* xr = x + m * C;
    T* yr = y + m * C;
    const float K = to_f(xr[0]);
    float s1 = 0.f;
    for (int64_t c = lane; c < C; c += 32) s1 += to_f(xr[c]) - K;
    s1 = warp_sum(s1);
    const float m0 = K + s1 / float(C);
    float t = 0.f, q = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
      float d = to_f(xr[c]) - m0;
      t += d;
      q += d * d;
    }
    t = warp_sum(t);
    q = warp_sum(q);
    const double tc = double(t) / double(C);
    double var = double(q) / double(C) - tc * tc;
    if (var < 0) var = 0;
    const float mu = float(double(m0) + tc), rs = float(1.0 / sqrt(var + double(eps)));
    if (lane == 0) {
      mean[m] = mu;
      rstd[m] = rs;
    }
    for (int64_t c = lane; c < C; c += 32)
      yr[c] = from_f<T>((to_f(xr[c]) - mu) * rs * opt_load(gamma, c, 1.0f) + opt_load(beta, c, 0.0f));
  }
}

template <typename T>
__global__ void ln_bwd_dx_kernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ gamma,
                                 const float* __restrict__ mean, const float* __restrict__ rstd, T* __restrict__ dx,
                                 int64_t M, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t stride = int64_t(gridDim.x) * kLnWarps;
  for (int64_t m = int64_t(blockIdx.x) * kLnWarps + (threadIdx.x >> 5); m < M; m += stride) {
    const T* xr = x + m * C;
    const T* dyr = dy + m * C;
    T* dxr = dx + m * C;
    const float mu = mean[m], rs = rstd[m];
    float A = 0.f, B = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
      float g = to_f(dyr[c]) * opt_load(gamma, c, 1.0f);
      A += g;
      B += g * ((to_f(xr[c]) - mu) * rs);
    }
    A = warp_sum(A);
    B = warp_sum(B);
    const float k2 = float(-double(rs) * double(A) / double(C)), k3 = float(-double(rs) * double(B) / double(C));
    for (int64_t c = lane; c < C; c += 32) {
      float g = to_f(dyr[c]) * opt_load(gamma, c, 1.0f);
      float xh = (to_f(xr[c]) - mu) * rs;
      dxr[c] = from_f<T>(rs * g + k2 + k3 * xh);
    }
  }
}

// Row blocks for the dγ/dβ partials: depends on M only (deterministic for a shape).
constexpr int64_t kLnMaxBlocks = 1024;
int64_t ln_row_blocks(int64_t M) {
  int64_t nb = (M + 63) / 64;
  return nb < 1 ? 1 : nb < kLnMaxBlocks ? nb : kLnMaxBlocks;
}

// part[blk][0][c] = Σ_{m in blk} dy·x̂, part[blk][1][c] = Σ dy; a thread per column, rows in order.
template <typename T>
__global__ void ln_bwd_partials_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                       const float* __restrict__ mean, const float* __restrict__ rstd,
                                       float* __restrict__ part, int64_t M, int64_t C, int64_t nblk) {
  const int64_t rows_per = (M + nblk - 1) / nblk;
  const int64_t n_total = nblk * C;
  IE_GRID_STRIDE(idx, n_total) {
    const int64_t blk = idx / C, c = idx - blk * C;
    const int64_t m0 = blk * rows_per, m1 = m0 + rows_per < M ? m0 + rows_per : M;
    float sg = 0.f, sb = 0.f;
    for (int64_t m = m0; m < m1; ++m) {
      float g = to_f(dy[m * C + c]);
      sg += g * ((to_f(x[m * C + c]) - mean[m]) * rstd[m]);
      sb += g;
    }
    part[blk * 2 * C + c] = sg;
    part[blk * 2 * C + C + c] = sb;
  }
}

__global__ void ln_bwd_params_kernel(const float* __restrict__ part, float* __restrict__ dgamma,
                                     float* __restrict__ dbeta, int64_t C, int64_t nblk, bool accumulate) {
  IE_GRID_STRIDE(c, C) {
    double sg = 0, sb = 0;
    for (int64_t b = 0; b < nblk; ++b) {
      sg += double(part[b * 2 * C + c]);
      sb += double(part[b * 2 * C + C + c]);
    }
    if (dgamma) dgamma[c] = accumulate ? float(double(dgamma[c]) + sg) : float(sg);
    if (dbeta) dbeta[c] = accumulate ? float(double(dbeta[c]) + sb) : float(sb);
  }
}

}  // namespace

int64_t groupnorm_forward_tmp(int64_t N, int64_t C, int64_t) { return 3 * N * C; }
int64_t groupnorm_backward_tmp(int64_t N, int64_t C, int64_t G) { return 2 * N * C + 2 * N * G; }
int64_t layernorm_backward_tmp(int64_t M, int64_t C, bool params) {
  return params ? ln_row_blocks(M) * 2 * C : 0;
}

void groupnorm_forward(DType dt, const void* x, const void* gamma, const void* beta, void* y, float* mean, float* rstd,
                       float* tmp, int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu, int device) {
  if (N <= 0 || C <= 0 || HW <= 0 || G <= 0) return;  // the CPU kernel writes nothing either
  dispatch_float(dt, "groupNorm", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    const T* xp = static_cast<const T*>(x);
    gn_row_stats_kernel<T><<<grid_rows(N * C, device), row_threads(HW), 0, st>>>(xp, tmp, N * C, HW);
    check_launch("groupnorm_forward (row statistics)");
    gn_group_stats_kernel<<<grid_for(N * G, 128, device), 128, 0, st>>>(tmp, mean, rstd, N, C, HW, G, eps);
    check_launch("groupnorm_forward (group statistics)");
    gn_normalize_kernel<T><<<grid_for(N * C * HW, 256, device), 256, 0, st>>>(
        xp, static_cast<const T*>(gamma), static_cast<const T*>(beta), mean, rstd, static_cast<T*>(y), N, C, HW, G,
        silu);
    check_launch("groupnorm_forward (normalise)");
  });
}

void groupnorm_backward(DType dt, const void* dy, const void* x, const void* gamma, const void* beta,
                        const float* mean, const float* rstd, void* dx, float* dgamma, float* dbeta, float* tmp,
                        int64_t N, int64_t C, int64_t HW, int64_t G, bool silu, bool accumulate, int device) {
  if (N <= 0 || C <= 0 || HW <= 0 || G <= 0) return;  // as the CPU kernel: nothing written
  dispatch_float(dt, "groupNormBackward", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    const T *dyp = static_cast<const T*>(dy), *xp = static_cast<const T*>(x);
    const T *gp = static_cast<const T*>(gamma), *bp = static_cast<const T*>(beta);
    float* part = tmp;             // [N*C][2]
    float* coef = tmp + 2 * N * C;  // [N*G][2]
    gn_bwd_rows_kernel<T><<<grid_rows(N * C, device), row_threads(HW), 0, st>>>(dyp, xp, gp, bp, mean, rstd, part,
                                                                               N, C, HW, G, silu);
    check_launch("groupnorm_backward (row sums)");
    gn_bwd_coef_kernel<T><<<grid_for(N * G, 128, device), 128, 0, st>>>(part, gp, rstd, coef, N, C, HW, G);
    check_launch("groupnorm_backward (coefficients)");
    gn_bwd_dx_kernel<T><<<grid_for(N * C * HW, 256, device), 256, 0, st>>>(dyp, xp, gp, bp, mean, rstd, coef,
                                                                           static_cast<T*>(dx), N, C, HW, G, silu);
    check_launch("groupnorm_backward (dx)");
    if (dgamma || dbeta) {
      gn_bwd_params_kernel<<<grid_for(C, 128, device), 128, 0, st>>>(part, dgamma, dbeta, N, C, accumulate);
      check_launch("groupnorm_backward (dgamma/dbeta)");
    }
  });
}

void layernorm_forward(DType dt, const void* x, const void* gamma, const void* beta, void* y, float* mean, float* rstd,
                       int64_t M, int64_t C, float eps, int device) {
  if (M <= 0 || C <= 0) return;
  dispatch_float(dt, "layerNorm", [&](auto tag) {
    using T = decltype(tag);
    ln_fwd_kernel<T><<<grid_rows((M + kLnWarps - 1) / kLnWarps, device), 32 * kLnWarps, 0, stream(device)>>>(
        static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta), static_cast<T*>(y), mean,
        rstd, M, C, eps);
    check_launch("layernorm_forward");
  });
}

void layernorm_backward(DType dt, const void* dy, const void* x, const void* gamma, const float* mean,
                        const float* rstd, void* dx, float* dgamma, float* dbeta, float* tmp, int64_t M, int64_t C,
                        bool accumulate, int device) {
  if (C <= 0) return;
  const bool params = dgamma || dbeta;
  dispatch_float(dt, "layerNormBackward", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    const T *dyp = static_cast<const T*>(dy), *xp = static_cast<const T*>(x);
    if (M > 0) {
      ln_bwd_dx_kernel<T><<<grid_rows((M + kLnWarps - 1) / kLnWarps, device), 32 * kLnWarps, 0, st>>>(
          dyp, xp, static_cast<const T*>(gamma), mean, rstd, static_cast<T*>(dx), M, C);
      check_launch("layernorm_backward (dx)");
    }
    if (!params) return;
    // With M == 0 the partials are empty sums (zeros): dγ/dβ are 0 (or unchanged with accumulate),
    // as on the CPU.
    const int64_t nblk = ln_row_blocks(M);
    ln_bwd_partials_kernel<T><<<grid_for(nblk * C, 256, device), 256, 0, st>>>(dyp, xp, mean, rstd, tmp, M, C, nblk);
    check_launch("layernorm_backward (partials)");
    ln_bwd_params_kernel<<<grid_for(C, 128, device), 128, 0, st>>>(tmp, dgamma, dbeta, C, nblk, accumulate);
    check_launch("layernorm_backward (dgamma/dbeta)");
  });
}

}  // namespace ie::cuda
