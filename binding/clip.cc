// CLIPTextModel for JS: a NativeCLIPTextModel handle over ie::clip::TextModel.
// Loading runs on a libuv worker (PromiseWorker). forward validates the ids at once (a bad id throws
// here), enqueues the pass on the device stream and returns a promise settled when it has run.
#include "clip.h"

#include <memory>
#include <string>
#include <utility>

#include "addon_data.h"
#include "convert.h"
#include "errors.h"
#include "ie/clip.h"
#include "ie/stream.h"
#include "model_async.h"
#include "promise_worker.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
namespace cl = ie::clip;

class CLIPTextWrap : public Napi::ObjectWrap<CLIPTextWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCLIPTextModel",
                       {InstanceMethod("config", &CLIPTextWrap::Config),
                        InstanceMethod<&CLIPTextWrap::NumParams>("numParams"),
                        InstanceMethod<&CLIPTextWrap::ParamInfo>("paramInfo"),
                        InstanceMethod<&CLIPTextWrap::Params>("params"),
                        InstanceMethod<&CLIPTextWrap::Forward>("forward"),
                        InstanceMethod<&CLIPTextWrap::Backward>("backward"),
                        InstanceMethod<&CLIPTextWrap::Grads>("grads"),
                        InstanceMethod<&CLIPTextWrap::HasSaved>("hasSaved"),
                        InstanceMethod("dispose", &CLIPTextWrap::Dispose)});
  }
  explicit CLIPTextWrap(const CI& info) : Napi::ObjectWrap<CLIPTextWrap>(info) {}
  ~CLIPTextWrap() override { ref_.release(Env()); }
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<cl::TextModel> m) {
    Napi::Object o = addon_data(env).clip_ctor.New({});
    Unwrap(o)->ref_.adopt(env, std::move(m));
    return o;
  }

 private:
  ModelRef<cl::TextModel> ref_{"CLIPTextModel"};
  cl::TextModel& model(const CI& info, const char* what) { return ref_.get(info, what); }
  Napi::Value Config(const CI& info) { return Napi::String::New(info.Env(), model(info, "config").config().to_json()); }
  Napi::Value Dispose(const CI& info) {
    ref_.release(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value ParamInfo(const CI& info) { return param_info_value(info.Env(), model(info, "paramInfo").params()); }
  Napi::Value Params(const CI& info) { return TensorWrap::Wrap(info.Env(), model(info, "parameters").flat_params()); }
  Napi::Value NumParams(const CI& info) {
    return Napi::Number::New(info.Env(), double(model(info, "numParameters").num_params()));
  }

  Napi::Value Grads(const CI& info) {
    ie::Tensor g = model(info, "gradients").flat_grads();
    return g.defined() ? Napi::Value(TensorWrap::Wrap(info.Env(), g)) : info.Env().Undefined();
  }
  Napi::Value HasSaved(const CI& info) { return Napi::Boolean::New(info.Env(), model(info, "hasSaved").has_saved()); }

  // backward(gradLastHiddenState, accumulate) -> Promise<undefined> (parameter gradients in grads()).
  Napi::Value Backward(const CI& info) {
    const char* op = "CLIPTextModel.backward";
    cl::TextModel& m = model(info, "backward");
    const ie::Tensor& dy = tensor_arg(info, 0, op, "gradLastHiddenState");
    bool acc = bool_arg(info, 1, op, "accumulate");
    bool fresh_grads = !m.flat_grads().defined();
    guard(info.Env(), [&] {
      m.backward(dy, acc);
      return 0;
    });
    if (fresh_grads) ref_.report(info.Env(), int64_t(m.flat_grads().nbytes()));
    return settle_after_stream(info.Env(), "instructedit.CLIPTextModel.backward",
                               [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  // forward(ids: Int32Array, batch, length, hiddenStates, cancelToken?, train?) ->
  //   Promise<{ lastHiddenState, pooledOutput, hiddenStates? }>
  Napi::Value Forward(const CI& info) {
    const char* op = "CLIPTextModel.forward";
    cl::TextModel& m = model(info, "forward");
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      type_error(info.Env(), std::string(op) + ": ids must be an Int32Array");
    Napi::Int32Array ids = info[0].As<Napi::Int32Array>();
    int64_t batch = int_arg(info, 1, op, "batch"), length = int_arg(info, 2, op, "length");
    if (batch < 0 || length < 0 || int64_t(ids.ElementLength()) != batch * length)
      type_error(info.Env(), std::string(op) + ": ids hold " + std::to_string(ids.ElementLength()) +
                                 " values, not batch × length = " + std::to_string(batch) + " × " + std::to_string(length));
    cl::ForwardOptions o;
    o.hidden_states = bool_arg(info, 3, op, "hiddenStates");
    o.cancel = cancel_token_arg(info, 4, op);
    o.train = info.Length() > 5 && !info[5].IsUndefined() && bool_arg(info, 5, op, "train");
    cl::Output out = guard(info.Env(), [&] { return m.forward(ids.Data(), batch, length, o); });
    return settle_after_stream(info.Env(), "instructedit.CLIPTextModel.forward", [out](Napi::Env env) -> Napi::Value {
      Napi::Object r = Napi::Object::New(env);
      r.Set("lastHiddenState", TensorWrap::Wrap(env, out.last_hidden_state));
      r.Set("pooledOutput", TensorWrap::Wrap(env, out.pooled));
      if (!out.hidden_states.empty()) {
        Napi::Array hs = Napi::Array::New(env, out.hidden_states.size());
        for (size_t i = 0; i < out.hidden_states.size(); ++i) hs[uint32_t(i)] = TensorWrap::Wrap(env, out.hidden_states[i]);
        r.Set("hiddenStates", hs);
      }
      return r;
    });
  }

};

// clipTextLoad(configJson, configSource, weightsPath | null, seed, device?) -> Promise<NativeCLIPTextModel>.
// With no weights path the parameters are random (seeded).
Napi::Value CLIPTextLoad(const CI& info) {
  LoadArgs a = load_args(info, "clipTextLoad", 3);
  if (info.Length() > 4 && !info[4].IsUndefined()) a.device = device_arg(info, 4, "clipTextLoad");
  std::string config = a.config, source = a.source;
  ie::Device device = a.device;
  return (new ModelLoadWorker<cl::TextModel>(
              info.Env(), "instructedit.clipTextLoad", std::move(a),
              [config, source, device] { return cl::TextModel::create(cl::Config::from_json(config, source), device); },
              [](cl::TextModel& m, const ie::safetensors::Reader& r) { m.load(r); }, CLIPTextWrap::Wrap))
      ->Start();
}

}  // namespace

void register_clip(Napi::Env env, Napi::Object exports) {
  Napi::Function c = CLIPTextWrap::Define(env);
  addon_data(env).clip_ctor = Napi::Persistent(c);
  exports.Set("NativeCLIPTextModel", c);
  exports.Set("clipTextLoad", Napi::Function::New(env, CLIPTextLoad, "clipTextLoad"));
}

}  // namespace ieb
