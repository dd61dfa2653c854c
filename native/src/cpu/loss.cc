#include "cpu/loss.h"

#include <cstdlib>

#include "cpu/block_sum.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

// Σ(p − t)² over fixed blocks (8 double lanes each), block sums then added in order: the same
// result for any thread count.
void mse_forward(const float* pred, const float* target, float* loss, int64_t n) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  double* part = static_cast<double*>(std::malloc(size_t(nb > 0 ? nb : 1) * sizeof(double)));
  parallel_for(nb, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      int64_t i = blk * kBlock, end = i + kBlock < n ? i + kBlock : n;
      part[blk] = block_sum_sq(pred, target, i, end);
    }
  });
  double s = 0;
  for (int64_t blk = 0; blk < nb; ++blk) s += part[blk];
  std::free(part);
  loss[0] = float(s / double(n));  // n = 0 gives NaN, as torch's mean of nothing
}

void mse_backward(const float* pred, const float* target, const float* grad, float* dpred, int64_t n) {
  const float k = float(2.0 * double(grad[0]) / double(n));
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dpred[i] = k * (pred[i] - target[i]);
  });
}

}  // namespace ie::cpu::IE_ISA
