// Fused scheduler kernels: one pass over the latents per denoising step (prev_sample and the x0
// prediction together, noise drawn inline), the input scaling of the Euler family and the
// per-sample mix used by add_noise / get_velocity. Formulas: ie/step_coeffs.h.
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"
#include "ie/step_coeffs.h"

// hist may be null (no history term). Noise: `noise` if non-null; else, when gen_noise, the
// standard normals randn(seed, offset + i) of ops::randn; else zero.
IE_CPU_DECLARE(void, scheduler_step,
               (const float* e, const float* x, const float* hist, const float* noise, bool gen_noise, uint64_t seed,
                uint64_t offset, const ::ie::SchedStepCoeffs& c, float* prev, float* pred, int64_t n))
// y = x / div
IE_CPU_DECLARE(void, scheduler_scale, (const float* x, float div, float* y, int64_t n))
// out[r, i] = ca[r]·a[r, i] + cb[r]·b[r, i] for rows r < rows of row_len elements.
IE_CPU_DECLARE(void, scheduler_mix_rows,
               (const float* a, const float* b, const float* ca, const float* cb, float* out, int64_t rows,
                int64_t row_len))

#ifndef IE_ISA
namespace ie::cpu {
inline void scheduler_step(const float* e, const float* x, const float* hist, const float* noise, bool gen_noise,
                           uint64_t seed, uint64_t offset, const SchedStepCoeffs& c, float* prev, float* pred,
                           int64_t n) {
  IE_CPU_DISPATCH(scheduler_step, e, x, hist, noise, gen_noise, seed, offset, c, prev, pred, n)
}
inline void scheduler_scale(const float* x, float div, float* y, int64_t n) {
  IE_CPU_DISPATCH(scheduler_scale, x, div, y, n)
}
inline void scheduler_mix_rows(const float* a, const float* b, const float* ca, const float* cb, float* out,
                               int64_t rows, int64_t row_len) {
  IE_CPU_DISPATCH(scheduler_mix_rows, a, b, ca, cb, out, rows, row_len)
}
}  // namespace ie::cpu
#endif
