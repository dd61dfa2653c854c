#include "model_async.h"

#include <string>
#include <utility>

#include "addon_data.h"
#include "convert.h"
#include "ie/stream.h"

namespace ieb {
namespace {

class CancelWrap : public Napi::ObjectWrap<CancelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCancelToken", {InstanceMethod<&CancelWrap::Cancel>("cancel")});
  }
  explicit CancelWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<CancelWrap>(info), flag(std::make_shared<std::atomic<bool>>(false)) {}
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    flag->store(true);
    return info.Env().Undefined();
  }
  std::shared_ptr<std::atomic<bool>> flag;
};

struct Pending {
  Napi::Promise::Deferred deferred;
  std::function<Napi::Value(Napi::Env)> make;
  std::string error;
  bool failed = false;
};

void finish(Napi::Env env, Napi::Function, Pending* p, void*) {
  if (env) {
    Napi::HandleScope scope(env);
    if (p->failed) {
      p->deferred.Reject(Napi::Error::New(env, p->error).Value());
    } else {
      try {
        p->deferred.Resolve(p->make(env));
      } catch (const Napi::Error& e) {
        p->deferred.Reject(e.Value());
      }
    }
  }
  delete p;
}
using Tsfn = Napi::TypedThreadSafeFunction<Pending, void, finish>;

}  // namespace

void register_cancel_token(Napi::Env env, Napi::Object exports) {
  Napi::Function c = CancelWrap::Define(env);
  addon_data(env).cancel_ctor = Napi::Persistent(c);
  exports.Set("NativeCancelToken", c);
}

std::shared_ptr<std::atomic<bool>> cancel_token_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return nullptr;
  if (!info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(addon_data(info.Env()).cancel_ctor.Value()))
    type_error(info.Env(), std::string(op) + ": cancel token must be a NativeCancelToken");
  return CancelWrap::Unwrap(info[i].As<Napi::Object>())->flag;
}

Napi::Value settle_after_stream(Napi::Env env, const char* name, std::function<Napi::Value(Napi::Env)> make) {
  auto* p = new Pending{Napi::Promise::Deferred::New(env), std::move(make), {}, false};
  Napi::Promise promise = p->deferred.Promise();
  Tsfn tsfn = Tsfn::New(env, name, 0, 1, p);
  ie::stream_for({}).enqueue([tsfn, p]() mutable {
    if (std::exception_ptr e = ie::stream_for({}).take_error()) {
      p->failed = true;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        p->error = ex.what();
      } catch (...) {
        p->error = "instructedit: unknown native error";
      }
    }
    tsfn.BlockingCall();
    tsfn.Release();
  });
  return promise;
}

LoadArgs load_args(const Napi::CallbackInfo& info, const char* op, size_t seed_index) {
  LoadArgs a;
  a.config = string_arg(info, 0, op, "config");
  a.source = string_arg(info, 1, op, "configSource");
  a.weights = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  a.seed = int_arg(info, seed_index, op, "seed");
  return a;
}

Napi::Value param_info_value(Napi::Env env, const std::vector<ie::ParamInfo>& ps) {
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

}  // namespace ieb
