// Fused attention on CUDA: FlashAttention-2 forward and backward with float32 SIMT math.
//
// All kernels use 128 threads seen as a 16×8 grid: ty = tid / 8 owns tile rows ty + 16·a, tx =
// tid % 8 owns tile columns tx + 8·b (score tiles) and head channels tx + 8·m (accumulators).
// A row's 8 column owners are 8 consecutive lanes of one warp, so row max/sum are 3 shuffles.
// Tiles of q/k/v/dO live in shared memory as float32 rows of DMAX + 1 floats (zero padded past D
// and past the sequence end; the +1 keeps the row-strided reads free of bank conflicts). DMAX is
// the head-dim bucket (16, 32, 40, 64, 80, 128, 160, 256) chosen at launch.
//
// Forward: a CTA per (b, h, 64-query block); loop over 64-key blocks: S = (scale·Q)·Kᵀ, online
//   softmax (running max m, sum l; masked entries −inf), P to shared memory, O = α·O + P·V (K and
//   V share one buffer). out = O / l, lse = m + log l (float32 [B, H, Lq], as the CPU).
// Backward (deterministic, no atomics): Dv_i = Σ_d dO·O; then
//   dK/dV: a CTA per (b, h, 32-key block) loops over 32-query blocks, recomputing
//     P = exp(S − lse), dS = P∘(dO·Vᵀ − Dv); dV += Pᵀ·dO, dK += dSᵀ·(scale·Q);
//   dQ: a CTA per (b, h, 32-query block) loops over 32-key blocks: dQ += dS·K, times scale.
// Causal (Lq == Lk): query i sees keys j ≤ i; whole blocks past the diagonal are skipped.
// float16/bfloat16 with D in {32, 40, 64, 80, 96, 128, 160} go to the tensor-core kernels
// (attention_tc.cu; the backward after this file's rowsum kernel) unless INSTRUCTEDIT_ATTENTION=simt
// (read at every call: A/B checks, tests). These SIMT kernels serve float32 and the other head dims.
// Later, faster (SIMT): cp.async double buffering of K/V, exp2 with log2(e)-prescaled scores.
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/attention.h"
#include "cuda/attention_tc.cuh"
#include "cuda/common.cuh"

namespace ie::cuda {
namespace {

constexpr int kThreads = 128;

// rows [row0, row0 + R) of one head of a [B, L, H·D] tensor (base = start of (b, h)) into a
// [R][DMAX + 1] float tile, times mul; zeros past L and past D.
template <typename T, int R, int DMAX>
__device__ __forceinline__ void load_tile(float* __restrict__ tile, const T* __restrict__ base, int64_t row0,
                                          int64_t L, int64_t HD, int D, float mul) {
  constexpr int LD = DMAX + 1;
  for (int idx = threadIdx.x; idx < R * DMAX; idx += kThreads) {
    const int r = idx / DMAX, d = idx - r * DMAX;
    const int64_t row = row0 + r;
    float val = 0.f;
    if (row < L && d < D) val = to_f(base[row * HD + d]) * mul;
    tile[r * LD + d] = val;
  }
}

// c[a][b] = Σ_d A[ty + 16a][d] · B[tx + 8b][d] over d < DMAX (padding is zero).
template <int RM, int CN, int DMAX>
__device__ __forceinline__ void tile_abt(const float* __restrict__ A, const float* __restrict__ B, float (&c)[RM][CN],
                                         int ty, int tx) {
  constexpr int LD = DMAX + 1;
#pragma unroll
  for (int a = 0; a < RM; ++a)
#pragma unroll
    for (int b = 0; b < CN; ++b) c[a][b] = 0.f;
#pragma unroll 4
  for (int d = 0; d < DMAX; ++d) {
    float av[RM], bv[CN];
#pragma unroll
    for (int a = 0; a < RM; ++a) av[a] = A[(ty + 16 * a) * LD + d];
#pragma unroll
    for (int b = 0; b < CN; ++b) bv[b] = B[(tx + 8 * b) * LD + d];
#pragma unroll
    for (int a = 0; a < RM; ++a)
#pragma unroll
      for (int b = 0; b < CN; ++b) c[a][b] = fmaf(av[a], bv[b], c[a][b]);
  }
}

// acc[a][m] += Σ_{j < NJ} P[ty + 16a][j] · X[j][tx + 8m]   (P rows of ldp floats, X of DMAX + 1)
template <int RM, int NJ, int DMAX>
__device__ __forceinline__ void tile_acc(const float* __restrict__ P, int ldp, const float* __restrict__ X,
                                         float (&acc)[RM][DMAX / 8], int ty, int tx) {
  constexpr int LD = DMAX + 1, DM8 = DMAX / 8;
#pragma unroll 2
  for (int j = 0; j < NJ; ++j) {
    float pv[RM];
#pragma unroll
    for (int a = 0; a < RM; ++a) pv[a] = P[(ty + 16 * a) * ldp + j];
#pragma unroll
    for (int m = 0; m < DM8; ++m) {
      const float xv = X[j * LD + tx + 8 * m];
#pragma unroll
      for (int a = 0; a < RM; ++a) acc[a][m] = fmaf(pv[a], xv, acc[a][m]);
    }
  }
}

// Reductions over the 8 lanes of one tile row (consecutive lanes, xor 1/2/4 stays inside them).
__device__ __forceinline__ float row8_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 4));
  return v;
}
__device__ __forceinline__ float row8_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  v += __shfl_xor_sync(0xffffffffu, v, 4);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Forward

