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
#include "model_async.h"
#include "ie/stream.h"
#include "ie/unet.h"
#include "promise_worker.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
namespace un = ie::unet;

class UNetWrap : public Napi::ObjectWrap<UNetWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeUNet",
                       {InstanceMethod<&UNetWrap::Config>("config"),
                        InstanceMethod<&UNetWrap::ParamInfo>("paramInfo"),
                        InstanceMethod<&UNetWrap::Params>("params"),
                        InstanceMethod<&UNetWrap::Grads>("grads"),
                        InstanceMethod<&UNetWrap::Forward>("forward"),
                        InstanceMethod<&UNetWrap::Backward>("backward"),
                        InstanceMethod<&UNetWrap::HasSaved>("hasSaved"),
                        InstanceMethod<&UNetWrap::Stats>("stats"),
                        InstanceMethod<&UNetWrap::InitRandom>("initRandom"),
                        InstanceMethod<&UNetWrap::ClearGraphs>("clearGraphs"),
                        InstanceMethod<&UNetWrap::Dispose>("dispose")});
  }
  explicit UNetWrap(const CI& info) : Napi::ObjectWrap<UNetWrap>(info) {}
  ~UNetWrap() override { Release(Env()); }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<un::Model> m) {
    Napi::Object o = addon_data(env).unet_ctor.New({});
    Unwrap(o)->ref_.adopt(env, std::move(m));
    return o;
  }

 private:
  un::Model& model(const CI& info, const char* what) { return ref_.get(info, what); }
  void Release(Napi::Env env) { ref_.release(env); }

  Napi::Value Config(const CI& info) { return Napi::String::New(info.Env(), model(info, "config").config().to_json()); }

  Napi::Value ParamInfo(const CI& info) { return param_info_value(info.Env(), model(info, "paramInfo").params()); }

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
    o.Set("graphCaptures", double(s.graph_captures));
    o.Set("graphReplays", double(s.graph_replays));
    o.Set("graphError", s.graph_error);
    return o;
  }

  Napi::Value ClearGraphs(const CI& info) {
    un::Model& m = model(info, "clearGraphs");
    guard(info.Env(), [&] { m.clear_graphs(); });
    return info.Env().Undefined();
  }

  Napi::Value InitRandom(const CI& info) {
    un::Model& m = model(info, "initRandom");
    int64_t seed = int_arg(info, 0, "UNet.initRandom", "seed");
    guard(info.Env(), [&] { m.init_random(uint64_t(seed)); });
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const CI& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

  // forward(sample, timesteps, ehs, train, checkpoint, cancelToken?, graph?) -> Promise<NativeTensor>
  Napi::Value Forward(const CI& info) {
    const char* op = "UNet.forward";
    un::Model& m = model(info, "forward");
    const ie::Tensor& x = tensor_arg(info, 0, op, "sample");
    const ie::Tensor& t = tensor_arg(info, 1, op, "timesteps");
    const ie::Tensor& e = tensor_arg(info, 2, op, "encoderHiddenStates");
    un::ForwardOptions o;
    o.train = bool_arg(info, 3, op, "train");
    o.checkpoint = bool_arg(info, 4, op, "checkpoint");
    o.cancel = cancel_token_arg(info, 5, op);
    o.graph = info.Length() > 6 && !info[6].IsUndefined() ? bool_arg(info, 6, op, "graph") : false;
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
    if (fresh_grads) {
      ref_.report(info.Env(), int64_t(m.flat_grads().nbytes()));
    }
    return settle_after_stream(info.Env(), "instructedit.UNet.backward", [g](Napi::Env env) -> Napi::Value {
      Napi::Object o = Napi::Object::New(env);
      o.Set("sample", TensorWrap::Wrap(env, g.sample));
      o.Set("encoderHiddenStates", TensorWrap::Wrap(env, g.encoder_hidden_states));
      return o;
    });
  }

  ModelRef<un::Model> ref_{"UNet"};
};

// unetLoad(configJson, configSource, weightsPath | null, inChannels, seed, device?, computeDtype?) -> Promise<NativeUNet>
// With no weights path the parameters are random (seeded). inChannels > 0 widens conv_in.
Napi::Value UNetLoad(const CI& info) {
  LoadArgs a = load_args(info, "unetLoad", 4);
  int64_t in_ch = int_arg(info, 3, "unetLoad", "inChannels");
  if (info.Length() > 5 && !info[5].IsUndefined()) a.device = device_arg(info, 5, "unetLoad");
  ie::DType compute = ie::DType::F32;
  if (info.Length() > 6 && !info[6].IsUndefined()) compute = dtype_arg(info, 6, "unetLoad");
  std::string config = a.config, source = a.source;
  ie::Device device = a.device;
  auto create = [config, source, in_ch, device, compute] {
    un::Config c = un::Config::from_json(config, source);
    if (in_ch > 0) {
      IE_CHECK(in_ch >= c.in_channels, "UNet: inChannels (", in_ch, ") must be at least the config's in_channels (",
               c.in_channels, ")");
      c.in_channels = in_ch;
    }
    return un::Model::create(c, device, compute);
  };
  auto load = [in_ch](un::Model& m, const ie::safetensors::Reader& r) {
    un::LoadOptions lo;
    lo.in_channels = in_ch;
    m.load(r, lo);
  };
  return (new ModelLoadWorker<un::Model>(info.Env(), "instructedit.unetLoad", std::move(a), create, load, UNetWrap::Wrap))
      ->Start();
}

}  // namespace

void register_unet(Napi::Env env, Napi::Object exports) {
  Napi::Function u = UNetWrap::Define(env);
  addon_data(env).unet_ctor = Napi::Persistent(u);
  exports.Set("NativeUNet", u);
  exports.Set("unetLoad", Napi::Function::New(env, UNetLoad, "unetLoad"));
}

}  // namespace ieb
