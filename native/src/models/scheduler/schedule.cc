// The parts every scheduler class shares: config parsing, betas and alphas_cumprod, the numpy/torch
// routines the reference builds schedules with, the step-index bookkeeping, add_noise and
// get_velocity. Float32 quantities are computed with the reference's float32 operations in its
// order (diffusers 0.30.3 on PyTorch's CPU kernels), float64 ones as numpy does.
#include <algorithm>
#include <limits>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "ie/error.h"
#include "ie/ops.h"
#include "ie/scheduler.h"
#include "io/json.h"
#include "models/scheduler/internal.h"

namespace ie::sched {

namespace {

using json::Type;
using json::Value;

struct ClassInfo {
  Kind kind;
  const char* name;
  const char* short_name;
};
const ClassInfo kClasses[] = {
    {Kind::DDPM, "DDPMScheduler", "ddpm"},
    {Kind::DDIM, "DDIMScheduler", "ddim"},
    {Kind::Euler, "EulerDiscreteScheduler", "euler"},
    {Kind::EulerAncestral, "EulerAncestralDiscreteScheduler", "euler-ancestral"},
    {Kind::DPMSolverMultistep, "DPMSolverMultistepScheduler", "dpmpp-2m"},
    {Kind::LCM, "LCMScheduler", "lcm"},
};

const std::set<std::string> kCommon = {"num_train_timesteps", "beta_start",   "beta_end",
                                       "beta_schedule",       "trained_betas", "prediction_type",
                                       "timestep_spacing",    "steps_offset", "rescale_betas_zero_snr"};
const std::set<std::string>& class_keys(Kind k) {
  static const std::map<Kind, std::set<std::string>> keys = {
      {Kind::DDPM, {"variance_type", "clip_sample", "thresholding", "dynamic_thresholding_ratio", "clip_sample_range",
                    "sample_max_value"}},
      {Kind::DDIM, {"clip_sample", "set_alpha_to_one", "thresholding", "dynamic_thresholding_ratio", "clip_sample_range",
                    "sample_max_value"}},
      {Kind::Euler, {"interpolation_type", "use_karras_sigmas", "sigma_min", "sigma_max", "timestep_type",
                     "final_sigmas_type", "use_exponential_sigmas", "use_beta_sigmas"}},
      {Kind::EulerAncestral, {}},
      {Kind::DPMSolverMultistep, {"solver_order", "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
                                  "algorithm_type", "solver_type", "lower_order_final", "euler_at_final",
                                  "use_karras_sigmas", "use_lu_lambdas", "final_sigmas_type", "lambda_min_clipped",
                                  "variance_type", "use_exponential_sigmas", "use_beta_sigmas"}},
      {Kind::LCM, {"original_inference_steps", "clip_sample", "clip_sample_range", "set_alpha_to_one", "thresholding",
                   "dynamic_thresholding_ratio", "sample_max_value", "timestep_scaling"}},
  };
  return keys.at(k);
}
// Keys of other diffusers schedulers (PNDM, UniPC, DEIS, ...): dropped when a config is loaded into
// another class (as diffusers' from_config does), errors otherwise.
const std::set<std::string> kForeign = {"skip_prk_steps", "predict_x0", "solver_p", "disable_corrector",
                                        "use_flow_sigmas", "flow_shift", "s_noise", "rho", "sigma_data"};

const ClassInfo* find_class(const std::string& name) {
  for (const auto& ci : kClasses)
    if (name == ci.name || name == ci.short_name) return &ci;
  return nullptr;
}

std::string class_list() {
  std::string s;
  for (const auto& ci : kClasses) s += std::string(s.empty() ? "" : ", ") + ci.name + " ('" + ci.short_name + "')";
  return s;
}

std::string show(const Value& v) {
  switch (v.type) {
    case Type::String: return "\"" + v.text + "\"";
    case Type::Bool: return v.boolean ? "true" : "false";
    case Type::Number: return v.text;
    case Type::Null: return "null";
    default: return json::type_name(v.type);
  }
}

struct Parser {
  const Value& root;
  std::string src, cls;
  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    fail(src, ": ", cls, " \"", key, "\" ", why);
  }
  const Value* get(const std::string& key) const {
    const Value* v = root.find(key);
    return v && v->type != Type::Null ? v : nullptr;
  }
  double number(const std::string& key, double def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Number) bad(key, "must be a number, got " + show(*v));
    return v->number;
  }
  int64_t integer(const std::string& key, int64_t def, int64_t lo, int64_t hi) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Number || v->number != std::floor(v->number)) bad(key, "must be an integer, got " + show(*v));
    if (v->number < double(lo) || v->number > double(hi))
      bad(key, "= " + v->text + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return int64_t(v->number);
  }
  bool boolean(const std::string& key, bool def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Bool) bad(key, "must be true or false, got " + show(*v));
    return v->boolean;
  }
  std::string choice(const std::string& key, const std::string& def, const std::vector<std::string>& ok,
                     const std::string& unsupported_note = "") const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::String) bad(key, "must be a string, got " + show(*v));
    for (const auto& o : ok)
      if (v->text == o) return o;
    std::string list;
    for (const auto& o : ok) list += (list.empty() ? "\"" : ", \"") + o + "\"";
    bad(key, "= " + show(*v) + " is not supported (supported: " + list + ")" + unsupported_note);
  }
  // A feature we do not implement: the key must be absent, null or hold its "off" value.
  void off(const std::string& key, bool want_false_only = true) const {
    const Value* v = get(key);
    if (!v) return;
    if (want_false_only && v->type == Type::Bool && !v->boolean) return;
    bad(key, "= " + show(*v) + " is not supported by instructedit (only " + (want_false_only ? "false" : "null") +
                 " is)");
  }
};

