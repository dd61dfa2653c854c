// Batched strided GEMM (see gemm.h): a float32 SIMT kernel and a float16/bfloat16 tensor-core
// (WMMA) kernel, both with bounds-checked tile loads (zero padding at the edges of A and B) and a
// bounds-checked epilogue (alpha, beta, bias, store type).
//
// Tile sizes and why:
//   float32 SIMT: 128×128 block tile, BK = 8, 256 threads, each thread 8×8 results held in
//     registers (64 accumulators): per k step a thread loads 8 + 8 values from shared memory for
//     64 FMAs, enough to be FMA-bound rather than shared-memory-bound. A thread's 8×8 is split in
//     4×4 quadrants 64 rows / 64 columns apart so the float4 shared loads of a warp are
//     conflict-free. 64×64 tiles (64 threads) when 128×128 tiles would leave SMs idle (small
//     GEMMs). Exact float32 FMAs: no TF32 (the tests compare at 1e-5).
//   float16/bfloat16 WMMA: 128×128×32 block tile, 8 warps as 2×4, each warp 64×32 = 4×2 fragments
//     of 16×16×16 with float32 accumulators. Shared tiles keep the global layout (row- or
//     column-major fragments absorb the transposes), rows padded by 8 elements (16 bytes) against
//     bank conflicts; 16-byte vector loads from global memory where a row chunk is aligned and in
//     bounds, element loads (zero beyond the edge) elsewhere.
// What a faster version does (not yet): cp.async multi-stage pipelines (global → shared without
// registers, overlapped with the math), ldmatrix + mma.sync (or wgmma/TMA on sm_90a) instead of
// WMMA, register double-buffering in the SIMT kernel, vectorised epilogue stores, split-K for
// long-K / small-MN shapes (weight gradients), and swizzled block order for L2 reuse.
#include <mma.h>

#include <cstdint>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/gemm.h"

