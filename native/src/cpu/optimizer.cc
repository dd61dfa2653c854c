#include "cpu/optimizer.h"

#include <cmath>
#include <cstdlib>

#include "cpu/block_sum.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

namespace {
// One range of the update, with everything in registers and the buffers declared non-aliasing
// (the op rejects overlapping buffers), so the compiler vectorises it; called per parallel chunk
// (a lambda's captured references would defeat the aliasing analysis).
void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t b,
                 int64_t e, float beta1, float one_b1, float beta2, float one_b2, float decay, float step_size,
                 float sqrt_b2, float eps, float gscale) {
  for (int64_t i = b; i < e; ++i) {
    const float gi = g[i] * gscale;
    const float mi = beta1 * m[i] + one_b1 * gi;
    const float vi = beta2 * v[i] + one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / sqrt_b2 + eps;
    p[i] = p[i] * decay - step_size * (mi / denom);
  }
}
}  // namespace

// Same operation order as torch's single-tensor AdamW in float32 (torch 1.13, `_single_tensor_adamw`).
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const float* k) {
  const float beta1 = k[0], one_b1 = k[1], beta2 = k[2], one_b2 = k[3], decay = k[4], step_size = k[5], sqrt_b2 = k[6],
              eps = k[7], gscale = k[8];
  parallel_for(n, 1 << 14, [=](int64_t b, int64_t e) {
    adamw_range(p, g, m, v, b, e, beta1, one_b1, beta2, one_b2, decay, step_size, sqrt_b2, eps, gscale);
  });
}

void sum_squares(const float* x, int64_t n, double* sum, int* finite) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  double* part = static_cast<double*>(std::malloc(size_t(nb > 0 ? nb : 1) * sizeof(double)));
  int* fin = static_cast<int*>(std::malloc(size_t(nb > 0 ? nb : 1) * sizeof(int)));
  parallel_for(nb, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      int64_t i = blk * kBlock, end = i + kBlock < n ? i + kBlock : n;
      double s = block_sum_sq(x, nullptr, i, end);
      part[blk] = s;
      fin[blk] = std::isfinite(s) ? 1 : 0;  // NaN/Inf anywhere makes the block's sum non-finite
    }
  });
  double s = 0;
  int f = 1;
  for (int64_t blk = 0; blk < nb; ++blk) {
    s += part[blk];
    f &= fin[blk];
  }
  std::free(part);
  std::free(fin);
  *sum = s;
  *finite = f;
}

void ema_update(float* __restrict ema, const float* __restrict p, int64_t n, float decay) {
  const float k = 1.0f - decay;
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ema[i] += k * (p[i] - ema[i]);
  });
}

}  // namespace ie::cpu::IE_ISA
