// Batched strided GEMM on the GPU, row-major, mirroring cpu::sgemm_batched (native/src/cpu/gemm.h):
//
//   C_i[M,N] = alpha · op(A_i) · op(B_i) + beta · C_i  (+ bias)       for i < batch
//
// op(A) is A[M,K] (lda >= K) or, with transA, A stored [K,M] (lda >= M); likewise B is [K,N] or,
// with transB, [N,K]. Matrix i starts at A + i·strideA elements (stride 0 = shared), etc.
// When beta == 0, C is written without being read (NaN in C does not propagate). K == 0 gives
// C = beta·C (+ bias). Nothing is launched when M, N or batch is 0.
//
// A and B have the storage type `dt` (float32, float16 or bfloat16); C has `dt` too, or float32
// with c_f32 (e.g. a float32 column buffer that a later pass sums). Accumulation is float32:
//   float32: a SIMT kernel with exact float32 FMAs (no TF32), 128×128 block tiles (64×64 when the
//            grid would not fill the GPU), 8×8 results per thread.
//   float16/bfloat16: tensor cores (WMMA 16×16×16, float32 accumulators), 128×128×32 block tiles.
// The bias (storage type dt, may be null) is added in the epilogue after alpha·AB + beta·C:
// per column (bias[n], a linear layer's y = x·wᵀ + b) or per row (bias[m], a conv's y[K, PQ]).
//
// Enqueued on stream(device); returns at once. Pointers are raw device pointers.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

enum class GemmBias : int { None = 0, PerColumn = 1, PerRow = 2 };

struct GemmEpilogue {
  const void* bias = nullptr;  // storage type dt; ignored with GemmBias::None
  GemmBias bias_mode = GemmBias::None;
  bool c_f32 = false;  // C is float32 whatever dt is
};

void gemm(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, int64_t strideA, const void* B, int64_t ldb, int64_t strideB, float beta, void* C,
          int64_t ldc, int64_t strideC, int64_t batch, int device, const GemmEpilogue& epi = GemmEpilogue{});

// Column sums of a row-major [M, N] matrix (storage dt): out[n] = Σ_m x[m, n] (+ out[n] when
// accumulate), float32 accumulation in a fixed order (deterministic). out is float32 whatever dt is
// (parameter gradients are float32 on the GPU). Used for a linear layer's bias gradient. Launches
// even when M == 0 (out becomes 0, or stays with accumulate).
void column_sums(DType dt, const void* x, int64_t M, int64_t N, void* out, bool accumulate, int device);

// Fills n elements of storage dt with zero (stream-ordered).
void zero(DType dt, void* p, int64_t n, int device);

}  // namespace ie::cuda