namespace ie::cuda {
namespace {

struct GemmArgs {
  int64_t M, N, K;
  float alpha, beta;
  const void* A;
  int64_t lda, sA;
  const void* B;
  int64_t ldb, sB;
  void* C;
  int64_t ldc, sC;
  int64_t batch;
  const void* bias;
  int bias_mode;  // GemmBias
  int64_t tiles_n, tiles;  // column tiles, all tiles of one matrix
};

// C[gm, gn] = alpha·acc + beta·C[gm, gn] (C not read when beta == 0) + bias; caller checks bounds.
template <typename T, typename TC>
__device__ __forceinline__ void store_c(const GemmArgs& a, TC* C, int64_t gm, int64_t gn, float acc) {
  float v = a.alpha * acc;
  TC* p = C + gm * a.ldc + gn;
  if (a.beta != 0.f) v += a.beta * to_f(*p);
  if (a.bias_mode == int(GemmBias::PerColumn)) v += to_f(static_cast<const T*>(a.bias)[gn]);
  else if (a.bias_mode == int(GemmBias::PerRow)) v += to_f(static_cast<const T*>(a.bias)[gm]);
  *p = from_f<TC>(v);
}

// ---- float32: shared-memory tiled SIMT kernel -------------------------------------------------

template <int BM, int BN, bool TA, bool TB>
__global__ void __launch_bounds__((BM / 8) * (BN / 8)) sgemm_kernel(GemmArgs a) {
  constexpr int BK = 8;
  constexpr int NT = (BM / 8) * (BN / 8);
  constexpr int TX = BN / 8;  // threads along N; TY = BM / 8 along M
  // k-major tiles, padded by 4 floats: the transposing stores of a warp hit distinct banks and
  // rows stay 16-byte aligned for the float4 loads.
  __shared__ __align__(16) float As[BK][BM + 4];
  __shared__ __align__(16) float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int64_t M = a.M, N = a.N, K = a.K;

  for (int64_t z = blockIdx.y; z < a.batch; z += gridDim.y) {
    const float* A = static_cast<const float*>(a.A) + z * a.sA;
    const float* B = static_cast<const float*>(a.B) + z * a.sB;
    float* C = static_cast<float*>(a.C) + z * a.sC;
    for (int64_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
      const int64_t m0 = (tile / a.tiles_n) * BM, n0 = (tile % a.tiles_n) * BN;
      float acc[8][8];
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

      for (int64_t k0 = 0; k0 < K; k0 += BK) {
        // A tile: op(A)[m0 + m, k0 + k] -> As[k][m]; consecutive threads read consecutive
        // addresses of the stored layout.
        for (int idx = tid; idx < BM * BK; idx += NT) {
          int m, k;
          if (TA) { k = idx / BM; m = idx % BM; }  // stored [K, M]: m contiguous
          else { m = idx / BK; k = idx % BK; }     // stored [M, K]: k contiguous
          const int64_t gm = m0 + m, gk = k0 + k;
          float v = 0.f;
          if (gm < M && gk < K) v = TA ? A[gk * a.lda + gm] : A[gm * a.lda + gk];
          As[k][m] = v;
        }
        // B tile: op(B)[k0 + k, n0 + n] -> Bs[k][n].
        for (int idx = tid; idx < BK * BN; idx += NT) {
          int n, k;
          if (TB) { n = idx / BK; k = idx % BK; }  // stored [N, K]: k contiguous
          else { k = idx / BN; n = idx % BN; }     // stored [K, N]: n contiguous
          const int64_t gn = n0 + n, gk = k0 + k;
          float v = 0.f;
          if (gn < N && gk < K) v = TB ? B[gn * a.ldb + gk] : B[gk * a.ldb + gn];
          Bs[k][n] = v;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
          const float4 a0 = *reinterpret_cast<const float4*>(&As[k][ty * 4]);
          const float4 a1 = *reinterpret_cast<const float4*>(&As[k][BM / 2 + ty * 4]);
          const float4 b0 = *reinterpret_cast<const float4*>(&Bs[k][tx * 4]);
          const float4 b1 = *reinterpret_cast<const float4*>(&Bs[k][BN / 2 + tx * 4]);
          const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
          const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
          for (int i = 0; i < 8; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
      }
      // Thread rows: ty*4 + i (i < 4) and BM/2 + ty*4 + (i - 4); columns likewise.
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int64_t gm = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int64_t gn = n0 + (j < 4 ? tx * 4 + j : BN / 2 + tx * 4 + (j - 4));
          if (gn < N) store_c<float, float>(a, C, gm, gn, acc[i][j]);
        }
      }
    }
  }
}

// ---- float16 / bfloat16: WMMA tensor-core kernel ----------------------------------------------

// s[r * LD + c] = g[(r0 + r) * ld + c0 + c] where r0 + r < rmax and c0 + c < cmax, else 0, for a
// ROWS × COLS tile (COLS a multiple of 8). 16-byte chunks; a chunk that is in bounds and aligned
// is one vector load.
template <typename T, int ROWS, int COLS, int LD, int NT>
__device__ __forceinline__ void load_tile(T* s, const T* g, int64_t ld, int64_t r0, int64_t c0, int64_t rmax,
                                          int64_t cmax, int tid) {
  constexpr int CH = 8;  // elements per 16-byte chunk
  constexpr int CPR = COLS / CH;
  static_assert(COLS % CH == 0 && LD % CH == 0, "tile rows must be whole 16-byte chunks");
  for (int idx = tid; idx < ROWS * CPR; idx += NT) {
    const int r = idx / CPR, c = (idx % CPR) * CH;
    const int64_t gr = r0 + r, gc = c0 + c;
    T* d = s + r * LD + c;
    if (gr < rmax && gc + CH <= cmax) {
      const T* p = g + gr * ld + gc;
      if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
        *reinterpret_cast<uint4*>(d) = *reinterpret_cast<const uint4*>(p);
      } else {
#pragma unroll
        for (int e = 0; e < CH; ++e) d[e] = p[e];
      }
    } else {
#pragma unroll
      for (int e = 0; e < CH; ++e) d[e] = (gr < rmax && gc + e < cmax) ? g[gr * ld + gc + e] : from_f<T>(0.f);
    }
  }
}

template <typename T, bool TA, bool TB, typename TC>
__global__ void __launch_bounds__(256) hgemm_wmma_kernel(GemmArgs a) {
  namespace wmma = nvcuda::wmma;
  constexpr int BM = 128, BN = 128, BK = 32, NT = 256;
  // Shared tiles in the stored layout: A [BM][BK] (row-major fragments) or, transposed, [BK][BM]
  // (column-major fragments); B [BK][BN] (row-major) or, transposed, [BN][BK] (column-major).
  constexpr int A_ROWS = TA ? BK : BM, A_COLS = TA ? BM : BK, A_LD = A_COLS + 8;
  constexpr int B_ROWS = TB ? BN : BK, B_COLS = TB ? BK : BN, B_LD = B_COLS + 8;
  using ALayout = std::conditional_t<TA, wmma::col_major, wmma::row_major>;
  using BLayout = std::conditional_t<TB, wmma::col_major, wmma::row_major>;
  __shared__ __align__(128) T As[A_ROWS * A_LD];
  __shared__ __align__(128) T Bs[B_ROWS * B_LD];
  __shared__ __align__(128) float Cs[NT / 32][16 * 16];  // one fragment per warp, for the epilogue

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / 4, wn = warp % 4;  // warp tile: rows wm*64 .. +64, columns wn*32 .. +32
  const int64_t M = a.M, N = a.N, K = a.K;

  for (int64_t z = blockIdx.y; z < a.batch; z += gridDim.y) {
    const T* A = static_cast<const T*>(a.A) + z * a.sA;
    const T* B = static_cast<const T*>(a.B) + z * a.sB;
    TC* C = static_cast<TC*>(a.C) + z * a.sC;
    for (int64_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
      const int64_t m0 = (tile / a.tiles_n) * BM, n0 = (tile % a.tiles_n) * BN;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

      for (int64_t k0 = 0; k0 < K; k0 += BK) {
        if (TA) load_tile<T, A_ROWS, A_COLS, A_LD, NT>(As, A, a.lda, k0, m0, K, M, tid);  // stored [K, M]
        else load_tile<T, A_ROWS, A_COLS, A_LD, NT>(As, A, a.lda, m0, k0, M, K, tid);     // stored [M, K]
        if (TB) load_tile<T, B_ROWS, B_COLS, B_LD, NT>(Bs, B, a.ldb, n0, k0, N, K, tid);  // stored [N, K]
        else load_tile<T, B_ROWS, B_COLS, B_LD, NT>(Bs, B, a.ldb, k0, n0, K, N, tid);     // stored [K, N]
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, T, ALayout> fa[4];
          wmma::fragment<wmma::matrix_b, 16, 16, 16, T, BLayout> fb[2];
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const int m = wm * 64 + i * 16;
            const T* p = TA ? As + kk * A_LD + m : As + m * A_LD + kk;
            wmma::load_matrix_sync(fa[i], p, A_LD);
          }
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            const int n = wn * 32 + j * 16;
            const T* p = TB ? Bs + n * B_LD + kk : Bs + kk * B_LD + n;
            wmma::load_matrix_sync(fb[j], p, B_LD);
          }
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
      }
      // Epilogue: each fragment through the warp's shared scratch, then bounds-checked stores.
      float* cs = Cs[warp];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          wmma::store_matrix_sync(cs, acc[i][j], 16, wmma::mem_row_major);
          __syncwarp();
          for (int e = lane; e < 256; e += 32) {
            const int64_t gm = m0 + wm * 64 + i * 16 + e / 16, gn = n0 + wn * 32 + j * 16 + e % 16;
            if (gm < M && gn < N) store_c<T, TC>(a, C, gm, gn, cs[e]);
          }
          __syncwarp();
        }
    }
  }
}

