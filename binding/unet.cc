// UNet2DConditionModel for JS: a NativeUNet handle over ie::unet::Model.
// Loading runs on a libuv worker (PromiseWorker). forward/backward enqueue the pass on the device
// stream and return a promise settled (through a thread-safe function) when the stream has run it:
// the JS thread never waits for model-sized work.
#include "unet.h"

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

#include "addon_data.h"
#include "convert.h"
#include "errors.h"
#include "ie/stream.h"
#include "ie/unet.h"
#include "model_common.h"
#include "promise_worker.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
namespace un = ie::unet;

class UNetWrap : public ModelWrap<UNetWrap, un::Model> {
 public:
  static constexpr const char* kName = "UNet";
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeUNet",
                       {InstanceMethod("config", &UNetWrap::Config),
                        InstanceMethod<&UNetWrap::ParamInfo>("paramInfo"),
                        InstanceMethod<&UNetWrap::Params>("params"),
                        InstanceMethod<&UNetWrap::Grads>("grads"),
                        InstanceMethod<&UNetWrap::Forward>("forward"),
                        InstanceMethod<&UNetWrap::Backward>("backward"),
                        InstanceMethod<&UNetWrap::HasSaved>("hasSaved"),
                        InstanceMethod<&UNetWrap::Stats>("stats"),
                        InstanceMethod<&UNetWrap::InitRandom>("initRandom"),
                        InstanceMethod("dispose", &UNetWrap::Dispose)});
  }
  explicit UNetWrap(const CI& info) : ModelWrap(info) {}
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<un::Model> m) {
    return ModelWrap::Wrap(env, addon_data(env).unet_ctor, std::move(m));
  }

 private:
  Napi::Value ParamInfo(const CI& info) {
    Napi::Env env = info.Env();
    const auto& ps = model(info, "paramInfo").params();
    Napi::Array names = Napi::Array::New(env, ps.size()), shapes = Napi::Array::New(env, ps.size()),
                offsets = Napi::Array::New(env, ps.size());
    for (size_t i = 0; i < ps.size(); ++i) {
      names[uint32_t(i)] = Napi::String::New(env, ps[i].name);
      Napi::Array s = Napi::Array::New(env, ps[i].shape.size());
      for (size_t k = 0; k < ps[i].shape.size(); ++k) s[uint32_t(k)] = Napi::Number::New(env, double(ps[i].shape[k]));
      shapes[uint32_t(i)] = s;
      offsets[uint32_t(i)] = Napi::Number::New(env, double(ps[i].offset));
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("names", names);
    o.Set("shapes", shapes);
    o.Set("offsets", offsets);
    return o;
  }

  Napi::Value Params(const CI& info) { return TensorWrap::Wrap(info.Env(), model(info, "parameters").flat_params()); }
  Napi::Value Grads(const CI& info) {
    ie::Tensor g = model(info, "gradients").flat_grads();
    return g.defined() ? Napi::Value(TensorWrap::Wrap(info.Env(), g)) : info.Env().Undefined();
  }
  Napi::Value HasSaved(const CI& info) { return Napi::Boolean::New(info.Env(), model(info, "hasSaved").has_saved()); }

  Napi::Value Stats(const CI& info) {
    un::Stats s = model(info, "stats").stats();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("forwardPeakBytes", double(s.forward_peak_bytes));
    o.Set("backwardPeakBytes", double(s.backward_peak_bytes));
    o.Set("savedBytes", double(s.saved_bytes));
    return o;
  }

  Napi::Value InitRandom(const CI& info) {
    un::Model& m = model(info, "initRandom");
    int64_t seed = int_arg(info, 0, "UNet.initRandom", "seed");
    guard(info.Env(), [&] { m.init_random(uint64_t(seed)); });
    return info.Env().Undefined();
  }

  // forward(sample, timesteps, ehs, train, checkpoint, cancelToken?) -> Promise<NativeTensor>
  Napi::Value Forward(const CI& info) {
    const char* op = "UNet.forward";
    un::Model& m = model(info, "forward");
    const ie::Tensor& x = tensor_arg(info, 0, op, "sample");
    const ie::Tensor& t = tensor_arg(info, 1, op, "timesteps");
    const ie::Tensor& e = tensor_arg(info, 2, op, "encoderHiddenStates");
    un::ForwardOptions o;
    o.train = bool_arg(info, 3, op, "train");
    o.checkpoint = bool_arg(info, 4, op, "checkpoint");
    o.cancel = cancel_arg(info, 5, op);
    ie::Tensor out = guard(info.Env(), [&] { return m.forward(x, t, e, o); });
    return settle_after_stream(info.Env(), "instructedit.UNet.forward", [out](Napi::Env env) -> Napi::Value {
      return TensorWrap::Wrap(env, out);
    });
  }

  // backward(gradOut, accumulate, cancelToken?) -> Promise<{sample, encoderHiddenStates}>
  Napi::Value Backward(const CI& info) {
    const char* op = "UNet.backward";
    un::Model& m = model(info, "backward");
    const ie::Tensor& dy = tensor_arg(info, 0, op, "gradOut");
    bool acc = bool_arg(info, 1, op, "accumulate");
    bool fresh_grads = !m.flat_grads().defined();
    un::InputGrads g = guard(info.Env(), [&] { return m.backward(dy, acc); });
    if (fresh_grads) report(info.Env(), int64_t(m.flat_grads().nbytes()));
    return settle_after_stream(info.Env(), "instructedit.UNet.backward", [g](Napi::Env env) -> Napi::Value {
      Napi::Object o = Napi::Object::New(env);
      o.Set("sample", TensorWrap::Wrap(env, g.sample));
      o.Set("encoderHiddenStates", TensorWrap::Wrap(env, g.encoder_hidden_states));
      return o;
    });
  }
};

