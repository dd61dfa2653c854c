// EulerAncestralDiscreteScheduler (diffusers 0.30.3 scheduling_euler_ancestral_discrete.py): an
// Euler step down to σ_down plus fresh noise of σ_up (the InstructPix2Pix default).
#include <cmath>

#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void sigma_prediction(SchedStepCoeffs* k, Prediction p, float sigma);  // euler.cc

void euler_ancestral_set_timesteps(const Config& c, int64_t n, const std::vector<float>& train_sigmas,
                                   std::vector<float>* ts, std::vector<float>* sig) {
  for (double v : spaced_timesteps(c, n)) {
    ts->push_back(float(v));
    sig->push_back(float(np_interp_index(double(float(v)), train_sigmas)));
  }
  sig->push_back(0.0f);
}

Step euler_ancestral_step(const State& s) {
  const float from = s.sig[size_t(s.index)], to = s.sig[size_t(s.index + 1)];
  Step st;
  sigma_prediction(&st.k, s.c.prediction_type, from);
  const float up = std::sqrt(f32pow2(to) * (f32pow2(from) - f32pow2(to)) / f32pow2(from));
  const float down = std::sqrt(f32pow2(to) - f32pow2(up));
  st.k.p_x = 1;  // prev = x + ((x − x0)/σ)·(σ_down − σ) + z·σ_up
  st.k.d_div = from;
  st.k.d_mul = down - from;
  st.noise = true;
  st.k.p_noise = up;
  return st;
}

}  // namespace ie::sched::detail
