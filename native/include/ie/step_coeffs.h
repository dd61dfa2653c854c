// Coefficients of one fused scheduler step (ops::scheduler_step, cpu/scheduler_step.h). Every update
// rule the schedulers implement (DDPM, DDIM, Euler, Euler ancestral, DPM-Solver++ 2M, LCM) is this one
// formula with scheduler-specific scalars computed on the host (models/scheduler/*.cc):
//
//   x0    = clamp((x0_x·x + x0_e·e) / x0_div, clip_lo, clip_hi)      e = model output, x = sample
//   pred  = out_x0·x0 + out_x·x                                       (LCM's boundary condition)
//   prev  = p_x·x + p_pred·pred + p_e·e + ((x − pred) / d_div)·d_mul
//           + h_out·(h_in·(pred − hist)) + p_noise·z                   hist = previous step's pred
//
// evaluated in this order in float32, so that for each scheduler the operations are the ones the
// reference (diffusers) performs, in its order: a zero coefficient adds an exact zero.
#pragma once
#include <limits>

namespace ie {

struct SchedStepCoeffs {
  float x0_x = 0, x0_e = 0, x0_div = 1;
  float clip_lo = -std::numeric_limits<float>::infinity(), clip_hi = std::numeric_limits<float>::infinity();
  float out_x0 = 1, out_x = 0;
  float p_x = 0, p_pred = 0, p_e = 0;
  float d_div = 1, d_mul = 0;
  float h_out = 0, h_in = 0;
  float p_noise = 0;
};

}  // namespace ie