// ---- launch --------------------------------------------------------------------------------------

template <typename F>
void with_trans(bool ta, bool tb, F&& f) {
  if (ta) {
    if (tb) f(std::true_type{}, std::true_type{});
    else f(std::true_type{}, std::false_type{});
  } else {
    if (tb) f(std::false_type{}, std::true_type{});
    else f(std::false_type{}, std::false_type{});
  }
}

dim3 grid_of(GemmArgs& g, int64_t bm, int64_t bn) {
  const int64_t tiles_m = (g.M + bm - 1) / bm;
  g.tiles_n = (g.N + bn - 1) / bn;
  g.tiles = tiles_m * g.tiles_n;
  const int64_t gx = g.tiles < 0x7fffffff ? g.tiles : 0x7fffffff;
  const int64_t gy = g.batch < 65535 ? g.batch : 65535;
  return dim3(unsigned(gx), unsigned(gy), 1);
}

template <int BM, int BN>
void launch_sgemm(GemmArgs g, bool ta, bool tb, cudaStream_t st) {
  dim3 grid = grid_of(g, BM, BN);
  with_trans(ta, tb, [&](auto TA, auto TB) {
    sgemm_kernel<BM, BN, decltype(TA)::value, decltype(TB)::value><<<grid, (BM / 8) * (BN / 8), 0, st>>>(g);
  });
  check_launch("gemm (float32)");
}