// unetLoad(configJson, configSource, weightsPath | null, inChannels, seed) -> Promise<NativeUNet>
// With no weights path the parameters are random (seeded).
class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string config, std::string source, std::string weights, int64_t in_ch, int64_t seed)
      : PromiseWorker(env, "instructedit.unetLoad"), config_(std::move(config)), source_(std::move(source)),
        weights_(std::move(weights)), in_ch_(in_ch), seed_(seed) {}

 private:
  void Run() override {
    un::Config c = un::Config::from_json(config_, source_);
    if (in_ch_ > 0) {
      IE_CHECK(in_ch_ >= c.in_channels, "UNet: inChannels (", in_ch_, ") must be at least the config's in_channels (",
               c.in_channels, ")");
      c.in_channels = in_ch_;
    }
    model_ = un::Model::create(c);
    if (weights_.empty()) {
      model_->init_random(uint64_t(seed_));
      ie::stream_for({}).sync();
    } else {
      un::LoadOptions lo;
      lo.in_channels = in_ch_;
      // pread, not mmap: mapped pages would count in the process's resident memory on top of the
      // parameters they are copied into (the page cache keeps the file warm either way).
      ie::safetensors::OpenOptions oo;
      oo.mmap = false;
      model_->load(ie::safetensors::Reader::open(weights_, oo), lo);
    }
  }
  Napi::Value Result(Napi::Env env) override { return UNetWrap::Wrap(env, std::move(model_)); }

  std::string config_, source_, weights_;
  int64_t in_ch_, seed_;
  std::shared_ptr<un::Model> model_;
};

Napi::Value UNetLoad(const CI& info) {
  const char* op = "unetLoad";
  std::string config = string_arg(info, 0, op, "config");
  std::string source = string_arg(info, 1, op, "configSource");
  std::string weights = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int64_t in_ch = int_arg(info, 3, op, "inChannels");
  int64_t seed = int_arg(info, 4, op, "seed");
  return (new LoadWorker(info.Env(), config, source, weights, in_ch, seed))->Start();
}

}  // namespace

void register_unet(Napi::Env env, Napi::Object exports) {
  Napi::Function u = UNetWrap::Define(env);
  addon_data(env).unet_ctor = Napi::Persistent(u);
  exports.Set("NativeUNet", u);
  exports.Set("unetLoad", Napi::Function::New(env, UNetLoad, "unetLoad"));
}

}  // namespace ieb
