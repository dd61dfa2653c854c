// What the model bindings share: a cancellation token JS can set while a pass runs, and promises
// settled once the device stream has run a model pass (the JS thread never waits for it).
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>

namespace ieb {

// Registers NativeCancelToken (new NativeCancelToken(); token.cancel()).
void register_cancel_token(Napi::Env env, Napi::Object exports);

// The flag behind argument i (a NativeCancelToken), or nullptr when it is null/undefined.
std::shared_ptr<std::atomic<bool>> cancel_token_arg(const Napi::CallbackInfo& info, size_t i, const char* op);

// A promise settled on the JS thread once the CPU stream has run everything enqueued so far:
// rejected with the error of a failed task, else resolved with make(env).
Napi::Value settle_after_stream(Napi::Env env, const char* name, std::function<Napi::Value(Napi::Env)> make);

}  // namespace ieb
