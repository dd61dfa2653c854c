// Shared pieces of the scheduler classes: the numpy/torch routines the reference uses to build a
// schedule (reproduced value for value) and each class's timesteps and step coefficients.
#pragma once
#include <cstdint>
#include <vector>

#include "ie/scheduler.h"
#include "ie/step_coeffs.h"

namespace ie::sched::detail {

// numpy.linspace(start, stop, num) in float64 (endpoint included).
std::vector<double> np_linspace(double start, double stop, int64_t num);
// numpy.arange(start, stop, step) for a float step.
std::vector<double> np_arange(double start, double stop, double step);
// numpy.interp(x, arange(fp.size()), fp) in float64.
double np_interp_index(double x, const std::vector<float>& fp);
// Karras et al. (2022) sigmas, rho = 7, from sigma_max down to sigma_min (float64).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n);
// diffusers' _sigma_to_t: fractional training timestep of sigma, from log(train sigmas) (float32).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
// The leading / trailing / linspace timesteps of DDPM, DDIM and the Euler family (float64, integral
// except for Euler linspace).
std::vector<double> spaced_timesteps(const Config& c, int64_t n);

// What a class's step needs of the scheduler.
struct State {
  const Config& c;
  const std::vector<float>& acp;
  float final_acp;
  const std::vector<float>& ts;
  const std::vector<float>& sig;
  int64_t index;             // the step's position in ts
  int64_t lower_order_nums;  // DPM-Solver++
  double eta;                // DDIM
};
struct Step {
  SchedStepCoeffs k;
  bool noise = false;         // draws noise
  bool history = false;       // uses the previous prediction (DPM-Solver++ 2nd order)
};

// Per class (one file each): timesteps (and sigmas) for n steps, and the step coefficients.
void ddpm_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts);
Step ddpm_step(const State& s);
void ddim_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts);
Step ddim_step(const State& s);
void euler_set_timesteps(const Config& c, int64_t n, const std::vector<float>& train_sigmas, std::vector<float>* ts,
                         std::vector<float>* sig);
Step euler_step(const State& s);
void euler_ancestral_set_timesteps(const Config& c, int64_t n, const std::vector<float>& train_sigmas,
                                   std::vector<float>* ts, std::vector<float>* sig);
Step euler_ancestral_step(const State& s);
void dpm_set_timesteps(const Config& c, int64_t n, const std::vector<float>& acp, const std::vector<float>& train_sigmas,
                       std::vector<float>* ts, std::vector<float>* sig);
Step dpm_step(const State& s);
void lcm_set_timesteps(const Config& c, int64_t n, std::vector<float>* ts);
Step lcm_step(const State& s);

// x0 = (x0_x·x + x0_e·e) for the prediction type, with √ᾱ and √(1−ᾱ) of the step (DDPM, DDIM, LCM).
void alpha_prediction(SchedStepCoeffs* k, Prediction p, float sqrt_a, float sqrt_b);
// clip_sample -> clamp range.
void apply_clip(SchedStepCoeffs* k, const Config& c);
float f32pow2(float x);

}  // namespace ie::sched::detail
