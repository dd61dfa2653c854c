// DDIMScheduler (diffusers 0.30.3 scheduling_ddim.py): prev_t = t − num_train_timesteps // n,
// σ_t = eta·√variance; eta > 0 adds noise.
#include <cmath>

#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void ddim_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts) {
  for (double t : spaced_timesteps(c, n)) ts->push_back(float(t));
}

Step ddim_step(const State& s) {
  const int64_t n = int64_t(s.ts.size());
  const int64_t t = int64_t(s.ts[size_t(s.index)]), prev_t = t - s.c.num_train_timesteps / n;
  const float a_t = s.acp[size_t(t)], a_prev = prev_t >= 0 ? s.acp[size_t(prev_t)] : s.final_acp;
  const float beta_t = 1.0f - a_t, beta_prev = 1.0f - a_prev;
  const float sa = std::sqrt(a_t), sb = std::sqrt(beta_t);
  Step st;
  alpha_prediction(&st.k, s.c.prediction_type, sa, sb);
  apply_clip(&st.k, s.c);
  const float variance = (beta_prev / beta_t) * (1.0f - a_t / a_prev);
  const float std_dev = float(s.eta) * std::sqrt(variance);
  const float dir = std::sqrt(1.0f - a_prev - std_dev * std_dev);
  st.k.p_pred = std::sqrt(a_prev);
  // prev = √ᾱ_prev·x0 + dir·ε̂, with ε̂ from the model output before clipping.
  switch (s.c.prediction_type) {
    case Prediction::Epsilon: st.k.p_e = dir; break;
    case Prediction::VPrediction: st.k.p_e = dir * sa, st.k.p_x = dir * sb; break;
    case Prediction::Sample: st.k.p_x = dir / sb, st.k.p_e = -dir * sa / sb; break;
  }
  if (s.eta > 0) {
    st.noise = true;
    st.k.p_noise = std_dev;
  }
  return st;
}

}  // namespace ie::sched::detail
