// Linear layer on top of sgemm. PyTorch stores w as [N, K] (out x in), so the forward product is
// x · wᵀ (transB) and the weight gradient dyᵀ · x (transA); neither needs a copy.
#include "cpu/linear.h"

#include "cpu/gemm.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t M, int64_t K, int64_t N) {
  sgemm(false, true, M, N, K, 1.f, x, K, w, K, 0.f, y, N);
  if (!b) return;
  // A separate pass: y is still in cache for the common (small) layer sizes, and the GEMM stays
  // a plain GEMM.
  parallel_for(M, (1 << 14) / (N > 0 ? N : 1) + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = y + r * N;
      for (int64_t j = 0; j < N; ++j) yr[j] += b[j];
    }
  });
}

void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t M,
                     int64_t K, int64_t N, bool accumulate) {
  if (dx) sgemm(false, false, M, K, N, 1.f, dy, N, w, K, 0.f, dx, K);
  if (dw) sgemm(true, false, N, K, M, 1.f, dy, N, x, K, accumulate ? 1.f : 0.f, dw, K);
  if (db) {
    // Column sums of dy; each chunk of columns walks the rows, so the inner loop is contiguous.
    parallel_for(N, 256, [&](int64_t j0, int64_t j1) {
      if (!accumulate)
        for (int64_t j = j0; j < j1; ++j) db[j] = 0.f;
      for (int64_t m = 0; m < M; ++m) {
        const float* row = dy + m * N;
        for (int64_t j = j0; j < j1; ++j) db[j] += row[j];
      }
    });
  }
}

}  // namespace ie::cpu::IE_ISA
