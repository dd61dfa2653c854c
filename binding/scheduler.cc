// Schedulers for JS: NativeScheduler wraps one ie::sched::Scheduler (a config plus the state of one
// denoising loop). Schedule math runs on the JS thread (microseconds); steps enqueue the fused
// kernel on the CPU stream and return the output tensors at once.
#include "scheduler.h"

#include <cmath>
#include <memory>
#include <string>

#include "convert.h"
#include "errors.h"
#include "ie/scheduler.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
namespace sc = ie::sched;

// A seed: a non-negative safe integer or a BigInt in [0, 2^64).
uint64_t seed_arg(const CI& info, size_t i, const char* op) {
  Napi::Env env = info.Env();
  if (i < info.Length() && info[i].IsBigInt()) {
    bool ok = false;  // false for negative values and values >= 2^64
    uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&ok);
    if (!ok) type_error(env, std::string(op) + ": seed must be in [0, 2^64), got a BigInt outside it");
    return v;
  }
  double d = number_arg(info, i, op, "seed");
  if (d < 0 || d != std::floor(d) || d > 9007199254740991.0)
    type_error(env, std::string(op) + ": seed must be a non-negative integer (or a BigInt), got " + std::to_string(d));
  return uint64_t(d);
}

Napi::Float32Array floats(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = v[i];
  return a;
}

std::vector<double> timesteps_arg(const CI& info, size_t i, const char* op) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray()) type_error(env, std::string(op) + ": timesteps must be an array of numbers");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a[k];
    if (!v.IsNumber()) type_error(env, std::string(op) + ": timesteps[" + std::to_string(k) + "] must be a number");
    out.push_back(v.As<Napi::Number>().DoubleValue());
  }
  return out;
}

