// AutoencoderKL for JS: a NativeVAE handle over ie::vae::Model. Loading runs on a libuv worker;
// encode/decode enqueue the pass on the device stream and return a promise settled when it has run.
#include "vae.h"

#include <memory>
#include <string>
#include <utility>

#include "addon_data.h"
#include "convert.h"
#include "errors.h"
#include "ie/stream.h"
#include "ie/vae.h"
#include "model_async.h"
#include "promise_worker.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
namespace va = ie::vae;

class VAEWrap : public Napi::ObjectWrap<VAEWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeVAE",
                       {InstanceMethod<&VAEWrap::Config>("config"), InstanceMethod<&VAEWrap::NumParams>("numParams"),
                        InstanceMethod<&VAEWrap::Params>("params"),
                        InstanceMethod<&VAEWrap::ParamInfo>("paramInfo"), InstanceMethod<&VAEWrap::Encode>("encode"),
                        InstanceMethod<&VAEWrap::Decode>("decode"), InstanceMethod<&VAEWrap::Stats>("stats"),
                        InstanceMethod<&VAEWrap::Dispose>("dispose")});
  }
  explicit VAEWrap(const CI& info) : Napi::ObjectWrap<VAEWrap>(info) {}
  ~VAEWrap() override { Release(Env()); }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<va::Model> m) {
    Napi::Object o = addon_data(env).vae_ctor.New({});
    Unwrap(o)->ref_.adopt(env, std::move(m));
    return o;
  }

 private:
  va::Model& model(const CI& info, const char* what) { return ref_.get(info, what); }
  void Release(Napi::Env env) { ref_.release(env); }

  Napi::Value Config(const CI& info) { return Napi::String::New(info.Env(), model(info, "config").config().to_json()); }
  Napi::Value NumParams(const CI& info) { return Napi::Number::New(info.Env(), double(model(info, "numParams").num_params())); }
  Napi::Value ParamInfo(const CI& info) { return param_info_value(info.Env(), model(info, "paramInfo").params()); }
  Napi::Value Params(const CI& info) { return TensorWrap::Wrap(info.Env(), model(info, "parameters").flat_params()); }

  Napi::Value Stats(const CI& info) {
    va::Stats s = model(info, "memoryStats").stats();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("encodePeakBytes", double(s.encode_peak_bytes));
    o.Set("decodePeakBytes", double(s.decode_peak_bytes));
    o.Set("encodeTiles", double(s.encode_tiles));
    o.Set("decodeTiles", double(s.decode_tiles));
    return o;
  }

  Napi::Value Dispose(const CI& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

  // Arguments after the input: mode ('auto' | 'off' | 'on'), tileSize, overlap, autoThreshold, cancel.
  static va::RunOptions run_options(const CI& info, const char* op) {
    va::RunOptions o;
    std::string mode = string_arg(info, 1, op, "tiling mode");
    if (mode == "auto") o.tiling.mode = va::Tiling::Mode::Auto;
    else if (mode == "off") o.tiling.mode = va::Tiling::Mode::Off;
    else if (mode == "on") o.tiling.mode = va::Tiling::Mode::On;
    else type_error(info.Env(), std::string(op) + ": tiling mode must be 'auto', 'off' or 'on'");
    o.tiling.tile_size = int_arg(info, 2, op, "tileSize");
    o.tiling.overlap = number_arg(info, 3, op, "overlap");
    o.tiling.auto_threshold = int_arg(info, 4, op, "autoThreshold");
    o.cancel = cancel_token_arg(info, 5, op);
    return o;
  }

  // encode(image, mode, tileSize, overlap, autoThreshold, cancel?) -> Promise<{mean, logvar, std, moments}>
  Napi::Value Encode(const CI& info) {
    const char* op = "VAE.encode";
    va::Model& m = model(info, "encode");
    const ie::Tensor& x = tensor_arg(info, 0, op, "image");
    va::RunOptions o = run_options(info, op);
    va::Moments r = guard(info.Env(), [&] { return m.encode(x, o); });
    return settle_after_stream(info.Env(), "instructedit.VAE.encode", [r](Napi::Env env) -> Napi::Value {
      Napi::Object out = Napi::Object::New(env);
      out.Set("mean", TensorWrap::Wrap(env, r.mean));
      out.Set("logvar", TensorWrap::Wrap(env, r.logvar));
      out.Set("std", TensorWrap::Wrap(env, r.std));
      out.Set("moments", TensorWrap::Wrap(env, r.moments));
      return out;
    });
  }

  // decode(z, mode, tileSize, overlap, autoThreshold, cancel?) -> Promise<NativeTensor>
  Napi::Value Decode(const CI& info) {
    const char* op = "VAE.decode";
    va::Model& m = model(info, "decode");
    const ie::Tensor& z = tensor_arg(info, 0, op, "z");
    va::RunOptions o = run_options(info, op);
    ie::Tensor out = guard(info.Env(), [&] { return m.decode(z, o); });
    return settle_after_stream(info.Env(), "instructedit.VAE.decode",
                               [out](Napi::Env env) -> Napi::Value { return TensorWrap::Wrap(env, out); });
  }

  ModelRef<va::Model> ref_{"VAE"};
};

// vaeLoad(configJson, configSource, weightsPath | null, seed, device?) -> Promise<NativeVAE>
// With no weights path the parameters are random (seeded).
Napi::Value VAELoad(const CI& info) {
  LoadArgs a = load_args(info, "vaeLoad", 3);
  if (info.Length() > 4 && !info[4].IsUndefined()) a.device = device_arg(info, 4, "vaeLoad");
  std::string config = a.config, source = a.source;
  ie::Device device = a.device;
  return (new ModelLoadWorker<va::Model>(
              info.Env(), "instructedit.vaeLoad", std::move(a),
              [config, source, device] { return va::Model::create(va::Config::from_json(config, source), device); },
              [](va::Model& m, const ie::safetensors::Reader& r) { m.load(r); }, VAEWrap::Wrap))
      ->Start();
}

}  // namespace

void register_vae(Napi::Env env, Napi::Object exports) {
  Napi::Function v = VAEWrap::Define(env);
  addon_data(env).vae_ctor = Napi::Persistent(v);
  exports.Set("NativeVAE", v);
  exports.Set("vaeLoad", Napi::Function::New(env, VAELoad, "vaeLoad"));
}

}  // namespace ieb
