// DDPMScheduler (diffusers 0.30.3 scheduling_ddpm.py): ancestral sampling with the posterior
// variance; previous timestep = the next entry of the schedule (-1 after the last).
#include <algorithm>
#include <cmath>

#include "ie/error.h"
#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void ddpm_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts) {
  for (double t : spaced_timesteps(c, n)) ts->push_back(float(t));
}

Step ddpm_step(const State& s) {
  const int64_t t = int64_t(s.ts[size_t(s.index)]);
  const int64_t prev_t = s.index + 1 < int64_t(s.ts.size()) ? int64_t(s.ts[size_t(s.index + 1)]) : -1;
  const float a_t = s.acp[size_t(t)], a_prev = prev_t >= 0 ? s.acp[size_t(prev_t)] : 1.0f;
  const float beta_t = 1.0f - a_t, beta_prev = 1.0f - a_prev;
  const float cur_alpha = a_t / a_prev, cur_beta = 1.0f - cur_alpha;
  Step st;
  alpha_prediction(&st.k, s.c.prediction_type, std::sqrt(a_t), std::sqrt(beta_t));
  apply_clip(&st.k, s.c);
  st.k.p_pred = (std::sqrt(a_prev) * cur_beta) / beta_t;
  st.k.p_x = std::sqrt(cur_alpha) * beta_prev / beta_t;
  if (t > 0) {
    float var = std::max(beta_prev / beta_t * cur_beta, 1e-20f);
    const std::string& vt = s.c.variance_type;
    float sd;
    if (vt == "fixed_small") sd = std::sqrt(var);
    else if (vt == "fixed_small_log") sd = std::exp(0.5f * std::log(var));  // used as is (no square root)
    else if (vt == "fixed_large") sd = std::sqrt(cur_beta);
    else fail("DDPMScheduler: variance_type \"", vt, "\" is not supported");
    st.noise = true;
    st.k.p_noise = sd;
  }
  return st;
}

}  // namespace ie::sched::detail
