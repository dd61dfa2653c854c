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
// Backends (cublas_loader.h): gemm() below runs these kernels ("ours"), or cuBLAS when it was
// found at run time and is forced or measured faster for the shape (auto); see "backend dispatch".
// What a faster version does (not yet): cp.async multi-stage pipelines (global → shared without
// registers, overlapped with the math), ldmatrix + mma.sync (or wgmma/TMA on sm_90a) instead of
// WMMA, register double-buffering in the SIMT kernel, vectorised epilogue stores, split-K for
// long-K / small-MN shapes (weight gradients), and swizzled block order for L2 reuse.
#include <mma.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/cublas_loader.h"
#include "cuda/gemm.h"
#include "cuda/mma.cuh"
#include "ie/cuda.h"

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

// ---- float16 / bfloat16: mma.sync tensor-core kernel (the fast path) -----------------------------
//
// 128×128×32 block tile, 256 threads = 8 warps as 2 (m) × 4 (n), each warp 64×32 = 4 m-tiles of 16
// × 4 n-tiles of 8 of mma.m16n8k16.row.col (float32 accumulators, 64 per thread). Global → shared
// by cp.async (16-byte chunks, .cg), 3 stages: tile kt+2 is loaded while tile kt is computed.
// Shared tiles keep the stored layout, rows padded by 8 elements (16 bytes) so that the 8 row
// addresses of every ldmatrix 8×8 matrix fall in 8 distinct 16-byte bank groups (row strides 80
// bytes = 5·16 and 272 bytes = 17·16, odd multiples of 16):
//   A, stored [M, K] (!TA): As[128][40]  (rows m, columns k)  → A operand by ldmatrix.x4
//   A, stored [K, M] (TA):  As[32][136]  (rows k, columns m)  → A operand by ldmatrix.x4.trans
//   B, stored [K, N] (!TB): Bs[32][136]  (rows k, columns n)  → B operands by ldmatrix.x4.trans
//   B, stored [N, K] (TB):  Bs[128][40]  (rows n, columns k)  → B operands by ldmatrix.x4
// (fragment layouts and the lane → row address formulas: attention_tc.cu's header comment and
// mma_a_frag / mma_b_frag below; tests/emulation/gemm_mma_emu.py runs these formulas lane by lane
// against emulated ldmatrix/mma and a float64 GEMM.)
// Preconditions (mma_path_ok): A and B 16-byte aligned, lda, ldb (and the batch strides when
// batch > 1) multiples of 8 elements, K a multiple of 8. Then every 16-byte chunk along a stored
// row is aligned; along K it is wholly inside or outside [0, K); along M (TA) or N (!TB) the last
// chunk may be partial: cp.async reads only the bytes inside and zero-fills the rest (src-size),
// and a chunk wholly outside reads nothing (src-size 0, source address = the matrix base).
// Epilogue straight from the accumulators: c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][2t, 2t+1]
// (g = lane >> 2, t = lane & 3), bounds-checked, through store_c (same semantics as WMMA).
// What a faster version does (not yet): 128×256 tiles / 64×64 warp tiles for large shapes,
// swizzled (unpadded) shared layout, paired (32-bit) epilogue stores or staging C through shared
// memory for 16-byte stores, block-order swizzle for L2 reuse, wgmma + TMA on sm_90a.

constexpr int kMmaBM = 128, kMmaBN = 128, kMmaBK = 32, kMmaStages = 3, kMmaThreads = 256;

template <bool TA, bool TB>
struct MmaLayout {
  static constexpr int A_ROWS = TA ? kMmaBK : kMmaBM, A_COLS = TA ? kMmaBM : kMmaBK, A_LD = A_COLS + 8;
  static constexpr int B_ROWS = TB ? kMmaBN : kMmaBK, B_COLS = TB ? kMmaBK : kMmaBN, B_LD = B_COLS + 8;
  static constexpr int A_ELEMS = A_ROWS * A_LD, B_ELEMS = B_ROWS * B_LD;
  static constexpr int STAGE = A_ELEMS + B_ELEMS;  // elements per stage (A then B)
  static constexpr size_t SMEM = size_t(kMmaStages) * STAGE * 2;  // bytes (16-bit elements)
};

