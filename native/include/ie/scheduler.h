// Noise schedulers of the diffusers family (DDPM, DDIM, Euler, Euler ancestral, DPM-Solver++ 2M,
// LCM), computing what diffusers 0.30.3 computes for the same scheduler_config.json
// (../shared/parity/SPEC.md §7): the schedule (betas, alphas_cumprod, timesteps, sigmas) bit for bit
// where the reference computes it in float32, and each step as one fused kernel
// (ops::scheduler_step) whose scalar coefficients are computed here, on the host, in the
// reference's float32 arithmetic.
//
// A Scheduler holds a config and the state of one denoising loop (timesteps, step index, the
// DPM-Solver history): clone() gives an independent copy, so one config can serve concurrent edits.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ie/tensor.h"

namespace ie::sched {

enum class Kind { DDPM, DDIM, Euler, EulerAncestral, DPMSolverMultistep, LCM };
enum class Prediction { Epsilon, VPrediction, Sample };
enum class Spacing { Leading, Trailing, Linspace };

// The resolved configuration (diffusers' defaults for the class filled in).
struct Config {
  Kind kind = Kind::EulerAncestral;
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001, beta_end = 0.02;
  std::string beta_schedule = "linear";  // linear, scaled_linear, squaredcos_cap_v2
  Prediction prediction_type = Prediction::Epsilon;
  Spacing timestep_spacing = Spacing::Leading;
  int64_t steps_offset = 0;
  // DDPM / DDIM / LCM
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  std::string variance_type = "fixed_small";  // DDPM: fixed_small, fixed_small_log, fixed_large, fixed_large_log
  bool set_alpha_to_one = true;                // DDIM, LCM
  // Euler / DPM-Solver
  bool use_karras_sigmas = false;
  bool has_sigma_min = false, has_sigma_max = false;  // Euler only
  double sigma_min = 0, sigma_max = 0;
  std::string final_sigmas_type = "zero";  // zero, sigma_min
  // DPM-Solver++
  int64_t solver_order = 2;
  std::string solver_type = "midpoint";  // midpoint, heun
  bool lower_order_final = true, euler_at_final = false;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  // LCM
  int64_t original_inference_steps = 50;
  double timestep_scaling = 10.0;

  // Parses a diffusers scheduler_config.json; `_class_name` picks the class unless `class_name` is
  // given (then the file may be another scheduler's config, as diffusers' from_config allows: keys
  // of other known scheduler classes are dropped). Unknown keys, unknown classes and values this
  // implementation does not support are ie::Error naming the key and the value.
  static Config from_json(const std::string& text, const std::string& source = "scheduler_config.json",
                          const std::string& class_name = "");
  // The defaults of a class ("EulerAncestralDiscreteScheduler", or our short name "euler-ancestral").
  static Config defaults(const std::string& class_name);
  // diffusers-style JSON of every field that applies to the class (with `_class_name`).
  std::string to_json() const;
};

const char* class_name(Kind k);  // "DDPMScheduler", ...

struct StepOptions {
  const Tensor* noise = nullptr;  // explicit noise for the step (wins over the seed)
  bool has_seed = false;          // else the scheduler's seed
  uint64_t seed = 0;
  double eta = 0;  // DDIM only
};

struct StepOutput {
  Tensor prev_sample, pred_original_sample;  // LCM: pred_original_sample is the denoised sample
};

class Scheduler {
 public:
  explicit Scheduler(const Config& config, uint64_t seed = 0);

  const Config& config() const { return c_; }
  Kind kind() const { return c_.kind; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return acp_; }

  // Sets the inference schedule (and resets the loop state). Throws for n < 1 or beyond what the
  // class allows (num_train_timesteps; LCM: original_inference_steps).
  void set_timesteps(int64_t n);
  int64_t num_inference_steps() const { return n_; }  // 0 before set_timesteps
  const std::vector<float>& timesteps() const { return ts_; }  // integral values except for Euler*
  bool integer_timesteps() const { return c_.kind != Kind::Euler && c_.kind != Kind::EulerAncestral; }
  const std::vector<float>& sigmas() const { return sig_; }  // Euler* and DPM: n + 1 values; else empty
  float init_noise_sigma() const;
  int order() const { return 1; }
  // Index of the next step (-1 before the first); the position in timesteps() of the last step + 1.
  int64_t step_index() const { return index_; }
  uint64_t seed() const { return seed_; }
  void set_seed(uint64_t s) { seed_ = s; }

  // Euler*: x / √(σ² + 1) for the σ of timestep t; others: x itself (a view).
  Tensor scale_model_input(const Tensor& sample, double t) const;
  // One step from t. t must be in timesteps(). Noise (DDPM, Euler ancestral, LCM, DDIM with eta > 0):
  // options.noise, else randn(seed, offset = i·⌈numel⌉₂) for step index i (⌈⌉₂: rounded up to even),
  // seed = options.seed or the scheduler's: the same seed gives the same bytes.
  StepOutput step(const Tensor& model_output, double t, const Tensor& sample, const StepOptions& options = {});
  // Training: noisy = √ᾱ_t·x0 + √(1−ᾱ_t)·ε per sample (t[i] integral in [0, num_train_timesteps)); for
  // the Euler family and DPM-Solver (as diffusers) the schedule's σ of t: x0 + σ·ε, resp. α_σ·x0 + σ_σ·ε.
  Tensor add_noise(const Tensor& original, const Tensor& noise, const std::vector<double>& timesteps) const;
  // v target: √ᾱ_t·ε − √(1−ᾱ_t)·x0 per sample.
  Tensor get_velocity(const Tensor& sample, const Tensor& noise, const std::vector<double>& timesteps) const;
  // Back to the start of the schedule (step index, history); the timesteps stay.
  void reset();

 private:
  int64_t index_for(double t, const char* op) const;
  std::vector<float> coeff_rows(const std::vector<double>& t, int64_t batch, bool velocity, const char* op,
                                std::vector<float>* cb) const;

  Config c_;
  uint64_t seed_ = 0;
  std::vector<float> betas_, acp_, train_sigmas_;
  float final_acp_ = 1;  // alphas_cumprod before t = 0 (set_alpha_to_one)
  int64_t n_ = 0;
  std::vector<float> ts_, sig_;
  int64_t index_ = -1;
  // DPM-Solver++: the last prediction and how many lower-order steps were taken.
  Tensor hist_;
  int64_t lower_order_nums_ = 0;
};

// Schedule pieces, exposed for tests.
namespace detail {
// torch.linspace(start, end, steps, dtype=float32) on the CPU, value for value.
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);
}  // namespace detail

}  // namespace ie::sched
