// DPMSolverMultistepScheduler (diffusers 0.30.3 scheduling_dpmsolver_multistep.py) with
// algorithm_type "dpmsolver++": DPM-Solver++ (2M) in the data-prediction form. The first step (and
// the last, with final_sigmas_type "zero" or lower_order_final for < 15 steps) is first order; the
// others use the previous step's x0, which the Scheduler keeps.
#include <algorithm>
#include <cmath>

#include "models/scheduler/internal.h"

namespace ie::sched::detail {

void dpm_set_timesteps(const Config& c, int64_t n, const std::vector<float>& acp, const std::vector<float>& train_sigmas,
                       std::vector<float>* ts, std::vector<float>* sig) {
  const int64_t N = c.num_train_timesteps;
  // λ(t) = log α_t − log σ_t is decreasing; timesteps stop where it drops below lambda_min_clipped.
  int64_t clipped = 0;
  for (int64_t j = 0; j < N; ++j) {
    const float lam = std::log(std::sqrt(acp[size_t(j)])) - std::log(std::sqrt(1.0f - acp[size_t(j)]));
    if (double(lam) < c.lambda_min_clipped) ++clipped;  // searchsorted(flip(λ), λ_min) on the ascending flip
  }
  const int64_t last = N - clipped;
  std::vector<double> t;
  switch (c.timestep_spacing) {
    case Spacing::Linspace: {
      std::vector<double> l = np_linspace(0, double(last - 1), n + 1);
      for (int64_t i = n; i >= 1; --i) t.push_back(std::nearbyint(l[size_t(i)]));
      break;
    }
    case Spacing::Leading: {
      const int64_t ratio = last / (n + 1);
      for (int64_t i = n; i >= 1; --i) t.push_back(double(i * ratio + c.steps_offset));
      break;
    }
    case Spacing::Trailing:
      for (double v : np_arange(double(last), 0, -double(N) / double(n))) t.push_back(std::nearbyint(v) - 1);
      break;
  }
  std::vector<double> s;
  if (c.use_karras_sigmas) {
    std::vector<float> log_sigmas;
    for (float v : train_sigmas) log_sigmas.push_back(std::log(v));
    s = karras_sigmas(double(train_sigmas.front()), double(train_sigmas.back()), n);
    t.clear();
    for (double v : s) t.push_back(std::nearbyint(sigma_to_t(v, log_sigmas)));
  } else {
    for (double v : t) s.push_back(np_interp_index(v, train_sigmas));
  }
  for (double v : t) ts->push_back(float(int64_t(v)));
  for (double v : s) sig->push_back(float(v));
  sig->push_back(c.final_sigmas_type == "zero" ? 0.0f : train_sigmas[0]);
}

namespace {
struct AlphaSigma {
  float alpha, sigma, lambda;
};
AlphaSigma alpha_sigma(float sigma) {
  const float a = 1.0f / std::sqrt(sigma * sigma + 1.0f), s = sigma * a;
  return {a, s, std::log(a) - std::log(s)};
}
}  // namespace

Step dpm_step(const State& s) {
  const int64_t n = int64_t(s.ts.size()), i = s.index;
  const bool lower_order_final =
      i == n - 1 && (s.c.euler_at_final || (s.c.lower_order_final && n < 15) || s.c.final_sigmas_type == "zero");
  Step st;
  const AlphaSigma s0 = alpha_sigma(s.sig[size_t(i)]), tt = alpha_sigma(s.sig[size_t(i + 1)]);
  switch (s.c.prediction_type) {  // x0 (convert_model_output)
    case Prediction::Epsilon: st.k.x0_x = 1, st.k.x0_e = -s0.sigma, st.k.x0_div = s0.alpha; break;
    case Prediction::VPrediction: st.k.x0_x = s0.alpha, st.k.x0_e = -s0.sigma; break;
    case Prediction::Sample: st.k.x0_x = 0, st.k.x0_e = 1; break;
  }
  const float h = tt.lambda - s0.lambda;
  const float A = tt.alpha * (std::exp(-h) - 1.0f);
  st.k.p_x = tt.sigma / s0.sigma;
  st.k.p_pred = -A;
  if (s.c.solver_order == 1 || s.lower_order_nums < 1 || lower_order_final || i < 1) return st;
  // Second order: D1 = (1/r0)·(m0 − m1), r0 = h_0/h.
  const AlphaSigma s1 = alpha_sigma(s.sig[size_t(i - 1)]);
  const float h0 = s0.lambda - s1.lambda, r0 = h0 / h;
  st.history = true;
  st.k.h_in = 1.0f / r0;
  st.k.h_out = s.c.solver_type == "midpoint" ? -(0.5f * A) : tt.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f);
  return st;
}

}  // namespace ie::sched::detail
