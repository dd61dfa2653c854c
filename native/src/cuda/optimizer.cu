// Fused optimizer kernels: one pass per element, the CPU's operation order with every float
// operation rounded separately (__fmul_rn / __fadd_rn / __fdiv_rn / __fsqrt_rn are never
// contracted into FMAs), as torch's separate tensor ops round. A faster version would use 128-bit
// loads (the buffers are flat and usually 16-byte aligned).
#include "cuda/common.cuh"
#include "cuda/optimizer.h"
#include "cuda/reduce.h"

namespace ie::cuda {
namespace {

__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, AdamWCoeffs c) {
  const float beta1 = c.k[0], one_b1 = c.k[1], beta2 = c.k[2], one_b2 = c.k[3], decay = c.k[4], step_size = c.k[5],
              sqrt_b2 = c.k[6], eps = c.k[7], gscale = c.k[8];
  IE_GRID_STRIDE(i, n) {
    // cpu/optimizer.cc adamw_range, term by term
    const float gi = __fmul_rn(g[i], gscale);
    const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_b1, gi));
    const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_b2), eps);
    p[i] = __fsub_rn(__fmul_rn(p[i], decay), __fmul_rn(step_size, __fdiv_rn(mi, denom)));
  }
}

__global__ void ema_kernel(float* __restrict__ ema, const float* __restrict__ p, int64_t n, float k) {
  IE_GRID_STRIDE(i, n) ema[i] = __fadd_rn(ema[i], __fmul_rn(k, __fsub_rn(p[i], ema[i])));
}

}  // namespace

void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& k, int device) {
  if (n <= 0) return;
  adamw_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(p, g, m, v, n, k);
  check_launch("adamw_step");
}

void sum_squares(const float* x, int64_t n, double* partials, float* out, int device) {
  sum_sq(x, nullptr, n, partials, SumSqOut::SumAndFinite, out, device);
}

void ema_update(float* ema, const float* p, int64_t n, float decay, int device) {
  if (n <= 0) return;
  const float k = 1.0f - decay;  // as cpu/optimizer.cc (host float arithmetic)
  ema_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(ema, p, n, k);
  check_launch("ema_update");
}

}  // namespace ie::cuda
