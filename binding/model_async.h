// What the model bindings share: a cancellation token JS can set while a pass runs, and promises
// settled once the device stream has run a model pass (the JS thread never waits for it).
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace ieb {

// Registers NativeCancelToken (new NativeCancelToken(); token.cancel()).
void register_cancel_token(Napi::Env env, Napi::Object exports);

// The flag behind argument i (a NativeCancelToken), or nullptr when it is null/undefined.
std::shared_ptr<std::atomic<bool>> cancel_token_arg(const Napi::CallbackInfo& info, size_t i, const char* op);

// A promise settled on the JS thread once the CPU stream has run everything enqueued so far:
// rejected with the error of a failed task, else resolved with make(env).
Napi::Value settle_after_stream(Napi::Env env, const char* name, std::function<Napi::Value(Napi::Env)> make);

// The native model behind a JS handle: use after dispose() is a clear error, and the model's memory
// is reported to V8 while the handle holds it (queued passes keep the model itself alive).
template <typename M>
class ModelRef {
 public:
  explicit ModelRef(const char* name) : name_(name) {}
  void adopt(Napi::Env env, std::shared_ptr<M> m) {
    m_ = std::move(m);
    report(env, int64_t(m_->flat_params().nbytes()));
  }
  M& get(const Napi::CallbackInfo& info, const char* what) const {
    if (!m_) throw Napi::Error::New(info.Env(), std::string(name_) + "." + what + ": the model has been disposed");
    return *m_;
  }
  void report(Napi::Env env, int64_t bytes) {
    reported_ += bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  }
  void release(Napi::Env env) {
    if (!m_) return;
    m_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
    reported_ = 0;
  }

 private:
  const char* name_;
  std::shared_ptr<M> m_;
  int64_t reported_ = 0;
};

}  // namespace ieb
