// float64 reference of a strided, batched GEMM (used by test_gemm.cc, test_cuda_gemm.cc and
// test_cuda_gemm_backends.cc): C_b = alpha·op(A_b)·op(B_b) + beta·C_b (+ a bias per column or row),
// beta == 0 never reading C.
#pragma once
#include <cstdint>
#include <vector>

namespace iet::ref {

// Element (i, j) of op(X) for X stored row-major at X[base] with leading dimension ld.
template <typename T>
double gemm_at(const std::vector<T>& X, bool trans, int64_t ld, int64_t base, int64_t i, int64_t j) {
  return trans ? X[size_t(base + j * ld + i)] : X[size_t(base + i * ld + j)];
}

// The M x N windows of every batch item, in order (batch, row, column). bias_col [N] is added to
// every row, bias_row [M] to every column (nullptr: none).
template <typename T>
std::vector<double> gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, double alpha, const std::vector<T>& A,
                         int64_t lda, int64_t sA, const std::vector<T>& B, int64_t ldb, int64_t sB, double beta,
                         const std::vector<T>& C, int64_t ldc, int64_t sC, int64_t batch,
                         const std::vector<T>* bias_col = nullptr, const std::vector<T>* bias_row = nullptr) {
  std::vector<double> ref;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += gemm_at(A, tA, lda, b * sA, i, k) * gemm_at(B, tB, ldb, b * sB, k, j);
        double v = alpha * s + (beta == 0 ? 0.0 : beta * double(C[size_t(b * sC + i * ldc + j)]));
        if (bias_col) v += double((*bias_col)[size_t(j)]);
        if (bias_row) v += double((*bias_row)[size_t(i)]);
        ref.push_back(v);
      }
  return ref;
}

}  // namespace iet::ref
