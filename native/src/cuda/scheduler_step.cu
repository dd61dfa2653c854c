// Scheduler kernels: one fused pass per denoising step. Every float operation is rounded
// separately (__fmul_rn / __fadd_rn / __fdiv_rn never contract into FMAs), as the CPU kernel
// compiles with fp-contract=off, so that both follow the reference's operation order.
//
// Noise: element i is half of Box-Muller pair (offset + i) / 2 of philox_normal_pair (ie/philox.h,
// shared with the CPU), the first half for an even index: the same counters as cpu/random.cc and
// cpu/scheduler_step.cc. The values can differ from the CPU's in the last bits, because the device's
// logf/sinf/cosf are not glibc's (a few ulp). A faster version would let each thread produce both
// elements of a pair (here each thread computes a pair and keeps one half).
#include "cuda/common.cuh"
#include "cuda/scheduler_step.h"
#include "ie/philox.h"

namespace ie::cuda {
namespace {

__device__ __forceinline__ float randn_at(uint64_t seed, uint64_t j) {
  float z0, z1;
  philox_normal_pair(seed, j >> 1, &z0, &z1);
  return (j & 1) ? z1 : z0;
}

__global__ void step_kernel(const float* __restrict__ e, const float* __restrict__ x, const float* __restrict__ hist,
                            const float* __restrict__ noise, bool gen, uint64_t seed, uint64_t offset, SchedStepCoeffs c,
                            float* __restrict__ prev, float* __restrict__ pred, int64_t n) {
  IE_GRID_STRIDE(i, n) {
    const float xi = x[i], ei = e[i];
    float x0 = __fdiv_rn(__fadd_rn(__fmul_rn(c.x0_x, xi), __fmul_rn(c.x0_e, ei)), c.x0_div);
    x0 = x0 < c.clip_lo ? c.clip_lo : x0;
    x0 = x0 > c.clip_hi ? c.clip_hi : x0;
    const float p = __fadd_rn(__fmul_rn(c.out_x0, x0), __fmul_rn(c.out_x, xi));
    const float h = hist ? hist[i] : p;
    float acc = __fmul_rn(c.p_x, xi);
    acc = __fadd_rn(acc, __fmul_rn(c.p_pred, p));
    acc = __fadd_rn(acc, __fmul_rn(c.p_e, ei));
    acc = __fadd_rn(acc, __fmul_rn(__fdiv_rn(__fsub_rn(xi, p), c.d_div), c.d_mul));
    acc = __fadd_rn(acc, __fmul_rn(c.h_out, __fmul_rn(c.h_in, __fsub_rn(p, h))));
    const float z = noise ? noise[i] : gen ? randn_at(seed, offset + uint64_t(i)) : 0.0f;
    acc = __fadd_rn(acc, __fmul_rn(c.p_noise, z));
    prev[i] = acc;
    pred[i] = p;
  }
}

__global__ void scale_kernel(const float* __restrict__ x, float div, float* __restrict__ y, int64_t n) {
  IE_GRID_STRIDE(i, n) y[i] = __fdiv_rn(x[i], div);
}

struct RowCoeffs {
  float a[kMixRowsInline], b[kMixRowsInline];
};

__global__ void mix_rows_kernel(const float* __restrict__ a, const float* __restrict__ b, RowCoeffs inl,
                                const float* __restrict__ coef_dev, float* __restrict__ out, int64_t rows,
                                int64_t row_len) {
  const int64_t n = rows * row_len;
  IE_GRID_STRIDE(i, n) {
    const int64_t r = i / row_len;
    const float wa = coef_dev ? coef_dev[r] : inl.a[r];
    const float wb = coef_dev ? coef_dev[rows + r] : inl.b[r];
    out[i] = __fadd_rn(__fmul_rn(wa, a[i]), __fmul_rn(wb, b[i]));
  }
}

}  // namespace

void scheduler_step(const float* e, const float* x, const float* hist, const float* noise, bool gen_noise, uint64_t seed,
                    uint64_t offset, const SchedStepCoeffs& c, float* prev, float* pred, int64_t n, int device) {
  if (n <= 0) return;
  step_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(e, x, hist, noise, gen_noise, seed, offset, c, prev,
                                                                    pred, n);
  check_launch("scheduler_step");
}

void scheduler_scale(const float* x, float div, float* y, int64_t n, int device) {
  if (n <= 0) return;
  scale_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(x, div, y, n);
  check_launch("scheduler_scale");
}

void scheduler_mix_rows(const float* a, const float* b, const float* ca_host, const float* cb_host,
                        const float* coef_dev, float* out, int64_t rows, int64_t row_len, int device) {
  const int64_t n = rows * row_len;
  if (n <= 0) return;
  RowCoeffs inl{};
  if (!coef_dev) {
    IE_CHECK(rows <= kMixRowsInline, "scheduler_mix_rows: ", rows, " rows need their coefficients on the device");
    for (int64_t r = 0; r < rows; ++r) {
      inl.a[r] = ca_host[r];
      inl.b[r] = cb_host[r];
    }
  }
  mix_rows_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(a, b, inl, coef_dev, out, rows, row_len);
  check_launch("scheduler_mix_rows");
}

}  // namespace ie::cuda
