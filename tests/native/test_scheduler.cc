// Schedulers: parity with diffusers 0.30.3 (../shared/parity/schedulers: schedules, whole step loops
// fed with the recorded model outputs and noises, add_noise), the fused step kernel against a
// float64 reference for every update rule on every CPU path, Philox noise, config and call errors.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "cpu/scheduler_step.h"
#include "harness.h"
#include "fixtures.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/parallel.h"
#include "ie/safetensors.h"
#include "ie/scheduler.h"
#include "reference/scheduler.h"
#include "io/json.h"
#include "models/scheduler/internal.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
namespace sc = ie::sched;

using iet::exists;
using iet::host;
using iet::read_text;
using iet::shared_dir;

using iet::rel_l2;
// Worst elementwise relative difference (for schedules: short vectors of very different magnitudes).
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - b[i]), s = std::fabs(double(b[i]));
    w = std::max(w, s > 0 ? d / s : d);
  }
  return w;
}
Tensor host_tensor(const std::vector<float>& v, const ie::Shape& s) {
  return ops::from_host(v.data(), v.size() * 4, s, ie::DType::F32, ie::Device{});
}
Tensor slice0(const Tensor& t, int64_t i) {  // t[i] of a [S, ...] tensor (a view)
  ie::Shape s(t.shape().begin() + 1, t.shape().end());
  return t.view(i * ie::shape_numel(s), s);
}

// A JSON value back to text (the manifest's config objects feed Config::from_json).
std::string to_text(const ie::json::Value& v) {
  using ie::json::Type;
  switch (v.type) {
    case Type::Null: return "null";
    case Type::Bool: return v.boolean ? "true" : "false";
    case Type::Number: return v.text;
    case Type::String: return "\"" + v.text + "\"";
    case Type::Array: {
      std::string s = "[";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? "," : "") + to_text(v.items[i]);
      return s + "]";
    }
    case Type::Object: {
      std::string s = "{";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? ",\"" : "\"") + v.keys[i] + "\":" + to_text(v.items[i]);
      return s + "}";
    }
  }
  return "null";
}

const ie::json::Value& manifest_schedulers() {
  static ie::json::Value m = [] {
    std::string text = read_text(shared_dir() + "/parity/manifest.json");
    for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
    return ie::json::parse(text);
  }();
  return *m.find("fixtures")->find("schedulers")->find("schedulers");
}

std::string fixture_config(const std::string& name) {
  const ie::json::Value& e = *manifest_schedulers().find(name);
  std::string cfg = to_text(*e.find("config"));
  return "{\"_class_name\":\"" + e.find("class")->text + "\"," + cfg.substr(1);
}

template <typename F>
void expect_error(F&& fn, const std::string& needle, const std::string& what) {
  try {
    fn();
    IE_EXPECT(false, what + ": no error (expected one mentioning '" + needle + "')");
  } catch (const ie::Error& e) {
    IE_EXPECT(std::string(e.what()).find(needle) != std::string::npos,
              what + ": message '" + e.what() + "' does not mention '" + needle + "'");
  }
}

const char* kFixtures[] = {"ddpm", "ddim", "euler", "euler_ancestral", "dpmsolver_multistep", "lcm"};

}  // namespace