// Python's json writes -Infinity / Infinity / NaN (diffusers' lambda_min_clipped): map the infinities
// to overflowing literals the strict parser reads as ±inf; NaN stays an error.
std::string python_json(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_str = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (in_str) {
      out += ch;
      if (ch == '\\' && i + 1 < text.size()) out += text[++i];
      else if (ch == '"') in_str = false;
      continue;
    }
    if (ch == '"') in_str = true;
    if (text.compare(i, 9, "-Infinity") == 0) {
      out += "-1e999";
      i += 8;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      out += "1e999";
      i += 7;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string fmt(double v) {
  if (std::isinf(v)) return "null";  // JSON has no infinity (lambda_min_clipped: null = -inf, its default)
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  double back = std::strtod(b, nullptr);
  for (int p = 1; p <= 17; ++p) {  // shortest text that reads back exactly
    char s[40];
    std::snprintf(s, sizeof s, "%.*g", p, v);
    if (std::strtod(s, nullptr) == back) return s;
  }
  return b;
}

}  // namespace

const char* class_name(Kind k) {
  for (const auto& ci : kClasses)
    if (ci.kind == k) return ci.name;
  return "?";
}

Config Config::defaults(const std::string& name) {
  const ClassInfo* ci = find_class(name);
  IE_CHECK(ci, "scheduler: unknown class \"", name, "\" (supported: ", class_list(), ")");
  Config c;
  c.kind = ci->kind;
  switch (c.kind) {
    case Kind::DDPM: c.clip_sample = true; break;
    case Kind::DDIM: c.clip_sample = true; break;
    case Kind::Euler:
    case Kind::EulerAncestral:
    case Kind::DPMSolverMultistep: c.timestep_spacing = Spacing::Linspace; break;
    case Kind::LCM:
      c.beta_start = 0.00085;
      c.beta_end = 0.012;
      c.beta_schedule = "scaled_linear";
      break;
  }
  return c;
}

Config Config::from_json(const std::string& text, const std::string& source, const std::string& class_override) {
  Value root;
  try {
    root = json::parse(python_json(text));
  } catch (const json::ParseError& e) {
    fail(source, ": not valid JSON (", e.what(), " at byte ", e.offset, ")");
  }
  IE_CHECK(root.type == Type::Object, source, ": a scheduler config must be a JSON object, got ", json::type_name(root.type));
  std::string name = class_override;
  if (name.empty()) {
    const Value* cn = root.find("_class_name");
    IE_CHECK(cn && cn->type == Type::String, source, ": no \"_class_name\" (which scheduler?); supported: ", class_list());
    name = cn->text;
  }
  const ClassInfo* ci = find_class(name);
  IE_CHECK(ci, source, ": unknown scheduler class \"", name, "\" (supported: ", class_list(), ")");
  Config c = defaults(name);
  Parser p{root, source, ci->name};

  const auto& own = class_keys(c.kind);
  for (const std::string& k : root.keys) {
    if (!k.empty() && k[0] == '_') continue;
    if (kCommon.count(k) || own.count(k)) continue;
    bool other_class = kForeign.count(k) > 0;
    for (const auto& o : kClasses) other_class = other_class || class_keys(o.kind).count(k);
    // A key of another scheduler class is ignored, as diffusers ignores it: real checkpoints'
    // configs carry them (instruct-pix2pix's Euler-ancestral config has clip_sample,
    // set_alpha_to_one and skip_prk_steps from the PNDM config it was converted from).
    if (other_class) continue;
    fail(source, ": ", ci->name, " has no config key \"", k, "\" (check the spelling)");
  }

  // Shared keys.
  c.num_train_timesteps = p.integer("num_train_timesteps", 1000, 2, 1 << 20);
  c.beta_start = p.number("beta_start", c.beta_start);
  c.beta_end = p.number("beta_end", c.beta_end);
  c.beta_schedule = p.choice("beta_schedule", c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  if (p.get("trained_betas")) p.bad("trained_betas", "(explicit betas) is not supported; use beta_schedule");
  {
    std::string pt = p.choice("prediction_type", "epsilon", {"epsilon", "v_prediction", "sample"});
    c.prediction_type = pt == "epsilon" ? Prediction::Epsilon : pt == "v_prediction" ? Prediction::VPrediction
                                                                                   : Prediction::Sample;
  }
  {
    std::string sp = p.choice("timestep_spacing", c.timestep_spacing == Spacing::Linspace ? "linspace" : "leading",
                              {"leading", "trailing", "linspace"});
    c.timestep_spacing = sp == "leading" ? Spacing::Leading : sp == "trailing" ? Spacing::Trailing : Spacing::Linspace;
  }
  c.steps_offset = p.integer("steps_offset", 0, 0, 1 << 20);
  p.off("rescale_betas_zero_snr");
  if (!(c.beta_start > 0 && c.beta_end > 0 && c.beta_start < 1 && c.beta_end < 1))
    fail(source, ": beta_start (", c.beta_start, ") and beta_end (", c.beta_end, ") must be in (0, 1)");

  // Per class.
  if (own.count("thresholding")) p.off("thresholding");
  if (own.count("clip_sample")) {
    c.clip_sample = p.boolean("clip_sample", c.clip_sample);
    c.clip_sample_range = p.number("clip_sample_range", 1.0);
    if (!(c.clip_sample_range > 0)) p.bad("clip_sample_range", "must be > 0");
  }
  if (own.count("set_alpha_to_one")) c.set_alpha_to_one = p.boolean("set_alpha_to_one", true);
  if (own.count("dynamic_thresholding_ratio")) p.number("dynamic_thresholding_ratio", 0.995);  // thresholding only
  if (own.count("sample_max_value")) p.number("sample_max_value", 1.0);
  if (own.count("use_exponential_sigmas")) {
    p.off("use_exponential_sigmas");
    p.off("use_beta_sigmas");
  }
  switch (c.kind) {
    case Kind::DDPM:
      c.variance_type = p.choice("variance_type", "fixed_small",
                                 {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log"},
                                 " (learned variances need a model with twice the output channels)");
      break;
    case Kind::Euler: {
      p.choice("interpolation_type", "linear", {"linear"});
      c.use_karras_sigmas = p.boolean("use_karras_sigmas", false);
      if (p.get("sigma_min")) c.has_sigma_min = true, c.sigma_min = p.number("sigma_min", 0);
      if (p.get("sigma_max")) c.has_sigma_max = true, c.sigma_max = p.number("sigma_max", 0);
      std::string tt = p.choice("timestep_type", "discrete", {"discrete", "continuous"});
      if (tt == "continuous" && c.prediction_type == Prediction::VPrediction)
        p.bad("timestep_type", "= \"continuous\" with v_prediction (EDM-style timesteps) is not supported");
      c.final_sigmas_type = p.choice("final_sigmas_type", "zero", {"zero", "sigma_min"});
      break;
    }
    case Kind::DPMSolverMultistep: {
      c.solver_order = p.integer("solver_order", 2, 1, 3);
      if (c.solver_order == 3) p.bad("solver_order", "= 3 is not supported (1 or 2)");
      p.choice("algorithm_type", "dpmsolver++", {"dpmsolver++"});
      c.solver_type = p.choice("solver_type", "midpoint", {"midpoint", "heun"});
      c.lower_order_final = p.boolean("lower_order_final", true);
      c.euler_at_final = p.boolean("euler_at_final", false);
      c.use_karras_sigmas = p.boolean("use_karras_sigmas", false);
      p.off("use_lu_lambdas");
      c.final_sigmas_type = p.choice("final_sigmas_type", "zero", {"zero", "sigma_min"});
      c.lambda_min_clipped = p.number("lambda_min_clipped", -std::numeric_limits<double>::infinity());
      if (p.get("variance_type")) p.off("variance_type", false);
      break;
    }
    case Kind::LCM:
      c.original_inference_steps = p.integer("original_inference_steps", 50, 1, c.num_train_timesteps);
      c.timestep_scaling = p.number("timestep_scaling", 10.0);
      break;
    default: break;
  }
  if (c.kind == Kind::EulerAncestral && c.prediction_type == Prediction::Sample)
    p.bad("prediction_type", "= \"sample\" is not implemented for EulerAncestralDiscreteScheduler (as in diffusers)");
  return c;
}

std::string Config::to_json() const {
  std::ostringstream o;
  auto b = [](bool v) { return v ? "true" : "false"; };
  const char* pt = prediction_type == Prediction::Epsilon ? "epsilon" : prediction_type == Prediction::VPrediction
                                                                          ? "v_prediction" : "sample";
  const char* sp = timestep_spacing == Spacing::Leading ? "leading" : timestep_spacing == Spacing::Trailing
                                                                        ? "trailing" : "linspace";
  o << "{\"_class_name\": \"" << class_name(kind) << "\", \"num_train_timesteps\": " << num_train_timesteps
    << ", \"beta_start\": " << fmt(beta_start) << ", \"beta_end\": " << fmt(beta_end) << ", \"beta_schedule\": \""
    << beta_schedule << "\", \"trained_betas\": null, \"prediction_type\": \"" << pt << "\", \"timestep_spacing\": \""
    << sp << "\", \"steps_offset\": " << steps_offset << ", \"rescale_betas_zero_snr\": false";
  const auto& own = class_keys(kind);
  if (own.count("thresholding")) o << ", \"thresholding\": false";
  if (own.count("clip_sample"))
    o << ", \"clip_sample\": " << b(clip_sample) << ", \"clip_sample_range\": " << fmt(clip_sample_range);
  if (own.count("set_alpha_to_one")) o << ", \"set_alpha_to_one\": " << b(set_alpha_to_one);
  switch (kind) {
    case Kind::DDPM: o << ", \"variance_type\": \"" << variance_type << "\""; break;
    case Kind::Euler:
      o << ", \"interpolation_type\": \"linear\", \"use_karras_sigmas\": " << b(use_karras_sigmas)
        << ", \"sigma_min\": " << (has_sigma_min ? fmt(sigma_min) : "null")
        << ", \"sigma_max\": " << (has_sigma_max ? fmt(sigma_max) : "null")
        << ", \"timestep_type\": \"discrete\", \"final_sigmas_type\": \"" << final_sigmas_type << "\"";
      break;
    case Kind::DPMSolverMultistep:
      o << ", \"solver_order\": " << solver_order << ", \"algorithm_type\": \"dpmsolver++\", \"solver_type\": \""
        << solver_type << "\", \"lower_order_final\": " << b(lower_order_final)
        << ", \"euler_at_final\": " << b(euler_at_final) << ", \"use_karras_sigmas\": " << b(use_karras_sigmas)
        << ", \"use_lu_lambdas\": false, \"final_sigmas_type\": \"" << final_sigmas_type
        << "\", \"lambda_min_clipped\": " << fmt(lambda_min_clipped) << ", \"variance_type\": null";
      break;
    case Kind::LCM:
      o << ", \"original_inference_steps\": " << original_inference_steps
        << ", \"timestep_scaling\": " << fmt(timestep_scaling);
      break;
    default: break;
  }
  o << "}";
  return o.str();
}

// ---- numpy / torch routines ---------------------------------------------------------------------

namespace detail {

// ATen's CPU linspace kernel (AVX2 build): vectors of 8 lanes, each from a base value computed with
// a fused multiply-add, from the start up to halfway and from the end after it; the tail past the
// last pair of vectors element by element.
std::vector<float> torch_linspace_f32(double start_d, double end_d, int64_t steps) {
  std::vector<float> out(size_t(steps > 0 ? steps : 0));
  if (steps <= 0) return out;
  const float start = float(start_d), end = float(end_d);
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / float(steps - 1);
  const int64_t halfway = steps / 2, V = 8, nvec = steps / (2 * V) * (2 * V);
  auto at = [&](int64_t idx) {
    return idx < halfway ? std::fma(step, float(idx), start) : std::fma(-step, float(steps - idx - 1), end);
  };
  int64_t idx = 0;
  for (; idx < nvec; idx += V) {
    float base = at(idx);
    for (int64_t i = 0; i < V; ++i) out[size_t(idx + i)] = std::fma(float(i), step, base);
  }
  for (; idx < steps; ++idx) out[size_t(idx)] = at(idx);
  return out;
}

std::vector<double> np_linspace(double start, double stop, int64_t num) {
  std::vector<double> y(static_cast<size_t>(num));
  if (num <= 0) return y;
  const int64_t div = num - 1;
  const double delta = stop - start, step = div > 0 ? delta / double(div) : 0;
  for (int64_t i = 0; i < num; ++i) y[size_t(i)] = (step == 0 && div > 0 ? double(i) / div * delta : double(i) * step) + start;
  if (num > 1) y[size_t(num - 1)] = stop;
  return y;
}

std::vector<double> np_arange(double start, double stop, double step) {
  double len = std::ceil((stop - start) / step);
  std::vector<double> y;
  if (!(len > 0)) return y;
  const double delta = (start + step) - start;
  for (int64_t i = 0; i < int64_t(len); ++i) y.push_back(start + double(i) * delta);
  return y;
}

double np_interp_index(double x, const std::vector<float>& fp) {
  const int64_t n = int64_t(fp.size());
  if (x <= 0) return fp[0];
  if (x >= double(n - 1)) return fp[size_t(n - 1)];
  const int64_t j = int64_t(std::floor(x));
  if (double(j) == x) return fp[size_t(j)];
  const double slope = (double(fp[size_t(j + 1)]) - double(fp[size_t(j)])) / 1.0;
  return slope * (x - double(j)) + double(fp[size_t(j)]);
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n) {
  const double rho = 7.0;
  std::vector<double> ramp = np_linspace(0, 1, n), s(static_cast<size_t>(n));
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  for (int64_t i = 0; i < n; ++i) s[size_t(i)] = std::pow(max_inv + ramp[size_t(i)] * (min_inv - max_inv), rho);
  return s;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double ls = std::log(std::max(sigma, 1e-10));
  const int64_t n = int64_t(log_sigmas.size());
  // The last index with ls >= log_sigmas[j] (0 if none), at most n - 2.
  int64_t low = 0;
  for (int64_t j = 0; j < n; ++j)
    if (ls - double(log_sigmas[size_t(j)]) >= 0) low = j;
  low = std::min(low, n - 2);
  const float lo = log_sigmas[size_t(low)], hi = log_sigmas[size_t(low + 1)];
  double w = (double(lo) - ls) / double(lo - hi);  // numpy: float32 - float32 stays float32
  w = std::min(1.0, std::max(0.0, w));
  return (1 - w) * double(low) + w * double(low + 1);
}

std::vector<double> spaced_timesteps(const Config& c, int64_t n) {
  const int64_t N = c.num_train_timesteps;
  std::vector<double> t;
  switch (c.timestep_spacing) {
    case Spacing::Linspace: {
      t = np_linspace(0, double(N - 1), n);
      if (c.kind != Kind::Euler && c.kind != Kind::EulerAncestral)
        for (double& v : t) v = std::nearbyint(v);  // numpy rounds half to even
      std::reverse(t.begin(), t.end());
      break;
    }
    case Spacing::Leading: {
      const int64_t ratio = N / n;
      for (int64_t i = n - 1; i >= 0; --i) t.push_back(double(i * ratio + c.steps_offset));
      break;
    }
    case Spacing::Trailing: {
      t = np_arange(double(N), 0, -double(N) / double(n));
      for (double& v : t) v = std::nearbyint(v) - 1;
      break;
    }
  }
  return t;
}

void alpha_prediction(SchedStepCoeffs* k, Prediction p, float sqrt_a, float sqrt_b) {
  switch (p) {
    case Prediction::Epsilon: k->x0_x = 1, k->x0_e = -sqrt_b, k->x0_div = sqrt_a; break;
    case Prediction::VPrediction: k->x0_x = sqrt_a, k->x0_e = -sqrt_b, k->x0_div = 1; break;
    case Prediction::Sample: k->x0_x = 0, k->x0_e = 1, k->x0_div = 1; break;
  }
}

void apply_clip(SchedStepCoeffs* k, const Config& c) {
  if (!c.clip_sample) return;
  k->clip_lo = -float(c.clip_sample_range);
  k->clip_hi = float(c.clip_sample_range);
}

float f32pow2(float x) { return x * x; }

}  // namespace detail

// ---- Scheduler -----------------------------------------------------------------------------------

using namespace detail;

Scheduler::Scheduler(const Config& config, uint64_t seed) : c_(config), seed_(seed) {
  const int64_t N = c_.num_train_timesteps;
  if (c_.beta_schedule == "linear") {
    betas_ = torch_linspace_f32(c_.beta_start, c_.beta_end, N);
  } else if (c_.beta_schedule == "scaled_linear") {
    betas_ = torch_linspace_f32(std::sqrt(c_.beta_start), std::sqrt(c_.beta_end), N);
    for (float& b : betas_) b = b * b;
  } else {  // squaredcos_cap_v2: betas_for_alpha_bar (cosine), in float64, then float32
    auto abar = [](double t) {
      double v = std::cos((t + 0.008) / 1.008 * M_PI / 2);
      return v * v;
    };
    for (int64_t i = 0; i < N; ++i) {
      double t1 = double(i) / double(N), t2 = double(i + 1) / double(N);
      betas_.push_back(float(std::min(1 - abar(t2) / abar(t1), 0.999)));
    }
  }
  // torch.cumprod on the CPU accumulates float32 in double and rounds each output.
  acp_.resize(betas_.size());
  double acc = 1;
  for (size_t i = 0; i < betas_.size(); ++i) {
    acc *= double(1.0f - betas_[i]);
    acp_[i] = float(acc);
  }
  train_sigmas_.resize(acp_.size());
  for (size_t i = 0; i < acp_.size(); ++i) train_sigmas_[i] = std::sqrt((1.0f - acp_[i]) / acp_[i]);
  final_acp_ = (c_.kind == Kind::DDIM || c_.kind == Kind::LCM) && !c_.set_alpha_to_one ? acp_[0] : 1.0f;
}

void Scheduler::set_timesteps(int64_t n) {
  const char* op = "scheduler.setTimesteps";
  IE_CHECK(n >= 1 && n <= c_.num_train_timesteps, op, ": numInferenceSteps must be in [1, ",
           c_.num_train_timesteps, "] (num_train_timesteps), got ", n);
  std::vector<float> ts, sig;
  switch (c_.kind) {
    case Kind::DDPM: ddpm_set_timesteps(c_, n, &ts); break;
    case Kind::DDIM: ddim_set_timesteps(c_, n, &ts); break;
    case Kind::Euler: euler_set_timesteps(c_, n, train_sigmas_, &ts, &sig); break;
    case Kind::EulerAncestral: euler_ancestral_set_timesteps(c_, n, train_sigmas_, &ts, &sig); break;
    case Kind::DPMSolverMultistep: dpm_set_timesteps(c_, n, acp_, train_sigmas_, &ts, &sig); break;
    case Kind::LCM: lcm_set_timesteps(c_, n, &ts); break;
  }
  for (float t : ts)
    IE_CHECK(t >= 0 && t <= float(c_.num_train_timesteps - 1), op, ": ", n, " steps with timestep_spacing and steps_offset ",
             c_.steps_offset, " give timestep ", t, ", outside [0, ", c_.num_train_timesteps - 1, "]");
  ts_ = std::move(ts);
  sig_ = std::move(sig);
  n_ = int64_t(ts_.size());
  reset();
}

void Scheduler::reset() {
  index_ = -1;
  hist_ = Tensor();
  lower_order_nums_ = 0;
}

float Scheduler::init_noise_sigma() const {
  if (c_.kind != Kind::Euler && c_.kind != Kind::EulerAncestral) return 1.0f;
  float mx = 0;
  if (sig_.empty())
    for (float s : train_sigmas_) mx = std::max(mx, s);
  else
    for (float s : sig_) mx = std::max(mx, s);
  if (c_.timestep_spacing == Spacing::Linspace || c_.timestep_spacing == Spacing::Trailing) return mx;
  return std::sqrt(mx * mx + 1.0f);
}

// diffusers' index_for_timestep: the first match, or the second when t occurs more than once. The
// step after the last one is found without a search.
int64_t Scheduler::index_for(double t, const char* op) const {
  IE_CHECK(n_ > 0, op, ": call setTimesteps(numInferenceSteps) first");
  IE_CHECK(std::isfinite(t), op, ": timestep must be a finite number, got ", t);
  const float tf = float(t);
  if (index_ >= 0 && index_ < n_ && ts_[size_t(index_)] == tf) return index_;
  int64_t first = -1, count = 0, second = -1;
  for (int64_t i = 0; i < n_; ++i)
    if (ts_[size_t(i)] == tf) {
      if (count == 0) first = i;
      if (count == 1) second = i;
      ++count;
    }
  if (count == 0) {
    std::ostringstream s;
    s << op << ": timestep " << t << " is not in the schedule (" << n_ << " steps: " << ts_[0];
    if (n_ > 1) s << ", " << ts_[1];
    if (n_ > 2) s << ", ..., " << ts_[size_t(n_ - 1)];
    s << "); pass the values of timesteps";
    throw Error(s.str());
  }
  return count > 1 ? second : first;
}

Tensor Scheduler::scale_model_input(const Tensor& sample, double t) const {
  const char* op = "scheduler.scaleModelInput";
  IE_CHECK(sample.defined(), op, ": sample is not a tensor (undefined or disposed)");
  int64_t i = index_for(t, op);
  if (c_.kind != Kind::Euler && c_.kind != Kind::EulerAncestral) {
    IE_CHECK(sample.dtype() == DType::F32, op, ": sample must be float32, got ", sample.desc());
    return sample.reshape(sample.shape());  // a view, as diffusers returns the input
  }
  const float s = sig_[size_t(i)];
  return ops::scheduler_scale(sample, std::sqrt(s * s + 1.0f));
}

StepOutput Scheduler::step(const Tensor& model_output, double t, const Tensor& sample, const StepOptions& o) {
  const char* op = "scheduler.step";
  IE_CHECK(sample.defined() && model_output.defined(), op, ": sample and modelOutput must be tensors");
  const int64_t i = index_for(t, op);
  if (o.noise)  // checked even where this step draws no noise (a wrong tensor is a caller's bug)
    IE_CHECK(o.noise->defined() && o.noise->shape() == sample.shape(), op, ": noise must have the shape of sample ",
             shape_str(sample.shape()), ", got ", o.noise->defined() ? o.noise->desc() : std::string("nothing"));
  IE_CHECK(c_.kind == Kind::DDIM || o.eta == 0, op, ": eta applies to DDIMScheduler only");
  IE_CHECK(std::isfinite(o.eta) && o.eta >= 0, op, ": eta must be >= 0, got ", o.eta);
  if (c_.kind == Kind::DPMSolverMultistep) {
    // A jump (not the step after the last one) starts the multistep history afresh.
    if (i != index_) lower_order_nums_ = 0;
    if (hist_.defined() && hist_.shape() != sample.shape()) lower_order_nums_ = 0;
  }
  State s{c_, acp_, final_acp_, ts_, sig_, i, lower_order_nums_, o.eta};
  Step st;
  switch (c_.kind) {
    case Kind::DDPM: st = ddpm_step(s); break;
    case Kind::DDIM: st = ddim_step(s); break;
    case Kind::Euler: st = euler_step(s); break;
    case Kind::EulerAncestral: st = euler_ancestral_step(s); break;
    case Kind::DPMSolverMultistep: st = dpm_step(s); break;
    case Kind::LCM: st = lcm_step(s); break;
  }
  const uint64_t numel = uint64_t(sample.numel()), stride = numel + (numel & 1);
  const uint64_t seed = o.has_seed ? o.seed : seed_;
  ops::SchedulerStepOut r = ops::scheduler_step(model_output, sample, st.k, st.history ? &hist_ : nullptr,
                                                st.noise ? o.noise : nullptr, seed, uint64_t(i) * stride);
  if (c_.kind == Kind::DPMSolverMultistep) {
    hist_ = r.pred_original;
    if (lower_order_nums_ < c_.solver_order) ++lower_order_nums_;
  }
  index_ = i + 1;
  return {r.prev_sample, r.pred_original};
}

std::vector<float> Scheduler::coeff_rows(const std::vector<double>& t, int64_t batch, bool velocity, const char* op,
                                         std::vector<float>* cb) const {
  IE_CHECK(!t.empty() && (int64_t(t.size()) == batch || t.size() == 1), op, ": ", t.size(),
           " timesteps for a batch of ", batch, " (give one per sample, or one for all)");
  const bool by_sigma = !velocity && (c_.kind == Kind::Euler || c_.kind == Kind::EulerAncestral ||
                                      c_.kind == Kind::DPMSolverMultistep);
  std::vector<float> ca(static_cast<size_t>(batch));
  cb->assign(size_t(batch), 0);
  for (int64_t b = 0; b < batch; ++b) {
    const double tb = t[t.size() == 1 ? 0 : size_t(b)];
    if (by_sigma) {  // diffusers: the schedule's sigma of t
      const float s = sig_[size_t(index_for(tb, op))];
      if (c_.kind == Kind::DPMSolverMultistep) {
        const float a = 1.0f / std::sqrt(s * s + 1.0f);
        ca[size_t(b)] = a, (*cb)[size_t(b)] = s * a;
      } else {
        ca[size_t(b)] = 1.0f, (*cb)[size_t(b)] = s;
      }
      continue;
    }
    IE_CHECK(tb == std::floor(tb) && tb >= 0 && tb < double(c_.num_train_timesteps), op, ": timestep ", tb,
             " must be an integer in [0, ", c_.num_train_timesteps, ")");
    const float a = acp_[size_t(tb)];
    ca[size_t(b)] = std::sqrt(a);
    (*cb)[size_t(b)] = velocity ? -std::sqrt(1.0f - a) : std::sqrt(1.0f - a);
  }
  return ca;
}

Tensor Scheduler::add_noise(const Tensor& original, const Tensor& noise, const std::vector<double>& t) const {
  const char* op = "scheduler.addNoise";
  IE_CHECK(original.defined() && noise.defined(), op, ": original and noise must be tensors");
  IE_CHECK(original.ndim() >= 1, op, ": original must have a batch dimension, got ", original.desc());
  std::vector<float> cb, ca = coeff_rows(t, original.size(0), false, op, &cb);
  return ops::scheduler_mix_rows(original, noise, ca, cb);
}

Tensor Scheduler::get_velocity(const Tensor& sample, const Tensor& noise, const std::vector<double>& t) const {
  const char* op = "scheduler.getVelocity";
  IE_CHECK(sample.defined() && noise.defined(), op, ": sample and noise must be tensors");
  IE_CHECK(sample.ndim() >= 1, op, ": sample must have a batch dimension, got ", sample.desc());
  std::vector<float> cb, ca = coeff_rows(t, sample.size(0), true, op, &cb);
  return ops::scheduler_mix_rows(noise, sample, ca, cb);  // √ᾱ·ε − √(1−ᾱ)·x0
}

}  // namespace ie::sched
