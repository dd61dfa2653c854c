// Pieces every model binding shares: a cancellation token JS can set while a pass runs, and a promise
// settled once the device stream has run everything enqueued before it.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace ieb {

// NativeCancelToken: an AbortSignal's native side (cancel() sets the flag the pass checks).
class CancelWrap : public Napi::ObjectWrap<CancelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelWrap(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag;
};

// Argument i as a cancel flag: undefined/null -> nullptr; anything but a NativeCancelToken -> TypeError.
std::shared_ptr<std::atomic<bool>> cancel_arg(const Napi::CallbackInfo& info, size_t i, const char* op);

// A promise settled on the JS thread once the CPU stream has run everything enqueued so far:
// rejected with the error of a failed task, else resolved with make(env).
Napi::Value settle_after_stream(Napi::Env env, const char* name, std::function<Napi::Value(Napi::Env)> make);

// The shared half of a model's JS handle (CRTP: Derived names the model in kName): owns the native
// model together with the passes queued on it, reports its parameter bytes to V8 while it holds
// them, and turns a call after dispose() into an error naming the method.
template <typename Derived, typename M>
class ModelWrap : public Napi::ObjectWrap<Derived> {
 public:
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}
  ~ModelWrap() override { Release(this->Env()); }

  // A new handle, made with `ctor`, owning m.
  static Napi::Object Wrap(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<M> m) {
    Napi::Object o = ctor.New({});
    ModelWrap* w = Derived::Unwrap(o);
    w->m_ = std::move(m);
    w->report(env, int64_t(w->m_->flat_params().nbytes()));
    return o;
  }

 protected:
  M& model(const Napi::CallbackInfo& info, const char* what) {
    if (!m_) throw Napi::Error::New(info.Env(), std::string(Derived::kName) + "." + what + ": the model has been disposed");
    return *m_;
  }
  // Native memory the handle keeps alive (parameters, later gradients).
  void report(Napi::Env env, int64_t bytes) {
    reported_ += bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  }
  Napi::Value Config(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), model(info, "config").config().to_json());
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }

 private:
  void Release(Napi::Env env) {
    if (!m_) return;
    m_.reset();  // queued passes keep the model alive until they have run
    Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
    reported_ = 0;
  }
  std::shared_ptr<M> m_;
  int64_t reported_ = 0;
};

// Adds NativeCancelToken to the exports (and to AddonData).
void register_cancel_token(Napi::Env env, Napi::Object exports);

}  // namespace ieb