// Tile s[r][c] (row stride LD) = g[(r0 + r) * ld + c0 + c] for r0 + r < rmax, c0 + c < cmax, else 0;
// ROWS × COLS, by 16-byte cp.async chunks: chunk idx = tid + i·256 → row idx / (COLS/8), columns
// 8·(idx % (COLS/8)) .. +7. g + ld·row + col is 16-byte aligned for every chunk (preconditions).
template <typename T, int ROWS, int COLS, int LD>
__device__ __forceinline__ void mma_load_tile(T* s, const T* g, int64_t ld, int64_t r0, int64_t c0, int64_t rmax,
                                              int64_t cmax, int tid) {
  constexpr int CPR = COLS / 8, CHUNKS = ROWS * CPR;
  static_assert(CHUNKS % kMmaThreads == 0, "whole chunks per thread");
#pragma unroll
  for (int i = 0; i < CHUNKS / kMmaThreads; ++i) {
    const int idx = tid + i * kMmaThreads;
    const int r = idx / CPR, c = (idx % CPR) * 8;
    const int64_t gr = r0 + r, gc = c0 + c;
    int64_t n = cmax - gc;  // elements of the chunk inside the matrix
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    if (gr >= rmax) n = 0;
    const T* src = n > 0 ? g + gr * ld + gc : g;
    cp_async16_zfill(smem_addr(s + r * LD + c), src, int(n) * 2);
  }
}

// A operand (16 m × 16 k) of m-tile rows mrow .. mrow+15, k columns kk .. kk+15 of the stage.
//   !TA, As[m][k]: matrices (m 0-7 | 8-15) × (k 0-7 | 8-15) as reg0..3: lane address row
//     mrow + (lane & 15), column kk + 8(lane >> 4)  (attention's ldsm_a).
//   TA, As[k][m]: .trans of the 8×8 block (rows k, columns m) gives A[m = g][k = 2t, 2t+1]; matrix
//     i = lane >> 3 covers m + 8(i & 1), k + 8(i >> 1): lane address row kk + (lane & 7) +
//     8(lane >> 4), column mrow + 8((lane >> 3) & 1).
template <bool TA, int LD, typename T>
__device__ __forceinline__ void mma_a_frag(uint32_t (&a)[4], const T* As, int mrow, int kk, int lane) {
  if constexpr (!TA) ldsm_x4(a, smem_addr(As + (mrow + (lane & 15)) * LD + kk + (lane >> 4) * 8));
  else ldsm_x4_trans(a, smem_addr(As + (kk + (lane & 7) + ((lane >> 4) << 3)) * LD + mrow + ((lane >> 3) & 1) * 8));
}