class SchedulerWrap : public Napi::ObjectWrap<SchedulerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeScheduler",
                       {InstanceMethod<&SchedulerWrap::Config>("config"),
                        InstanceMethod<&SchedulerWrap::SetTimesteps>("setTimesteps"),
                        InstanceMethod<&SchedulerWrap::Timesteps>("timesteps"),
                        InstanceMethod<&SchedulerWrap::Sigmas>("sigmas"),
                        InstanceMethod<&SchedulerWrap::Betas>("betas"),
                        InstanceMethod<&SchedulerWrap::AlphasCumprod>("alphasCumprod"),
                        InstanceMethod<&SchedulerWrap::Info>("info"),
                        InstanceMethod<&SchedulerWrap::SetSeed>("setSeed"),
                        InstanceMethod<&SchedulerWrap::ScaleModelInput>("scaleModelInput"),
                        InstanceMethod<&SchedulerWrap::Step>("step"),
                        InstanceMethod<&SchedulerWrap::Mix<false>>("addNoise"),
                        InstanceMethod<&SchedulerWrap::Mix<true>>("getVelocity"),
                        InstanceMethod<&SchedulerWrap::Reset>("reset")});
  }

  // new NativeScheduler(configJson, source, className, seed) or new NativeScheduler(other) (a copy).
  explicit SchedulerWrap(const CI& info) : Napi::ObjectWrap<SchedulerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() == 1 && info[0].IsObject() && info[0].As<Napi::Object>().InstanceOf(info.NewTarget().As<Napi::Function>())) {
      s_ = std::make_unique<sc::Scheduler>(*Unwrap(info[0].As<Napi::Object>())->s_);
      return;
    }
    const char* op = "createScheduler";
    std::string json = string_arg(info, 0, op, "config");
    std::string source = string_arg(info, 1, op, "source");
    std::string cls = string_arg(info, 2, op, "className");
    uint64_t seed = seed_arg(info, 3, op);
    s_ = guard(env, [&] { return std::make_unique<sc::Scheduler>(sc::Config::from_json(json, source, cls), seed); });
  }

 private:
  Napi::Value Config(const CI& info) { return Napi::String::New(info.Env(), s_->config().to_json()); }

  Napi::Value SetTimesteps(const CI& info) {
    int64_t n = int_arg(info, 0, "scheduler.setTimesteps", "numInferenceSteps");
    guard(info.Env(), [&] { s_->set_timesteps(n); });
    return info.Env().Undefined();
  }
  Napi::Value Timesteps(const CI& info) { return floats(info.Env(), s_->timesteps()); }
  Napi::Value Sigmas(const CI& info) { return floats(info.Env(), s_->sigmas()); }
  Napi::Value Betas(const CI& info) { return floats(info.Env(), s_->betas()); }
  Napi::Value AlphasCumprod(const CI& info) { return floats(info.Env(), s_->alphas_cumprod()); }

  // { className, initNoiseSigma, order, stepIndex, numInferenceSteps, integerTimesteps, seed (BigInt) }
  Napi::Value Info(const CI& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("className", sc::class_name(s_->kind()));
    o.Set("initNoiseSigma", double(s_->init_noise_sigma()));
    o.Set("order", s_->order());
    o.Set("stepIndex", double(s_->step_index()));
    o.Set("numInferenceSteps", double(s_->num_inference_steps()));
    o.Set("integerTimesteps", s_->integer_timesteps());
    o.Set("seed", Napi::BigInt::New(env, s_->seed()));
    return o;
  }

  Napi::Value SetSeed(const CI& info) {
    s_->set_seed(seed_arg(info, 0, "scheduler.setSeed"));
    return info.Env().Undefined();
  }

  Napi::Value ScaleModelInput(const CI& info) {
    const char* op = "scheduler.scaleModelInput";
    const ie::Tensor& x = tensor_arg(info, 0, op, "sample");
    double t = number_arg(info, 1, op, "timestep");
    return TensorWrap::Wrap(info.Env(), guard(info.Env(), [&] { return s_->scale_model_input(x, t); }));
  }

  // step(modelOutput, t, sample, noise | null, seed | null, eta) -> { prevSample, predOriginalSample }
  Napi::Value Step(const CI& info) {
    const char* op = "scheduler.step";
    Napi::Env env = info.Env();
    const ie::Tensor& e = tensor_arg(info, 0, op, "modelOutput");
    double t = number_arg(info, 1, op, "timestep");
    const ie::Tensor& x = tensor_arg(info, 2, op, "sample");
    sc::StepOptions o;
    o.noise = optional_tensor_arg(info, 3, op, "noise");
    if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
      o.has_seed = true;
      o.seed = seed_arg(info, 4, op);
    }
    o.eta = number_arg(info, 5, op, "eta");
    sc::StepOutput r = guard(env, [&] { return s_->step(e, t, x, o); });
    Napi::Object out = Napi::Object::New(env);
    out.Set("prevSample", TensorWrap::Wrap(env, r.prev_sample));
    out.Set("predOriginalSample", TensorWrap::Wrap(env, r.pred_original_sample));
    return out;
  }

  // addNoise(original, noise, timesteps) / getVelocity(sample, noise, timesteps): per-sample mixes.
  template <bool Velocity>
  Napi::Value Mix(const CI& info) {
    const char* op = Velocity ? "scheduler.getVelocity" : "scheduler.addNoise";
    const ie::Tensor& x = tensor_arg(info, 0, op, Velocity ? "sample" : "original");
    const ie::Tensor& z = tensor_arg(info, 1, op, "noise");
    std::vector<double> t = timesteps_arg(info, 2, op);
    return TensorWrap::Wrap(info.Env(), guard(info.Env(), [&] {
      return Velocity ? s_->get_velocity(x, z, t) : s_->add_noise(x, z, t);
    }));
  }

  Napi::Value Reset(const CI& info) {
    s_->reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<sc::Scheduler> s_;
};

}  // namespace

void register_scheduler(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeScheduler", SchedulerWrap::Define(env));
}

}  // namespace ieb
