// Single-precision GEMM, row-major: C[M,N] = alpha * op(A) * op(B) + beta * C, where op(A) is A[M,K]
// (lda >= K) or, with transA, A stored as [K,M] (lda >= M); likewise B is [K,N] or, with transB,
// [N,K]. When beta == 0, C is written without being read (so NaN in C does not propagate).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, sgemm,
               (bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc))
// `batch` independent GEMMs; matrix i starts at A + i*strideA (etc.).
IE_CPU_DECLARE(void, sgemm_batched,
               (bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta, float* C, int64_t ldc,
                int64_t strideC, int64_t batch))

#ifndef IE_ISA
namespace ie::cpu {
inline void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  IE_CPU_DISPATCH(sgemm, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
}
inline void sgemm_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta,
                          float* C, int64_t ldc, int64_t strideC, int64_t batch) {
  IE_CPU_DISPATCH(sgemm_batched, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
                  strideC, batch)
}
}  // namespace ie::cpu
#endif
