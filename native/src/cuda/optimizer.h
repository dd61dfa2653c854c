// Optimizer kernels over flat float32 buffers on the GPU (cpu/optimizer.h has the formulas). Plain C++.
#pragma once
#include <cstdint>

namespace ie::cuda {

// k: {β1, 1−β1, β2, 1−β2, 1 − lr·wd, lr/bc1, √bc2, eps, gscale}, precomputed by the op as for the CPU.
struct AdamWCoeffs {
  float k[9];
};
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& k, int device);
// out[0] = Σ x² (double, fixed order), out[1] = 1 if every element is finite else 0; partials: a
// temporary of sum_sq_row_chunks(n) doubles (cuda/reduce.h).
void sum_squares(const float* x, int64_t n, double* partials, float* out, int device);
// ema += (1 − decay)·(p − ema)
void ema_update(float* ema, const float* p, int64_t n, float decay, int device);

}  // namespace ie::cuda
