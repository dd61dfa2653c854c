#include "cpu/triplet_loss.h"

#include <cstdlib>

#include "cpu/block_sum.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

namespace {
constexpr int64_t kBlock = 1 << 13;
}  // namespace

// Blocks of every row (2B rows × nb blocks) in parallel; each row's block sums added in order.
void triplet_sums(const float* pred, const float* target, int64_t B, int64_t n, double* s_pos, double* s_neg) {
  const int64_t nb = n > 0 ? (n + kBlock - 1) / kBlock : 0;
  const int64_t rows = 2 * B;
  double* part = static_cast<double*>(std::malloc(size_t(rows * nb > 0 ? rows * nb : 1) * sizeof(double)));
  parallel_for(rows * nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t r = k / nb, blk = k % nb;
      const float* row = pred + r * n;
      const float* tgt = target + (r % B) * n;
      int64_t i = blk * kBlock, end = i + kBlock < n ? i + kBlock : n;
      part[k] = block_sum_sq(row, tgt, i, end);
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t blk = 0; blk < nb; ++blk) s += part[r * nb + blk];
    (r < B ? s_pos[r] : s_neg[r - B]) = s;
  }
  std::free(part);
}

void triplet_grad(const float* pred, const float* target, int64_t B, int64_t n, const float* cp, const float* cn,
                  float* grad) {
  const int64_t rows = 2 * B;
  parallel_for(rows * n, 1 << 15, [&](int64_t b, int64_t e) {
    while (b < e) {
      int64_t r = b / n, i = b % n, end = (r + 1) * n < e ? n : e - r * n;
      const float c = r < B ? cp[r] : cn[r - B];
      const float* p = pred + r * n;
      const float* t = target + (r % B) * n;
      float* g = grad + r * n;
      for (; i < end; ++i) g[i] = c * (p[i] - t[i]);
      b = r * n + end;
    }
  });
}

}  // namespace ie::cpu::IE_ISA
