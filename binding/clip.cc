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
                        InstanceMethod<&CLIPTextWrap::Forward>("forward"),
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

  Napi::Value NumParams(const CI& info) {
    return Napi::Number::New(info.Env(), double(model(info, "numParameters").num_params()));
  }

  // forward(ids: Int32Array, batch, length, hiddenStates, cancelToken?) ->
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

// clipTextLoad(configJson, configSource, weightsPath | null, seed) -> Promise<NativeCLIPTextModel>.
// With no weights path the parameters are random (seeded).
class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string config, std::string source, std::string weights, int64_t seed)
      : PromiseWorker(env, "instructedit.clipTextLoad"), config_(std::move(config)), source_(std::move(source)),
        weights_(std::move(weights)), seed_(seed) {}

 private:
  void Run() override {
    model_ = cl::TextModel::create(cl::Config::from_json(config_, source_));
    if (weights_.empty()) {
      model_->init_random(uint64_t(seed_));
      ie::stream_for({}).sync();
    } else {
      ie::safetensors::OpenOptions oo;
      oo.mmap = false;  // pread: no mapped pages on top of the parameters they are copied into
      model_->load(ie::safetensors::Reader::open(weights_, oo));
    }
  }
  Napi::Value Result(Napi::Env env) override { return CLIPTextWrap::Wrap(env, std::move(model_)); }

  std::string config_, source_, weights_;
  int64_t seed_;
  std::shared_ptr<cl::TextModel> model_;
};

Napi::Value CLIPTextLoad(const CI& info) {
  const char* op = "clipTextLoad";
  std::string config = string_arg(info, 0, op, "config");
  std::string source = string_arg(info, 1, op, "configSource");
  std::string weights = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int64_t seed = int_arg(info, 3, op, "seed");
  return (new LoadWorker(info.Env(), config, source, weights, seed))->Start();
}

}  // namespace

void register_clip(Napi::Env env, Napi::Object exports) {
  Napi::Function c = CLIPTextWrap::Define(env);
  addon_data(env).clip_ctor = Napi::Persistent(c);
  exports.Set("NativeCLIPTextModel", c);
  exports.Set("clipTextLoad", Napi::Function::New(env, CLIPTextLoad, "clipTextLoad"));
}

}  // namespace ieb