IE_TEST(scheduler, parity_schedules_and_loops) {
  const std::string dir = shared_dir() + "/parity/schedulers";
  if (!exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  for (const char* name : kFixtures) {
    const std::string tag = name;
    sc::Config cfg = sc::Config::from_json(fixture_config(name), tag);
    sc::Scheduler s(cfg);
    st::Reader r = st::Reader::open(dir + "/" + tag + ".safetensors");

    s.set_timesteps(20);
    std::vector<float> t20 = host(r.load("timesteps_20"));
    if (s.integer_timesteps())
      IE_EXPECT(s.timesteps() == t20, tag + ": set_timesteps(20) integer timesteps differ");
    IE_EXPECT_REL(max_rel(s.timesteps(), t20), 1e-6, tag + " timesteps_20");
    double sig_err = 0;
    if (r.find("sigmas_20")) {
      sig_err = max_rel(s.sigmas(), host(r.load("sigmas_20")));
      IE_EXPECT_REL(sig_err, 1e-6, tag + " sigmas_20");
    }
    const ie::json::Value& m = *manifest_schedulers().find(name);
    const double ins = m.find("init_noise_sigma")->number;
    int64_t steps = int64_t(m.find("num_inference_steps")->number);
    s.set_timesteps(steps);
    IE_EXPECT_REL(std::fabs(s.init_noise_sigma() - ins) / ins, 1e-7, tag + " init_noise_sigma");
    std::vector<float> ts = host(r.load("timesteps"));
    IE_EXPECT_REL(max_rel(s.timesteps(), ts), 1e-6, tag + " loop timesteps");

    Tensor samples = r.load("samples"), outs = r.load("model_outputs"), noises = r.load("noises");
    Tensor scaled = r.load("scaled_inputs");
    Tensor preds = r.find("pred_original") ? r.load("pred_original") : Tensor();
    Tensor x = ops::clone(slice0(samples, 0));
    double worst_sample = 0, worst_pred = 0, worst_scaled = 0;
    for (int64_t i = 0; i < steps; ++i) {
      const double t = s.timesteps()[size_t(i)];
      Tensor xin = s.scale_model_input(x, t);
      worst_scaled = std::max(worst_scaled, rel_l2(host(xin), host(slice0(scaled, i))));
      Tensor z = slice0(noises, i);
      sc::StepOptions o;
      o.noise = &z;
      sc::StepOutput out = s.step(slice0(outs, i), t, x, o);
      double es = rel_l2(host(out.prev_sample), host(slice0(samples, i + 1)));
      worst_sample = std::max(worst_sample, es);
      IE_EXPECT_REL(es, 1e-5, tag + " sample after step " + std::to_string(i));
      if (preds.defined()) {
        double ep = rel_l2(host(out.pred_original_sample), host(slice0(preds, i)));
        worst_pred = std::max(worst_pred, ep);
        IE_EXPECT_REL(ep, 1e-5, tag + " pred_original of step " + std::to_string(i));
      }
      x = out.prev_sample;
    }
    IE_EXPECT_REL(worst_scaled, 1e-5, tag + " scaled inputs");
    IE_EXPECT(s.step_index() == steps, tag + ": step index after the loop");
    std::printf("  %-20s samples %.2e  pred_original %.2e  scaled %.2e  sigmas %.2e\n", name, worst_sample, worst_pred,
                worst_scaled, sig_err);
  }
}

IE_TEST(scheduler, parity_betas_and_add_noise) {
  const std::string path = shared_dir() + "/parity/schedulers/ddpm_add_noise.safetensors";
  if (!exists(path)) {
    std::printf("  skipped: %s not found\n", path.c_str());
    return;
  }
  sc::Scheduler s(sc::Config::from_json(fixture_config("ddpm"), "ddpm"));
  st::Reader r = st::Reader::open(path);
  std::vector<float> betas = host(r.load("betas")), acp = host(r.load("alphas_cumprod"));
  IE_EXPECT(std::memcmp(betas.data(), s.betas().data(), 4000) == 0, "betas are bit-identical to torch's");
  IE_EXPECT(std::memcmp(acp.data(), s.alphas_cumprod().data(), 4000) == 0, "alphas_cumprod bit-identical to torch's");
  std::vector<float> tv = host(r.load("timesteps"));
  std::vector<double> t(tv.begin(), tv.end());
  Tensor noisy = s.add_noise(r.load("original"), r.load("noise"), t);
  double e = rel_l2(host(noisy), host(r.load("noisy")));
  IE_EXPECT_REL(e, 1e-6, "add_noise");
  std::printf("  add_noise rel %.2e\n", e);
  // get_velocity against float64 on the same data.
  std::vector<float> x0 = host(r.load("original")), z = host(r.load("noise"));
  std::vector<double> ref(x0.size());
  const size_t row = x0.size() / 4;
  for (size_t i = 0; i < x0.size(); ++i) {
    double a = s.alphas_cumprod()[size_t(t[i / row])];
    ref[i] = std::sqrt(a) * z[i] - std::sqrt(1 - a) * x0[i];
  }
  IE_EXPECT_REL(iet::rel_error(host(s.get_velocity(r.load("original"), r.load("noise"), t)), ref), 1e-6,
                "get_velocity");
}

// The schedule routines for settings the fixtures do not cover, against their definitions in float64.
IE_TEST(scheduler, schedules_other_settings) {
  // torch.linspace reproduction is exact on the fixture; for other lengths it must still be a linspace.
  for (int64_t n : {1, 2, 7, 17, 33, 1000, 1001}) {
    std::vector<float> l = sc::detail::torch_linspace_f32(0.1, 0.7, n);
    std::vector<double> ref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ref[size_t(i)] = n == 1 ? 0.1 : 0.1 + 0.6 * double(i) / double(n - 1);
    IE_EXPECT_REL(iet::rel_error(l, ref), 1e-6, "linspace n=" + std::to_string(n));
  }
  auto make = [](const std::string& json) { return sc::Scheduler(sc::Config::from_json(json, "test")); };
  // Cosine betas (squaredcos_cap_v2).
  {
    sc::Scheduler s = make(R"({"_class_name":"DDIMScheduler","beta_schedule":"squaredcos_cap_v2"})");
    std::vector<double> ref;
    auto ab = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
    for (int i = 0; i < 1000; ++i) ref.push_back(std::min(1 - ab((i + 1) / 1000.0) / ab(i / 1000.0), 0.999));
    IE_EXPECT_REL(iet::rel_error(s.betas(), ref), 1e-7, "squaredcos_cap_v2 betas");
  }
  // Trailing spacing: 999, 949, ... for 20 steps (diffusers' values).
  {
    sc::Scheduler s = make(R"({"_class_name":"DDIMScheduler","timestep_spacing":"trailing"})");
    s.set_timesteps(20);
    IE_EXPECT(s.timesteps().front() == 999 && s.timesteps()[1] == 949 && s.timesteps().back() == 49,
              "DDIM trailing timesteps");
    sc::Scheduler e = make(R"({"_class_name":"EulerDiscreteScheduler","timestep_spacing":"trailing"})");
    e.set_timesteps(3);
    IE_EXPECT(e.timesteps() == std::vector<float>({999, 666, 332}), "Euler trailing timesteps (round(1000, 666.7, 333.3) - 1)");
    sc::Scheduler l = make(R"({"_class_name":"EulerDiscreteScheduler","timestep_spacing":"leading","steps_offset":1})");
    l.set_timesteps(4);
    IE_EXPECT(l.timesteps() == std::vector<float>({751, 501, 251, 1}), "Euler leading timesteps");
    // leading: init_noise_sigma = sqrt(max sigma^2 + 1)
    float mx = l.sigmas().front();
    IE_EXPECT(l.init_noise_sigma() == std::sqrt(mx * mx + 1.0f), "leading init_noise_sigma");
  }
  // Karras sigmas: sigma_max..sigma_min with rho 7, timesteps from the inverse map (float64 reference).
  for (const char* cls : {"EulerDiscreteScheduler", "DPMSolverMultistepScheduler"}) {
    sc::Scheduler s = make(std::string("{\"_class_name\":\"") + cls +
                           "\",\"use_karras_sigmas\":true,\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
                           "\"beta_end\":0.012}");
    const int n = 12;
    s.set_timesteps(n);
    std::vector<double> ref;
    double smax = std::sqrt((1.0 - s.alphas_cumprod()[999]) / s.alphas_cumprod()[999]),
           smin = std::sqrt((1.0 - s.alphas_cumprod()[0]) / s.alphas_cumprod()[0]);
    for (int i = 0; i < n; ++i) {
      double r = std::pow(smax, 1 / 7.0) + i / double(n - 1) * (std::pow(smin, 1 / 7.0) - std::pow(smax, 1 / 7.0));
      ref.push_back(std::pow(r, 7));
    }
    ref.push_back(0);
    IE_EXPECT_REL(iet::rel_error(s.sigmas(), ref), 1e-6, std::string(cls) + " karras sigmas");
    // Each timestep maps back to its sigma (log-linear interpolation of the training sigmas).
    for (int i = 0; i < n; ++i) {
      double t = s.timesteps()[size_t(i)], j = std::floor(t), w = t - j;
      auto ls = [&](int k) { return 0.5 * std::log((1.0 - s.alphas_cumprod()[size_t(k)]) / s.alphas_cumprod()[size_t(k)]); };
      double back = std::exp((1 - w) * ls(int(j)) + w * ls(std::min(int(j) + 1, 999)));
      double tol = s.integer_timesteps() ? 0.05 : 1e-4;  // DPM rounds the timesteps
      IE_EXPECT(std::fabs(back - ref[size_t(i)]) / ref[size_t(i)] < tol,
                std::string(cls) + " karras timestep " + std::to_string(i) + " maps back to its sigma");
    }
  }
  // LCM: 4 steps of 50 original: 999, 759, 499, 259.
  {
    sc::Scheduler s = make(R"({"_class_name":"LCMScheduler"})");
    s.set_timesteps(4);
    IE_EXPECT(s.timesteps() == std::vector<float>({999, 759, 499, 259}), "LCM timesteps");
  }
}

// The fused kernel against a float64 evaluation of the same formula, for the coefficients each
// scheduler produces (several steps each), on every CPU path and thread count, with given,
// generated and no noise, with and without history.
IE_TEST(scheduler, fused_step_kernel_vs_float64) {
  struct Case {
    const char* json;
    double eta;
  };
  const Case cases[] = {
      {R"({"_class_name":"DDPMScheduler","clip_sample":true})", 0},
      {R"({"_class_name":"DDPMScheduler","prediction_type":"v_prediction","variance_type":"fixed_large"})", 0},
      {R"({"_class_name":"DDIMScheduler","prediction_type":"v_prediction"})", 0.7},
      {R"({"_class_name":"DDIMScheduler","prediction_type":"sample","clip_sample":false})", 0},
      {R"({"_class_name":"EulerDiscreteScheduler","prediction_type":"v_prediction"})", 0},
      {R"({"_class_name":"EulerAncestralDiscreteScheduler"})", 0},
      {R"({"_class_name":"DPMSolverMultistepScheduler"})", 0},
      {R"({"_class_name":"DPMSolverMultistepScheduler","solver_type":"heun","prediction_type":"v_prediction"})", 0},
      {R"({"_class_name":"LCMScheduler","clip_sample":true})", 0},
  };
  const size_t n = 4099;  // several 512-blocks and an odd tail
  uint64_t seed = 900;
  for (const Case& cs : cases) {
    sc::Config cfg = sc::Config::from_json(cs.json, "case");
    sc::Scheduler s(cfg);
    s.set_timesteps(8);
    for (int64_t idx : {0, 1, 4, 7}) {
      sc::detail::State state{s.config(), s.alphas_cumprod(), 1.0f, s.timesteps(), s.sigmas(), idx, idx, cs.eta};
      sc::detail::Step step;
      switch (cfg.kind) {
        case sc::Kind::DDPM: step = sc::detail::ddpm_step(state); break;
        case sc::Kind::DDIM: step = sc::detail::ddim_step(state); break;
        case sc::Kind::Euler: step = sc::detail::euler_step(state); break;
        case sc::Kind::EulerAncestral: step = sc::detail::euler_ancestral_step(state); break;
        case sc::Kind::DPMSolverMultistep: step = sc::detail::dpm_step(state); break;
        case sc::Kind::LCM: step = sc::detail::lcm_step(state); break;
      }
      const ie::SchedStepCoeffs& k = step.k;
      std::vector<float> e = iet::randn(n, ++seed), x = iet::randn(n, ++seed, 3.0f), h = iet::randn(n, ++seed);
      std::vector<float> zgiven = iet::randn(n, ++seed);
      const uint64_t nseed = ++seed, noff = 12345;  // odd offset: starts mid-pair
      const std::vector<float> zgen = iet::ref::philox_normals(n, nseed, noff);
      auto reference = [&](const std::vector<float>* z, std::vector<double>* prev, std::vector<double>* pred) {
        iet::ref::scheduler_step(k, e, x, h, step.history, z, prev, pred);
      };
      std::vector<double> ref_given, ref_gen, ref_none, pred_ref;
      reference(&zgiven, &ref_given, &pred_ref);
      reference(&zgen, &ref_gen, &pred_ref);
      reference(nullptr, &ref_none, &pred_ref);
      const std::string tag = std::string(cs.json) + " step " + std::to_string(idx);
      iet::for_each_cpu_path([&] {
        for (int threads : {1, 3}) {
          ie::set_num_threads(threads);
          const float* hp = step.history ? h.data() : nullptr;
          std::vector<float> prev = iet::poisoned(n), pred = iet::poisoned(n);
          ie::cpu::scheduler_step(e.data(), x.data(), hp, zgiven.data(), true, nseed, noff, k, prev.data(), pred.data(),
                                  int64_t(n));
          IE_EXPECT_REL(iet::rel_error(prev, ref_given), 1e-5, tag + " prev (given noise)");
          IE_EXPECT_REL(iet::rel_error(pred, pred_ref), 1e-5, tag + " pred");
          prev = iet::poisoned(n);
          ie::cpu::scheduler_step(e.data(), x.data(), hp, nullptr, true, nseed, noff, k, prev.data(), pred.data(),
                                  int64_t(n));
          IE_EXPECT_REL(iet::rel_error(prev, ref_gen), 1e-5, tag + " prev (Philox noise)");
          prev = iet::poisoned(n);
          ie::cpu::scheduler_step(e.data(), x.data(), hp, nullptr, false, nseed, noff, k, prev.data(), pred.data(),
                                  int64_t(n));
          IE_EXPECT_REL(iet::rel_error(prev, ref_none), 1e-5, tag + " prev (no noise)");
        }
        ie::set_num_threads(0);
      });
    }
  }
  // scale and mix_rows.
  std::vector<float> x = iet::randn(1001, 7), y = iet::randn(1001, 8);
  iet::for_each_cpu_path([&] {
    std::vector<float> out = iet::poisoned(1001);
    ie::cpu::scheduler_scale(x.data(), 3.7f, out.data(), 1001);
    std::vector<double> ref(1001);
    for (size_t i = 0; i < 1001; ++i) ref[i] = x[i] / 3.7;
    IE_EXPECT_REL(iet::rel_error(out, ref), 1e-6, "scheduler_scale");
    const float ca[7] = {0.1f, -2, 3, 0.5f, 1, 0, 7}, cb[7] = {1, 2, -3, 4, 0.25f, 6, -0.5f};
    out = iet::poisoned(1001);
    ie::cpu::scheduler_mix_rows(x.data(), y.data(), ca, cb, out.data(), 7, 143);
    for (size_t i = 0; i < 1001; ++i) ref[i] = double(ca[i / 143]) * x[i] + double(cb[i / 143]) * y[i];
    IE_EXPECT_REL(iet::rel_error(out, ref), 1e-6, "scheduler_mix_rows");
  });
}

// Noise drawn inside the step: randn(seed, i·numel) for step i (explicitly equal to passing that
// tensor), the same bytes for the same seed, other bytes for another seed or step.
IE_TEST(scheduler, philox_noise_determinism) {
  sc::Config cfg = sc::Config::from_json(R"({"_class_name":"EulerAncestralDiscreteScheduler"})");
  const ie::Shape shape{2, 4, 5, 7};  // odd numel per sample, even in total
  const int64_t numel = ie::shape_numel(shape);
  Tensor x = host_tensor(iet::randn(size_t(numel), 1, 5.0f), shape), e = host_tensor(iet::randn(size_t(numel), 2), shape);
  auto run = [&](uint64_t seed, bool explicit_noise, int steps) {
    sc::Scheduler s(cfg, seed);
    s.set_timesteps(5);
    std::vector<std::vector<float>> outs;
    for (int i = 0; i < steps; ++i) {
      sc::StepOptions o;
      Tensor z = ops::randn(shape, seed, uint64_t(i * numel), 0, 1, ie::DType::F32, ie::Device{});
      if (explicit_noise) o.noise = &z;
      outs.push_back(host(s.step(e, s.timesteps()[size_t(i)], x, o).prev_sample));
    }
    return outs;
  };
  auto a = run(42, false, 3), b = run(42, false, 3), c = run(42, true, 3), d = run(43, false, 3);
  for (int i = 0; i < 3; ++i) {
    IE_EXPECT(std::memcmp(a[i].data(), b[i].data(), size_t(numel) * 4) == 0, "same seed, same bytes");
    IE_EXPECT(std::memcmp(a[i].data(), c[i].data(), size_t(numel) * 4) == 0, "inline noise == randn(seed, i*numel)");
    IE_EXPECT(std::memcmp(a[i].data(), d[i].data(), size_t(numel) * 4) != 0, "another seed, other bytes");
  }
  IE_EXPECT(std::memcmp(a[0].data(), a[1].data(), size_t(numel) * 4) != 0, "each step draws fresh noise");
  // A per-call seed overrides the scheduler's.
  sc::Scheduler s(cfg, 1);
  s.set_timesteps(5);
  sc::StepOptions o;
  o.has_seed = true;
  o.seed = 42;
  IE_EXPECT(host(s.step(e, s.timesteps()[0], x, o).prev_sample) == a[0], "step seed option");
}

// clone() gives independent loops: DPM-Solver++ runs interleaved equal the same runs one after another.
IE_TEST(scheduler, clones_are_independent) {
  sc::Scheduler base(sc::Config::from_json(R"({"_class_name":"DPMSolverMultistepScheduler"})"));
  base.set_timesteps(6);
  const ie::Shape shape{1, 4, 8, 8};
  std::vector<Tensor> eps;
  for (int i = 0; i < 6; ++i) eps.push_back(host_tensor(iet::randn(256, 100 + i), shape));
  Tensor x1 = host_tensor(iet::randn(256, 1), shape), x2 = host_tensor(iet::randn(256, 2), shape);
  auto alone = [&](Tensor x) {
    sc::Scheduler s = base;
    for (int i = 0; i < 6; ++i) x = s.step(eps[size_t(i)], s.timesteps()[size_t(i)], x).prev_sample;
    return host(x);
  };
  std::vector<float> r1 = alone(x1), r2 = alone(x2);
  sc::Scheduler a = base, b = base;
  Tensor y1 = x1, y2 = x2;
  for (int i = 0; i < 6; ++i) {
    y1 = a.step(eps[size_t(i)], a.timesteps()[size_t(i)], y1).prev_sample;
    y2 = b.step(eps[size_t(5 - i)], b.timesteps()[size_t(i)], y2).prev_sample;  // other inputs in between
  }
  IE_EXPECT(host(y1) == r1, "interleaved clone matches a lone run");
  a.reset();
  Tensor z = x1;
  for (int i = 0; i < 6; ++i) z = a.step(eps[size_t(i)], a.timesteps()[size_t(i)], z).prev_sample;
  IE_EXPECT(host(z) == r1, "reset() restarts the loop (history cleared)");
  (void)r2;
}

IE_TEST(scheduler, config_and_call_errors) {
  auto parse = [](const std::string& j) { return sc::Config::from_json(j, "cfg.json"); };
  expect_error([&] { parse(R"({"_class_name":"DDIMScheduler","thresholding":true})"); }, "\"thresholding\" = true",
               "thresholding");
  expect_error([&] { parse(R"({"_class_name":"DDIMScheduler","trained_betas":[0.1,0.2]})"); }, "trained_betas",
               "trained_betas");
  expect_error([&] { parse(R"({"_class_name":"DDIMScheduler","beta_schedule":"sigmoid"})"); }, "\"sigmoid\"",
               "beta_schedule");
  expect_error([&] { parse(R"({"_class_name":"DDIMScheduler","betastart":0.1})"); }, "\"betastart\"", "unknown key");
  expect_error([&] { parse(R"({"_class_name":"PNDMScheduler"})"); }, "PNDMScheduler", "unknown class");
  expect_error([&] { parse(R"({"beta_start":0.1})"); }, "_class_name", "no class");
  expect_error([&] { parse(R"({"_class_name":"DDIMScheduler",)"); }, "not valid JSON", "bad JSON");
  // a key of another scheduler class is ignored, as diffusers ignores it (real configs carry them)
  IE_EXPECT(parse(R"({"_class_name":"DDIMScheduler","skip_prk_steps":true,"use_karras_sigmas":true})").kind ==
                parse(R"({"_class_name":"DDIMScheduler"})").kind,
            "keys of other classes are accepted and ignored");
  expect_error([&] { parse(R"({"_class_name":"DPMSolverMultistepScheduler","solver_order":3})"); }, "solver_order",
               "solver_order 3");
  expect_error([&] { parse(R"({"_class_name":"DPMSolverMultistepScheduler","algorithm_type":"sde-dpmsolver++"})"); },
               "sde-dpmsolver++", "algorithm_type");
  expect_error([&] { parse(R"({"_class_name":"DDPMScheduler","variance_type":"learned_range"})"); }, "learned_range",
               "variance_type");
  expect_error([&] { parse(R"({"_class_name":"DDPMScheduler","prediction_type":"x0"})"); }, "\"x0\"", "prediction");
  expect_error([&] { parse(R"({"_class_name":"DDPMScheduler","num_train_timesteps":10.5})"); }, "integer", "int");
  // Accepted: python-style -Infinity, keys with no effect at their values, another class's keys with an
  // explicit class (as from_config), and our short names.
  sc::Config d = parse(R"({"_class_name":"DPMSolverMultistepScheduler","lambda_min_clipped":-Infinity,"_diffusers_version":"0.30.3","dynamic_thresholding_ratio":0.9})");
  IE_EXPECT(std::isinf(d.lambda_min_clipped), "-Infinity parses");
  sc::Config e = sc::Config::from_json(R"({"_class_name":"PNDMScheduler","skip_prk_steps":true,"set_alpha_to_one":false,"beta_schedule":"scaled_linear"})",
                                       "sd15", "euler-ancestral");
  IE_EXPECT(e.kind == sc::Kind::EulerAncestral && e.beta_schedule == "scaled_linear", "class override");
  // The resolved config round-trips.
  sc::Config rt = parse(d.to_json());
  IE_EXPECT(rt.to_json() == d.to_json(), "to_json round trip");

  sc::Scheduler s(parse(R"({"_class_name":"DDIMScheduler"})"));
  Tensor x = host_tensor(iet::randn(64, 1), {1, 4, 4, 4});
  expect_error([&] { s.step(x, 1, x); }, "setTimesteps", "step before set_timesteps");
  expect_error([&] { s.set_timesteps(0); }, "numInferenceSteps", "0 steps");
  expect_error([&] { s.set_timesteps(1001); }, "numInferenceSteps", "too many steps");
  s.set_timesteps(10);
  expect_error([&] { s.step(x, 5, x); }, "timestep 5 is not in the schedule", "t not in schedule");
  Tensor bad = host_tensor(iet::randn(32, 1), {1, 2, 4, 4});
  expect_error([&] { s.step(bad, s.timesteps()[0], x); }, "modelOutput must have the shape", "shape mismatch");
  sc::StepOptions eo;
  eo.eta = 0.5;
  sc::Scheduler eul(parse(R"({"_class_name":"EulerDiscreteScheduler"})"));
  eul.set_timesteps(3);
  expect_error([&] { eul.step(x, eul.timesteps()[0], x, eo); }, "eta", "eta for Euler");
  expect_error([&] { s.add_noise(x, x, {1000}); }, "must be an integer in [0, 1000)", "add_noise t range");
  expect_error([&] { s.add_noise(x, x, {1, 2}); }, "2 timesteps for a batch of 1", "add_noise t count");
  sc::Scheduler lcm(parse(R"({"_class_name":"LCMScheduler"})"));
  expect_error([&] { lcm.set_timesteps(51); }, "original_inference_steps", "LCM steps");
}