// B operands of the two n-tiles ncol .. ncol+7 (b[0], b[1]) and ncol+8 .. ncol+15 (b[2], b[3]),
// k rows kk .. kk+15.
//   !TB, Bs[k][n]: .trans; lane address row kk + (lane & 7) + 8((lane >> 3) & 1), column
//     ncol + 8(lane >> 4)  (attention's ldsm_b_kn).
//   TB, Bs[n][k]: lane address row ncol + (lane & 7) + 8(lane >> 4), column kk + 8((lane >> 3) & 1)
//     (attention's ldsm_b_nk).
template <bool TB, int LD, typename T>
__device__ __forceinline__ void mma_b_frag(uint32_t (&b)[4], const T* Bs, int ncol, int kk, int lane) {
  if constexpr (!TB)
    ldsm_x4_trans(b, smem_addr(Bs + (kk + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + ncol + (lane >> 4) * 8));
  else ldsm_x4(b, smem_addr(Bs + (ncol + (lane & 7) + ((lane >> 4) << 3)) * LD + kk + ((lane >> 3) & 1) * 8));
}

template <typename T, bool TA, bool TB, typename TC>
__global__ void __launch_bounds__(kMmaThreads) hgemm_mma_kernel(GemmArgs a) {
  using L = MmaLayout<TA, TB>;
  constexpr int BM = kMmaBM, BN = kMmaBN, BK = kMmaBK, S = kMmaStages;
  extern __shared__ __align__(128) unsigned char mma_smem_raw[];
  T* smem = reinterpret_cast<T*>(mma_smem_raw);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // warp tile: rows wm*64 .. +64, columns wn*32 .. +32
  const int64_t M = a.M, N = a.N, K = a.K;
  const int64_t KT = (K + BK - 1) / BK;

  for (int64_t z = blockIdx.y; z < a.batch; z += gridDim.y) {
    const T* A = static_cast<const T*>(a.A) + z * a.sA;
    const T* B = static_cast<const T*>(a.B) + z * a.sB;
    TC* C = static_cast<TC*>(a.C) + z * a.sC;
    for (int64_t tile = blockIdx.x; tile < a.tiles; tile += gridDim.x) {
      const int64_t m0 = (tile / a.tiles_n) * BM, n0 = (tile % a.tiles_n) * BN;
      // Stage s holds k tile kt (k0 = kt·BK) in smem + s·STAGE (A) and + A_ELEMS (B).
      auto load_stage = [&](int s, int64_t kt) {
        T* As = smem + s * L::STAGE;
        T* Bs = As + L::A_ELEMS;
        const int64_t k0 = kt * BK;
        if constexpr (TA) mma_load_tile<T, L::A_ROWS, L::A_COLS, L::A_LD>(As, A, a.lda, k0, m0, K, M, tid);
        else mma_load_tile<T, L::A_ROWS, L::A_COLS, L::A_LD>(As, A, a.lda, m0, k0, M, K, tid);
        if constexpr (TB) mma_load_tile<T, L::B_ROWS, L::B_COLS, L::B_LD>(Bs, B, a.ldb, n0, k0, N, K, tid);
        else mma_load_tile<T, L::B_ROWS, L::B_COLS, L::B_LD>(Bs, B, a.ldb, k0, n0, K, N, tid);
      };

      float acc[4][4][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

      // Prologue: tiles 0 .. S-2, one commit group each (empty groups past KT keep the count).
#pragma unroll
      for (int s = 0; s < S - 1; ++s) {
        if (s < KT) load_stage(s, s);
        cp_async_commit();
      }
      for (int64_t kt = 0; kt < KT; ++kt) {
        // Groups committed so far: S-1+kt; at most S-2 pending → tile kt (group kt) has landed for
        // this thread; the barrier makes every thread's chunks visible and ends all reads of the
        // stage computed at kt-1, which the prefetch below overwrites.
        cp_async_wait<S - 2>();
        __syncthreads();
        {
          const int64_t nk = kt + S - 1;
          if (nk < KT) load_stage(int(nk % S), nk);
          cp_async_commit();
        }
        const T* As = smem + int(kt % S) * L::STAGE;
        const T* Bs = As + L::A_ELEMS;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
          uint32_t af[4][4], bf[2][4];
#pragma unroll
          for (int i = 0; i < 4; ++i) mma_a_frag<TA, L::A_LD>(af[i], As, wm * 64 + i * 16, kk, lane);
#pragma unroll
          for (int j = 0; j < 2; ++j) mma_b_frag<TB, L::B_LD>(bf[j], Bs, wn * 32 + j * 16, kk, lane);
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) mma16816<T>(acc[i][j], af[i], bf[j >> 1][(j & 1) * 2], bf[j >> 1][(j & 1) * 2 + 1]);
        }
      }
      // Drain (only empty groups can be pending) and let every warp finish reading before the
      // next tile's prologue overwrites stages 0 .. S-2.
      cp_async_wait<0>();
      __syncthreads();

      const int g = lane >> 2, t = lane & 3;
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t gm = m0 + wm * 64 + i * 16 + g + 8 * (e >> 1);
            const int64_t gn = n0 + wn * 32 + j * 8 + 2 * t + (e & 1);
            if (gm < M && gn < N) store_c<T, TC>(a, C, gm, gn, acc[i][j][e]);
          }
    }
  }
}

