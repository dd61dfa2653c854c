// Fused scheduler kernels on the GPU (float32; formulas: ie/step_coeffs.h, cpu/scheduler_step.h).
// Plain C++.
#pragma once
#include <cstdint>

#include "ie/step_coeffs.h"

namespace ie::cuda {

// hist may be null. Noise: `noise` if non-null; else, when gen_noise, randn(seed, offset + i)
// generated in the kernel with the CPU's counter layout (cpu/random.cc); else zero.
void scheduler_step(const float* e, const float* x, const float* hist, const float* noise, bool gen_noise, uint64_t seed,
                    uint64_t offset, const SchedStepCoeffs& c, float* prev, float* pred, int64_t n, int device);
// y = x / div
void scheduler_scale(const float* x, float div, float* y, int64_t n, int device);
// out[r, i] = ca[r]·a[r, i] + cb[r]·b[r, i]. Coefficients of up to kMixRowsInline rows travel in the
// kernel arguments (ca_host, cb_host); for more rows pass coef_dev = [ca; cb] (2·rows floats on the
// device) and the host pointers are not read.
constexpr int64_t kMixRowsInline = 256;
void scheduler_mix_rows(const float* a, const float* b, const float* ca_host, const float* cb_host,
                        const float* coef_dev, float* out, int64_t rows, int64_t row_len, int device);

}  // namespace ie::cuda
