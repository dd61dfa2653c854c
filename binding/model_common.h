// Pieces every model binding shares: a cancellation token JS can set while a pass runs, and a promise
// settled once the device stream has run everything enqueued before it.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>

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

// Adds NativeCancelToken to the exports (and to AddonData).
void register_cancel_token(Napi::Env env, Napi::Object exports);

}  // namespace ieb