constexpr int kFwdBQ = 64, kFwdBK = 64;

template <int DMAX>
constexpr size_t fwd_smem_bytes() {
  return sizeof(float) * size_t((kFwdBQ + kFwdBK) * (DMAX + 1) + kFwdBQ * (kFwdBK + 1));
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kThreads) attn_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                            const T* __restrict__ v, T* __restrict__ out,
                                                            float* __restrict__ lse, int64_t H, int64_t Lq, int64_t Lk,
                                                            int D, float scale, bool causal, int64_t nqb,
                                                            int64_t tasks) {
  constexpr int BQ = kFwdBQ, BK = kFwdBK, RM = BQ / 16, CN = BK / 8, DM8 = DMAX / 8, LD = DMAX + 1, LDP = BK + 1;
  extern __shared__ float smem[];
  float* Qs = smem;            // [BQ][LD], scaled by `scale`
  float* KVs = Qs + BQ * LD;   // [BK][LD]: K, then V of the same key block
  float* Ps = KVs + BK * LD;   // [BQ][LDP]
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const int64_t HD = H * D;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t qb = task % nqb, bh = task / nqb, b = bh / H, h = bh % H;
    const int64_t i0 = qb * BQ;
    const T* qbase = q + b * Lq * HD + h * D;
    const T* kbase = k + b * Lk * HD + h * D;
    const T* vbase = v + b * Lk * HD + h * D;
    __syncthreads();  // the previous task is done with Qs
    load_tile<T, BQ, DMAX>(Qs, qbase, i0, Lq, HD, D, scale);

    float mrow[RM], lrow[RM], acc[RM][DM8];
#pragma unroll
    for (int a = 0; a < RM; ++a) {
      mrow[a] = -INFINITY;
      lrow[a] = 0.f;
#pragma unroll
      for (int m = 0; m < DM8; ++m) acc[a][m] = 0.f;
    }

    const int64_t kend = causal ? (i0 + BQ < Lk ? i0 + BQ : Lk) : Lk;
    for (int64_t j0 = 0; j0 < kend; j0 += BK) {
      __syncthreads();  // everyone is done with KVs (V) and Ps of the previous key block
      load_tile<T, BK, DMAX>(KVs, kbase, j0, Lk, HD, D, 1.f);
      __syncthreads();
      float s[RM][CN];
      tile_abt<RM, CN, DMAX>(Qs, KVs, s, ty, tx);
#pragma unroll
      for (int a = 0; a < RM; ++a) {
        const int64_t i = i0 + ty + 16 * a;
        float mx = -INFINITY;
#pragma unroll
        for (int b2 = 0; b2 < CN; ++b2) {
          const int64_t j = j0 + tx + 8 * b2;
          if (j >= Lk || (causal && j > i)) s[a][b2] = -INFINITY;
          mx = fmaxf(mx, s[a][b2]);
        }
        mx = row8_max(mx);
        const float mnew = fmaxf(mrow[a], mx);
        const float msub = mnew == -INFINITY ? 0.f : mnew;  // nothing visible yet: p = 0, α = 0
        const float alpha = expf(mrow[a] - msub);
        float rs = 0.f;
#pragma unroll
        for (int b2 = 0; b2 < CN; ++b2) {
          const float p = expf(s[a][b2] - msub);
          s[a][b2] = p;
          rs += p;
        }
        rs = row8_sum(rs);
        lrow[a] = lrow[a] * alpha + rs;
        mrow[a] = mnew;
#pragma unroll
        for (int m = 0; m < DM8; ++m) acc[a][m] *= alpha;
#pragma unroll
        for (int b2 = 0; b2 < CN; ++b2) Ps[(ty + 16 * a) * LDP + tx + 8 * b2] = s[a][b2];
      }
      __syncthreads();  // Ps complete; everyone is done reading K
      load_tile<T, BK, DMAX>(KVs, vbase, j0, Lk, HD, D, 1.f);
      __syncthreads();
      tile_acc<RM, BK, DMAX>(Ps, LDP, KVs, acc, ty, tx);
    }

#pragma unroll
    for (int a = 0; a < RM; ++a) {
      const int64_t i = i0 + ty + 16 * a;
      if (i >= Lq) continue;
      const float inv = lrow[a] > 0.f ? 1.f / lrow[a] : 0.f;
      T* orow = out + (b * Lq + i) * HD + h * D;
#pragma unroll
      for (int m = 0; m < DM8; ++m) {
        const int d = tx + 8 * m;
        if (d < D) orow[d] = from_f<T>(acc[a][m] * inv);
      }
      if (tx == 0) lse[bh * Lq + i] = lrow[a] > 0.f ? mrow[a] + logf(lrow[a]) : -INFINITY;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward

// dv[bh·Lq + i] = Σ_d dO[b, i, h, d]·O[b, i, h, d]: a warp per query row.
template <typename T>
__global__ void attn_dvec_kernel(const T* __restrict__ out, const T* __restrict__ dout, float* __restrict__ dvec,
                                 int64_t H, int64_t Lq, int D, int64_t rows) {
  const int lane = threadIdx.x & 31;
  const int64_t stride = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int64_t HD = H * D;
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += stride) {
    const int64_t i = r % Lq, bh = r / Lq, b = bh / H, h = bh % H;
    const int64_t off = (b * Lq + i) * HD + h * D;
    float s = 0.f;
    for (int d = lane; d < D; d += 32) s += to_f(dout[off + d]) * to_f(out[off + d]);
    s = warp_sum(s);
    if (lane == 0) dvec[r] = s;
  }
}

constexpr int kBwdB = 32;  // keys and queries per backward tile

template <int DMAX>
constexpr size_t bwd_smem_bytes() {
  return sizeof(float) * size_t(4 * kBwdB * (DMAX + 1) + 2 * kBwdB * (kBwdB + 1) + 2 * kBwdB);
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kThreads) attn_bwd_dkdv_kernel(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ dout,
    const float* __restrict__ lse, const float* __restrict__ dvec, T* __restrict__ dk, T* __restrict__ dv, int64_t H,
    int64_t Lq, int64_t Lk, int D, float scale, bool causal, int64_t nkb, int64_t tasks) {
  constexpr int BK = kBwdB, BQ = kBwdB, RM = BK / 16, CN = BQ / 8, DM8 = DMAX / 8, LD = DMAX + 1, LDP = BQ + 1;
  extern __shared__ float smem[];
  float* Ks = smem;              // [BK][LD]
  float* Vs = Ks + BK * LD;      // [BK][LD]
  float* Qs = Vs + BK * LD;      // [BQ][LD], scaled by `scale`
  float* dOs = Qs + BQ * LD;     // [BQ][LD]
  float* PT = dOs + BQ * LD;     // [BK][LDP]: P transposed (key rows, query columns)
  float* dST = PT + BK * LDP;    // [BK][LDP]: dS transposed
  float* lse_s = dST + BK * LDP;  // [BQ]
  float* dv_s = lse_s + BQ;       // [BQ]
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const int64_t HD = H * D;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t kb = task % nkb, bh = task / nkb, b = bh / H, h = bh % H;
    const int64_t j0 = kb * BK;
    const int64_t qoff = b * Lq * HD + h * D, koff = b * Lk * HD + h * D;
    __syncthreads();  // the previous task is done with Ks/Vs
    load_tile<T, BK, DMAX>(Ks, k + koff, j0, Lk, HD, D, 1.f);
    load_tile<T, BK, DMAX>(Vs, v + koff, j0, Lk, HD, D, 1.f);
    float dKa[RM][DM8], dVa[RM][DM8];
#pragma unroll
    for (int a = 0; a < RM; ++a)
#pragma unroll
      for (int m = 0; m < DM8; ++m) dKa[a][m] = dVa[a][m] = 0.f;

    // Causal: queries before j0 see none of these keys.
    const int64_t qstart = causal ? (j0 / BQ) * BQ : 0;
    for (int64_t i0 = qstart; i0 < Lq; i0 += BQ) {
      __syncthreads();  // everyone is done with Qs/dOs/PT/dST of the previous query block
      load_tile<T, BQ, DMAX>(Qs, q + qoff, i0, Lq, HD, D, scale);
      load_tile<T, BQ, DMAX>(dOs, dout + qoff, i0, Lq, HD, D, 1.f);
      if (threadIdx.x < BQ) {
        const int64_t i = i0 + threadIdx.x;
        lse_s[threadIdx.x] = i < Lq ? lse[bh * Lq + i] : 0.f;
        dv_s[threadIdx.x] = i < Lq ? dvec[bh * Lq + i] : 0.f;
      }
      __syncthreads();
      float s[RM][CN], dp[RM][CN];
      tile_abt<RM, CN, DMAX>(Ks, Qs, s, ty, tx);    // Sᵀ[j][i]
      tile_abt<RM, CN, DMAX>(Vs, dOs, dp, ty, tx);  // dPᵀ[j][i]
#pragma unroll
      for (int a = 0; a < RM; ++a) {
        const int64_t j = j0 + ty + 16 * a;
#pragma unroll
        for (int b2 = 0; b2 < CN; ++b2) {
          const int ii = tx + 8 * b2;
          const int64_t i = i0 + ii;
          const bool valid = j < Lk && i < Lq && !(causal && j > i);
          const float p = valid ? expf(s[a][b2] - lse_s[ii]) : 0.f;
          PT[(ty + 16 * a) * LDP + ii] = p;
          dST[(ty + 16 * a) * LDP + ii] = p * (dp[a][b2] - dv_s[ii]);
        }
      }
      __syncthreads();
      tile_acc<RM, BQ, DMAX>(PT, LDP, dOs, dVa, ty, tx);   // dV[j] += Σ_i P[i][j]·dO[i]
      tile_acc<RM, BQ, DMAX>(dST, LDP, Qs, dKa, ty, tx);   // dK[j] += Σ_i dS[i][j]·scale·q[i]
    }

#pragma unroll
    for (int a = 0; a < RM; ++a) {
      const int64_t j = j0 + ty + 16 * a;
      if (j >= Lk) continue;
      T* dkr = dk + koff + j * HD;
      T* dvr = dv + koff + j * HD;
#pragma unroll
      for (int m = 0; m < DM8; ++m) {
        const int d = tx + 8 * m;
        if (d < D) {
          dkr[d] = from_f<T>(dKa[a][m]);
          dvr[d] = from_f<T>(dVa[a][m]);
        }
      }
    }
  }
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kThreads) attn_bwd_dq_kernel(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ dout,
    const float* __restrict__ lse, const float* __restrict__ dvec, T* __restrict__ dq, int64_t H, int64_t Lq,
    int64_t Lk, int D, float scale, bool causal, int64_t nqb, int64_t tasks) {
  constexpr int BQ = kBwdB, BK = kBwdB, RM = BQ / 16, CN = BK / 8, DM8 = DMAX / 8, LD = DMAX + 1, LDP = BK + 1;
  extern __shared__ float smem[];
  float* Qs = smem;           // [BQ][LD], scaled by `scale`
  float* dOs = Qs + BQ * LD;  // [BQ][LD]
  float* Ks = dOs + BQ * LD;  // [BK][LD]
  float* Vs = Ks + BK * LD;   // [BK][LD]
  float* dS = Vs + BK * LD;   // [BQ][LDP]
  const int ty = threadIdx.x >> 3, tx = threadIdx.x & 7;
  const int64_t HD = H * D;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t qb = task % nqb, bh = task / nqb, b = bh / H, h = bh % H;
    const int64_t i0 = qb * BQ;
    const int64_t qoff = b * Lq * HD + h * D, koff = b * Lk * HD + h * D;
    __syncthreads();  // the previous task is done with Qs/dOs
    load_tile<T, BQ, DMAX>(Qs, q + qoff, i0, Lq, HD, D, scale);
    load_tile<T, BQ, DMAX>(dOs, dout + qoff, i0, Lq, HD, D, 1.f);
    float lse_r[RM], dv_r[RM], dQa[RM][DM8];
#pragma unroll
    for (int a = 0; a < RM; ++a) {
      const int64_t i = i0 + ty + 16 * a;
      lse_r[a] = i < Lq ? lse[bh * Lq + i] : 0.f;
      dv_r[a] = i < Lq ? dvec[bh * Lq + i] : 0.f;
#pragma unroll
      for (int m = 0; m < DM8; ++m) dQa[a][m] = 0.f;
    }

    const int64_t kend = causal ? (i0 + BQ < Lk ? i0 + BQ : Lk) : Lk;
    for (int64_t j0 = 0; j0 < kend; j0 += BK) {
      __syncthreads();  // everyone is done with Ks/Vs/dS of the previous key block
      load_tile<T, BK, DMAX>(Ks, k + koff, j0, Lk, HD, D, 1.f);
      load_tile<T, BK, DMAX>(Vs, v + koff, j0, Lk, HD, D, 1.f);
      __syncthreads();
      float s[RM][CN], dp[RM][CN];
      tile_abt<RM, CN, DMAX>(Qs, Ks, s, ty, tx);    // S[i][j]
      tile_abt<RM, CN, DMAX>(dOs, Vs, dp, ty, tx);  // dP[i][j]
#pragma unroll
      for (int a = 0; a < RM; ++a) {
        const int64_t i = i0 + ty + 16 * a;
#pragma unroll
        for (int b2 = 0; b2 < CN; ++b2) {
          const int jj = tx + 8 * b2;
          const int64_t j = j0 + jj;
          const bool valid = j < Lk && i < Lq && !(causal && j > i);
          const float p = valid ? expf(s[a][b2] - lse_r[a]) : 0.f;
          dS[(ty + 16 * a) * LDP + jj] = p * (dp[a][b2] - dv_r[a]);
        }
      }
      __syncthreads();
      tile_acc<RM, BK, DMAX>(dS, LDP, Ks, dQa, ty, tx);  // dQ[i] += Σ_j dS[i][j]·k[j]
    }

#pragma unroll
    for (int a = 0; a < RM; ++a) {
      const int64_t i = i0 + ty + 16 * a;
      if (i >= Lq) continue;
      T* dqr = dq + qoff + i * HD;
#pragma unroll
      for (int m = 0; m < DM8; ++m) {
        const int d = tx + 8 * m;
        if (d < D) dqr[d] = from_f<T>(dQa[a][m] * scale);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

// Calls f(std::integral_constant<int, DMAX>) with the smallest bucket holding D.
template <typename F>
void dispatch_head_dim(int64_t D, const char* op, F&& f) {
  if (D <= 16) return f(std::integral_constant<int, 16>{});
  if (D <= 32) return f(std::integral_constant<int, 32>{});
  if (D <= 40) return f(std::integral_constant<int, 40>{});
  if (D <= 64) return f(std::integral_constant<int, 64>{});
  if (D <= 80) return f(std::integral_constant<int, 80>{});
  if (D <= 128) return f(std::integral_constant<int, 128>{});
  if (D <= 160) return f(std::integral_constant<int, 160>{});
  if (D <= 256) return f(std::integral_constant<int, 256>{});
  fail(op, ": head dim ", D, " is above ", kAttentionMaxHeadDim, ", which the CUDA kernels do not support yet");
}

int task_grid(int64_t tasks, int device) {
  int64_t cap = int64_t(sm_count(device)) * 64;
  return int(tasks < cap ? tasks : cap);
}


}  // namespace

int64_t attention_backward_tmp(int64_t B, int64_t H, int64_t Lq) { return B * H * Lq; }

bool attention_uses_tc(DType dt, int64_t D) {
  const char* env = std::getenv("INSTRUCTEDIT_ATTENTION");
  if (env && std::strcmp(env, "simt") == 0) return false;
  return attention_tc_supported(dt, D);
}

void attention_forward(DType dt, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                       int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal, int device) {
  if (B <= 0 || H <= 0 || Lq <= 0 || D <= 0 || Lk <= 0) return;
  // The tensor-core kernels where they apply and fit the device's shared memory (the D = 160 forward
  // needs 105 KB: more than sm_86/sm_89 GPUs allow, which then take the SIMT kernel).
  if (attention_uses_tc(dt, D) && attention_tc_smem(D, false) <= max_smem_optin(device))
    return attention_forward_tc(dt, q, k, v, out, lse, B, H, Lq, Lk, D, scale, causal, device);
  dispatch_float(dt, "attention", [&](auto tag) {
    using T = decltype(tag);
    dispatch_head_dim(D, "attention", [&](auto dm) {
      constexpr int DMAX = decltype(dm)::value;
      const int64_t nqb = (Lq + kFwdBQ - 1) / kFwdBQ, tasks = B * H * nqb;
      constexpr size_t smem = fwd_smem_bytes<DMAX>();
      auto kernel = attn_fwd_kernel<T, DMAX>;
      cudaStream_t st = stream(device);
      allow_dynamic_smem(kernel, smem, device, "cudaFuncSetAttribute (attention forward shared memory)");
      kernel<<<task_grid(tasks, device), kThreads, smem, st>>>(
          static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(out), lse, H,
          Lq, Lk, int(D), scale, causal, nqb, tasks);
      check_launch("attention_forward");
    });
  });
}

void attention_backward(DType dt, const void* q, const void* k, const void* v, const void* out, const float* lse,
                        const void* dout, void* dq, void* dk, void* dv, float* tmp, int64_t B, int64_t H, int64_t Lq,
                        int64_t Lk, int64_t D, float scale, bool causal, int device) {
  if (B <= 0 || H <= 0 || D <= 0 || Lk <= 0) return;
  dispatch_float(dt, "attentionBackward", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    if (Lq <= 0) {
      // No queries: dK and dV are zero (the CPU kernel's empty sums). dq is empty.
      const size_t bytes = size_t(B * Lk * H * D) * sizeof(T);
      check(cudaMemsetAsync(dk, 0, bytes, st), "cudaMemsetAsync (attention backward dk)");
      check(cudaMemsetAsync(dv, 0, bytes, st), "cudaMemsetAsync (attention backward dv)");
      return;
    }
    const int64_t rows = B * H * Lq;
    attn_dvec_kernel<T><<<task_grid((rows + 7) / 8, device), 256, 0, st>>>(
        static_cast<const T*>(out), static_cast<const T*>(dout), tmp, H, Lq, int(D), rows);
    check_launch("attention_backward (rowsum dO*O)");
    if (attention_uses_tc(dt, D) && attention_tc_smem(D, true) <= max_smem_optin(device))
      return attention_backward_tc(dt, q, k, v, dout, lse, tmp, dq, dk, dv, B, H, Lq, Lk, D, scale, causal, device);
    dispatch_head_dim(D, "attentionBackward", [&](auto dm) {
      constexpr int DMAX = decltype(dm)::value;
      constexpr size_t smem = bwd_smem_bytes<DMAX>();
      const int64_t nkb = (Lk + kBwdB - 1) / kBwdB, nqb = (Lq + kBwdB - 1) / kBwdB;
      auto kdkdv = attn_bwd_dkdv_kernel<T, DMAX>;
      auto kdq = attn_bwd_dq_kernel<T, DMAX>;
      allow_dynamic_smem(kdkdv, smem, device, "cudaFuncSetAttribute (attention backward dk/dv shared memory)");
      allow_dynamic_smem(kdq, smem, device, "cudaFuncSetAttribute (attention backward dq shared memory)");
      const T *qp = static_cast<const T*>(q), *kp = static_cast<const T*>(k), *vp = static_cast<const T*>(v),
              *dop = static_cast<const T*>(dout);
      kdkdv<<<task_grid(B * H * nkb, device), kThreads, smem, st>>>(qp, kp, vp, dop, lse, tmp, static_cast<T*>(dk),
                                                                     static_cast<T*>(dv), H, Lq, Lk, int(D), scale,
                                                                     causal, nkb, B * H * nkb);
      check_launch("attention_backward (dk, dv)");
      kdq<<<task_grid(B * H * nqb, device), kThreads, smem, st>>>(qp, kp, vp, dop, lse, tmp, static_cast<T*>(dq), H,
                                                                  Lq, Lk, int(D), scale, causal, nqb, B * H * nqb);
      check_launch("attention_backward (dq)");
    });
  });
}

}  // namespace ie::cuda
