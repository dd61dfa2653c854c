// LCMScheduler (diffusers 0.30.3 scheduling_lcm.py): timesteps picked from the distillation
// schedule of original_inference_steps; each step maps to the consistency boundary condition
// (c_skip, c_out) and re-noises to the next timestep (not after the last).
#include <cmath>

#include "ie/error.h"
#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void lcm_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts) {
  const int64_t orig = c.original_inference_steps;
  IE_CHECK(n <= orig, "scheduler.setTimesteps: LCMScheduler takes at most original_inference_steps = ", orig,
           " steps, got ", n);
  const int64_t k = c.num_train_timesteps / orig;
  // lcm_origin_timesteps reversed: orig·k − 1, ..., k − 1; indices floor(linspace(0, orig, n, endpoint=False)).
  const double step = double(orig) / double(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t idx = int64_t(std::floor(double(i) * step));
    ts->push_back(float((orig - idx) * k - 1));
  }
}

Step lcm_step(const State& s) {
  const int64_t n = int64_t(s.ts.size()), i = s.index;
  const int64_t t = int64_t(s.ts[size_t(i)]);
  const int64_t prev_t = i + 1 < n ? int64_t(s.ts[size_t(i + 1)]) : t;
  const float a_t = s.acp[size_t(t)], a_prev = prev_t >= 0 ? s.acp[size_t(prev_t)] : s.final_acp;
  const float beta_t = 1.0f - a_t, beta_prev = 1.0f - a_prev;
  const float scaled = float(t) * float(s.c.timestep_scaling);
  Step st;
  alpha_prediction(&st.k, s.c.prediction_type, std::sqrt(a_t), std::sqrt(beta_t));
  apply_clip(&st.k, s.c);
  st.k.out_x0 = scaled / std::sqrt(scaled * scaled + 0.25f);  // c_out, σ_data = 0.5
  st.k.out_x = 0.25f / (scaled * scaled + 0.25f);             // c_skip
  if (i != n - 1) {
    st.k.p_pred = std::sqrt(a_prev);
    st.noise = true;
    st.k.p_noise = std::sqrt(beta_prev);
  } else {
    st.k.p_pred = 1;
  }
  return st;
}

}  // namespace ie::sched::detail