template <typename T, typename TC>
void launch_hgemm(GemmArgs g, bool ta, bool tb, cudaStream_t st) {
  dim3 grid = grid_of(g, 128, 128);
  with_trans(ta, tb, [&](auto TA, auto TB) {
    hgemm_wmma_kernel<T, decltype(TA)::value, decltype(TB)::value, TC><<<grid, 256, 0, st>>>(g);
  });
  check_launch(std::is_same_v<T, __half> ? "gemm (float16, wmma)" : "gemm (bfloat16, wmma)");
}

// ---- column sums ---------------------------------------------------------------------------------

// Block (32, 16): 32 columns; thread row ty sums rows ty, ty + 16, ...; then the 16 partial sums
// are added in order. Deterministic. (A faster version splits M over blocks with a second pass.)
template <typename T>
__global__ void __launch_bounds__(512) column_sums_kernel(const T* x, int64_t M, int64_t N, float* out, bool accumulate) {
  __shared__ float part[16][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t n0 = int64_t(blockIdx.x) * 32; n0 < N; n0 += int64_t(gridDim.x) * 32) {
    const int64_t n = n0 + tx;
    float s = 0.f;
    if (n < N)
      for (int64_t m = ty; m < M; m += 16) s += to_f(x[m * N + n]);
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && n < N) {
      float t = 0.f;
      for (int y = 0; y < 16; ++y) t += part[y][tx];
      if (accumulate) t = out[n] + t;
      out[n] = t;
    }
    __syncthreads();
  }
}

}  // namespace

void gemm(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, int64_t strideA, const void* B, int64_t ldb, int64_t strideB, float beta, void* C,
          int64_t ldc, int64_t strideC, int64_t batch, int device, const GemmEpilogue& epi) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (K < 0) K = 0;
  GemmArgs g{M, N, K, alpha, beta, A, lda, strideA, B, ldb, strideB, C, ldc, strideC, batch,
             epi.bias_mode == GemmBias::None ? nullptr : epi.bias,
             epi.bias && epi.bias_mode != GemmBias::None ? int(epi.bias_mode) : 0, 0, 0};
  cudaStream_t st = stream(device);
  dispatch_float(dt, "gemm", [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, float>) {
      // 128×128 tiles unless that leaves SMs idle.
      const int64_t big = ((M + 127) / 128) * ((N + 127) / 128) * batch;
      if (big >= int64_t(sm_count(device))) launch_sgemm<128, 128>(g, transA, transB, st);
      else launch_sgemm<64, 64>(g, transA, transB, st);
    } else {
      if (epi.c_f32) launch_hgemm<T, float>(g, transA, transB, st);
      else launch_hgemm<T, T>(g, transA, transB, st);
    }
  });
}

void column_sums(DType dt, const void* x, int64_t M, int64_t N, void* out, bool accumulate, int device) {
  if (N <= 0) return;
  if (M < 0) M = 0;
  cudaStream_t st = stream(device);
  dispatch_float(dt, "column_sums", [&](auto t) {
    using T = decltype(t);
    const int64_t blocks = (N + 31) / 32;
    const int64_t cap = int64_t(sm_count(device)) * 16;
    column_sums_kernel<T><<<unsigned(blocks < cap ? blocks : cap), dim3(32, 16), 0, st>>>(
        static_cast<const T*>(x), M, N, static_cast<float*>(out), accumulate);
  });
  check_launch("column_sums");
}

void zero(DType dt, void* p, int64_t n, int device) {
  if (n <= 0) return;
  check(cudaMemsetAsync(p, 0, size_t(n) * dtype_size(dt), stream(device)), "cudaMemsetAsync (zero)");
}

}  // namespace ie::cuda