// The fast path's preconditions (see above).
bool mma_path_ok(const GemmArgs& g) {
  auto al16 = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  if (!al16(g.A) || !al16(g.B)) return false;
  if (g.lda % 8 != 0 || g.ldb % 8 != 0 || g.K % 8 != 0) return false;
  if (g.batch > 1 && (g.sA % 8 != 0 || g.sB % 8 != 0)) return false;
  return true;
}

// INSTRUCTEDIT_GEMM_KERNEL=wmma forces the WMMA kernel for float16/bfloat16 (A/B comparisons);
// read on every call (a getenv, negligible next to a launch) so a test can switch it.
bool wmma_forced() {
  const char* v = std::getenv("INSTRUCTEDIT_GEMM_KERNEL");
  return v && !std::strcmp(v, "wmma");
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
void launch_hgemm(GemmArgs g, bool ta, bool tb, cudaStream_t st, int device) {
  dim3 grid = grid_of(g, 128, 128);
  if (!wmma_forced() && mma_path_ok(g)) {
    with_trans(ta, tb, [&](auto TA, auto TB) {
      constexpr bool ta_ = decltype(TA)::value, tb_ = decltype(TB)::value;
      constexpr size_t smem = MmaLayout<ta_, tb_>::SMEM;
      auto kernel = hgemm_mma_kernel<T, ta_, tb_, TC>;
      allow_dynamic_smem(kernel, smem, device, "cudaFuncSetAttribute (gemm mma kernel shared memory)");
      kernel<<<grid, kMmaThreads, smem, st>>>(g);
    });
    check_launch(std::is_same_v<T, __half> ? "gemm (float16, mma)" : "gemm (bfloat16, mma)");
    return;
  }
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

// ---- backend dispatch ----------------------------------------------------------------------------
//
// gemm() = ours (the kernels above) or cuBLAS (cublas::gemm, then add_bias_kernel for the bias
// epilogue), chosen per call by the mode (gemm_backend()): forced, or auto = per shape by
// measurement, cached per device and key. A faster cuBLAS path would use cuBLASLt's
// CUBLASLT_EPILOGUE_BIAS (bias fused, no second pass over C).

namespace {

// C[z, m, n] += bias[n] (PerColumn) or bias[m] (PerRow) after cuBLAS wrote alpha·AB + beta·C:
// one more rounding to TC than ours (which adds the bias before its single rounding); within the
// float16/bfloat16 tolerances, about 1 ulp of float32.
template <typename T, typename TC>
__global__ void add_bias_kernel(TC* C, const T* bias, int mode, int64_t M, int64_t N, int64_t ldc, int64_t sC,
                                int64_t total) {
  IE_GRID_STRIDE(i, total) {
    const int64_t n = i % N, m = (i / N) % M, z = i / (N * M);
    TC* p = C + z * sC + m * ldc + n;
    const float b = to_f(bias[mode == int(GemmBias::PerColumn) ? n : m]);
    *p = from_f<TC>(to_f(*p) + b);
  }
}

struct Call {
  DType dt;
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const void* A;
  int64_t lda, sA;
  const void* B;
  int64_t ldb, sB;
  float beta;
  void* C;
  int64_t ldc, sC, batch;
  GemmEpilogue epi;
  int device;
};

void run_ours(const Call& c) {
  GemmArgs g{c.M, c.N, c.K, c.alpha, c.beta, c.A, c.lda, c.sA, c.B, c.ldb, c.sB, c.C, c.ldc, c.sC, c.batch,
             c.epi.bias_mode == GemmBias::None ? nullptr : c.epi.bias,
             c.epi.bias && c.epi.bias_mode != GemmBias::None ? int(c.epi.bias_mode) : 0, 0, 0};
  cudaStream_t st = stream(c.device);
  dispatch_float(c.dt, "gemm", [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, float>) {
      // 128×128 tiles unless that leaves SMs idle.
      const int64_t big = ((c.M + 127) / 128) * ((c.N + 127) / 128) * c.batch;
      if (big >= int64_t(sm_count(c.device))) launch_sgemm<128, 128>(g, c.ta, c.tb, st);
      else launch_sgemm<64, 64>(g, c.ta, c.tb, st);
    } else {
      if (c.epi.c_f32) launch_hgemm<T, float>(g, c.ta, c.tb, st, c.device);
      else launch_hgemm<T, T>(g, c.ta, c.tb, st, c.device);
    }
  });
}

bool cublas_can_take(const Call& c) {
  return c.sA >= 0 && c.sB >= 0 && c.sC >= 0 &&
         cublas::can_take(c.dt, c.ta, c.tb, c.M, c.N, c.K, c.lda, c.ldb, c.ldc, c.sC, c.batch);
}

// False (nothing launched) when cuBLAS cannot take the call (see cublas::gemm).
bool run_cublas(const Call& c) {
  if (!cublas::gemm(c.dt, c.ta, c.tb, c.M, c.N, c.K, c.alpha, c.A, c.lda, c.sA, c.B, c.ldb, c.sB, c.beta, c.C, c.ldc,
                    c.sC, c.batch, c.epi.c_f32, c.device))
    return false;
  if (c.epi.bias && c.epi.bias_mode != GemmBias::None) {
    const int64_t total = c.batch * c.M * c.N;
    cudaStream_t st = stream(c.device);
    dispatch_float(c.dt, "gemm bias", [&](auto t) {
      using T = decltype(t);
      const int grid = grid_for(total, 256, c.device);
      if (c.epi.c_f32)
        add_bias_kernel<T, float><<<grid, 256, 0, st>>>(static_cast<float*>(c.C), static_cast<const T*>(c.epi.bias),
                                                        int(c.epi.bias_mode), c.M, c.N, c.ldc, c.sC, total);
      else
        add_bias_kernel<T, T><<<grid, 256, 0, st>>>(static_cast<T*>(c.C), static_cast<const T*>(c.epi.bias),
                                                    int(c.epi.bias_mode), c.M, c.N, c.ldc, c.sC, total);
    });
    check_launch("gemm bias (cuBLAS path)");
  }
  return true;
}

// ---- mode ----

// -1: not yet read from the environment.
std::atomic<int> g_mode{-1};
std::string g_env_note;  // set once, with g_mode, under g_env_once
std::once_flag g_env_once;

void read_env() {
  std::call_once(g_env_once, [] {
    const char* v = std::getenv("INSTRUCTEDIT_GEMM");
    int m = -1;
    if (v && *v) {
      if (!std::strcmp(v, "ours")) m = int(GemmBackend::Ours);
      else if (!std::strcmp(v, "cublas")) m = int(GemmBackend::Cublas);
      else if (!std::strcmp(v, "auto")) m = int(GemmBackend::Auto);
      else g_env_note = std::string("INSTRUCTEDIT_GEMM=") + v + " not understood (ours|cublas|auto)";
      if (m >= 0) g_env_note = std::string("INSTRUCTEDIT_GEMM=") + v;
    }
    if (m < 0) m = cublas::available() ? int(GemmBackend::Auto) : int(GemmBackend::Ours);
    int expected = -1;
    g_mode.compare_exchange_strong(expected, m);  // a set_gemm_backend() before wins
  });
}

const char* mode_name(GemmBackend b) {
  return b == GemmBackend::Ours ? "ours" : b == GemmBackend::Cublas ? "cublas" : "auto";
}

// ---- auto: per-device cache of measured choices ----

struct Key {
  int dt;
  bool ta, tb;
  int64_t M, N, K, batch;
  bool bias, c_f32, beta;
  bool operator<(const Key& o) const {
    return std::tie(dt, ta, tb, M, N, K, batch, bias, c_f32, beta) <
           std::tie(o.dt, o.ta, o.tb, o.M, o.N, o.K, o.batch, o.bias, o.c_f32, o.beta);
  }
};

constexpr int kMaxDevices = 64;

struct Tune {
  std::mutex mu;
  std::map<Key, bool> cublas_wins;  // key -> cuBLAS chosen
  GemmBackendStats stats;
};

Tune& tune(int device) {
  static Tune* t = new Tune[kMaxDevices];  // lives until exit
  IE_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  return t[device];
}

Key key_of(const Call& c) {
  return Key{int(c.dt), c.ta, c.tb, c.M, c.N, c.K, c.batch,
             c.epi.bias != nullptr && c.epi.bias_mode != GemmBias::None, c.epi.c_f32, c.beta != 0.f};
}

struct Events {
  cudaEvent_t e[3] = {nullptr, nullptr, nullptr};
  Events() {
    for (auto& x : e) {
      const cudaError_t err = cudaEventCreate(&x);
      if (err != cudaSuccess) {
        x = nullptr;
        destroy();
        check(err, "cudaEventCreate (gemm auto-tuning)");
      }
    }
  }
  void destroy() {
    for (auto& x : e) {
      if (x) cudaEventDestroy(x);
      x = nullptr;
    }
  }
  ~Events() { destroy(); }
};

struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  int device = 0;
  ~Scratch() {
    if (p) ie::cuda::free(p, bytes, device);  // stream-ordered reuse: safe while work is queued
  }
};

// Times ours and cuBLAS on the call's shape; true when cuBLAS is faster by more than 3% (ties stay
// with ours). Output: C itself when beta == 0 (every run overwrites all of it, so C ends right
// and the real call after this rewrites it anyway), else a zeroed scratch buffer of C's footprint,
// so that C is read and written only by the real call. Synchronises the host with the stream
// once per new key.
bool measure(const Call& c) {
  Call t = c;
  Scratch scratch;
  if (c.beta != 0.f) {
    const size_t esz = c.epi.c_f32 ? 4 : dtype_size(c.dt);
    const int64_t span = (c.batch - 1) * c.sC + (c.M - 1) * c.ldc + c.N;  // elements from C's first
    scratch.device = c.device;
    scratch.bytes = size_t(span) * esz;
    scratch.p = ie::cuda::malloc(scratch.bytes, c.device);
    check(cudaMemsetAsync(scratch.p, 0, scratch.bytes, stream(c.device)), "cudaMemsetAsync (gemm auto-tuning)");
    t.C = scratch.p;
  }
  cudaStream_t st = stream(c.device);
  Events ev;
  // Warm-up: the first cuBLAS call of a shape may load kernels and pick an algorithm.
  run_ours(t);
  if (!run_cublas(t)) return false;
  float ms_ours = 0.f, ms_cublas = 0.f;
  for (int reps : {1, 10}) {
    check(cudaEventRecord(ev.e[0], st), "cudaEventRecord");
    for (int r = 0; r < reps; ++r) run_ours(t);
    check(cudaEventRecord(ev.e[1], st), "cudaEventRecord");
    for (int r = 0; r < reps; ++r) run_cublas(t);
    check(cudaEventRecord(ev.e[2], st), "cudaEventRecord");
    check(cudaEventSynchronize(ev.e[2]), "cudaEventSynchronize (gemm auto-tuning)");
    check(cudaEventElapsedTime(&ms_ours, ev.e[0], ev.e[1]), "cudaEventElapsedTime");
    check(cudaEventElapsedTime(&ms_cublas, ev.e[1], ev.e[2]), "cudaEventElapsedTime");
    // One repetition is a fair reading for GEMMs of a millisecond or more; shorter ones get ten.
    if (ms_ours + ms_cublas >= 1.f) break;
  }
  return ms_cublas < 0.97f * ms_ours;
}

// The auto choice for the call: cached, else measured (not while the stream is being captured
// into a CUDA graph: then ours, not cached, so a later uncaptured call measures).
bool auto_chooses_cublas(const Call& c) {
  Tune& tn = tune(c.device);
  const Key k = key_of(c);
  {
    std::lock_guard<std::mutex> lk(tn.mu);
    auto it = tn.cublas_wins.find(k);
    if (it != tn.cublas_wins.end()) return it->second;
  }
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream(c.device), &cs) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (cs != cudaStreamCaptureStatusNone) return false;
  bool choice = false;
  try {
    choice = measure(c);
  } catch (const ie::Error&) {
    choice = false;  // cuBLAS failed on this shape (or timing did): ours
  }
  std::lock_guard<std::mutex> lk(tn.mu);
  tn.cublas_wins[k] = choice;
  ++tn.stats.measurements;
  return choice;
}

