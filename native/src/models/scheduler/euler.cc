// EulerDiscreteScheduler (diffusers 0.30.3 scheduling_euler_discrete.py), s_churn = 0: one Euler
// step of the probability-flow ODE in σ. Karras sigmas optional.
#include <cmath>

#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void euler_set_timesteps(const Config& c, int64_t n, const std::vector<float>& train_sigmas, std::vector<float>* ts,
                         std::vector<float>* sig) {
  std::vector<double> t = spaced_timesteps(c, n), s;
  for (double& v : t) v = double(float(v));  // the reference's timesteps are float32
  for (double v : t) s.push_back(np_interp_index(v, train_sigmas));
  if (c.use_karras_sigmas) {
    std::vector<float> log_sigmas;
    for (float v : train_sigmas) log_sigmas.push_back(std::log(v));
    s = karras_sigmas(c.has_sigma_min ? c.sigma_min : s.back(), c.has_sigma_max ? c.sigma_max : s.front(), n);
    for (size_t i = 0; i < s.size(); ++i) t[i] = sigma_to_t(s[i], log_sigmas);
  }
  for (double v : t) ts->push_back(float(v));
  for (double v : s) sig->push_back(float(v));
  sig->push_back(c.final_sigmas_type == "zero" ? 0.0f : train_sigmas[0]);
}

// x0 of the Euler family for σ: ε: x − σ·e; v: e·(−σ/√(σ²+1)) + x/(σ²+1); sample: e.
void sigma_prediction(SchedStepCoeffs* k, Prediction p, float sigma) {
  switch (p) {
    case Prediction::Epsilon: k->x0_x = 1, k->x0_e = -sigma; break;
    case Prediction::VPrediction:
      k->x0_x = 1.0f / (sigma * sigma + 1.0f), k->x0_e = -sigma / std::sqrt(sigma * sigma + 1.0f);
      break;
    case Prediction::Sample: k->x0_x = 0, k->x0_e = 1; break;
  }
}

Step euler_step(const State& s) {
  const float sigma = s.sig[size_t(s.index)];
  Step st;
  sigma_prediction(&st.k, s.c.prediction_type, sigma);
  st.k.p_x = 1;  // prev = x + ((x − x0)/σ)·(σ_next − σ)
  st.k.d_div = sigma;
  st.k.d_mul = s.sig[size_t(s.index + 1)] - sigma;
  return st;
}

}  // namespace ie::sched::detail