void count(int device, bool cublas_ran) {
  Tune& tn = tune(device);
  std::lock_guard<std::mutex> lk(tn.mu);
  ++(cublas_ran ? tn.stats.cublas_calls : tn.stats.ours_calls);
}

}  // namespace

GemmBackend gemm_backend() {
  read_env();
  return GemmBackend(g_mode.load());
}

void set_gemm_backend(GemmBackend b) {
  read_env();
  g_mode.store(int(b));
}

std::string gemm_backend_info(int device) {
  try {
    read_env();
    const std::string lib = cublas::load_info();
    if (!cublas::available()) {
      std::string s = "ours (" + lib + ")";
      if (!g_env_note.empty()) s += "; " + g_env_note;
      return s;
    }
    const GemmBackend mode = gemm_backend();
    std::string s = lib + "; " + mode_name(mode);
    if (!g_env_note.empty()) s += " (" + g_env_note + ")";
    if (device >= 0 && device < kMaxDevices) {
      const GemmBackendStats st = gemm_backend_stats(device);
      if (st.measurements > 0)
        s += "; cuda:" + std::to_string(device) + ": " + std::to_string(st.cached) + " shapes measured, " +
             std::to_string(st.cached_cublas) + " to cublas";
      const std::string he = cublas::handle_error(device);
      if (!he.empty()) s += "; cuda:" + std::to_string(device) + " uses ours: " + he;
    }
    return s;
  } catch (const std::exception& e) {
    return std::string("ours (") + e.what() + ")";
  }
}

GemmBackendStats gemm_backend_stats(int device) {
  if (device < 0 || device >= kMaxDevices) return {};
  Tune& tn = tune(device);
  std::lock_guard<std::mutex> lk(tn.mu);
  GemmBackendStats s = tn.stats;
  s.cached = int64_t(tn.cublas_wins.size());
  s.cached_cublas = 0;
  for (const auto& kv : tn.cublas_wins) s.cached_cublas += kv.second ? 1 : 0;
  return s;
}

void gemm_backend_reset(int device) {
  if (device < 0 || device >= kMaxDevices) return;
  Tune& tn = tune(device);
  std::lock_guard<std::mutex> lk(tn.mu);
  tn.cublas_wins.clear();
  tn.stats = GemmBackendStats{};
}

void gemm(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, int64_t strideA, const void* B, int64_t ldb, int64_t strideB, float beta, void* C,
          int64_t ldc, int64_t strideC, int64_t batch, int device, const GemmEpilogue& epi) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (K < 0) K = 0;
  const Call c{dt, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch,
               epi, device};
  const GemmBackend mode = gemm_backend();
  if (mode != GemmBackend::Ours && cublas_can_take(c)) {
    const bool want = mode == GemmBackend::Cublas || auto_chooses_cublas(c);
    if (want && run_cublas(c)) {
      count(device, true);
      return;
    }
  }
  run_ours(c);
  count(device, false);
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
