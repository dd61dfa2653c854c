// PromiseWorker: an AsyncWorker (libuv thread pool) that settles a promise.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "ie/error.h"

namespace ieb {

// An AsyncWorker that settles a promise. Subclasses do the file work in Run() (worker thread) and
// build the result in Result() (JS thread); exceptions from Run() reject with the same message.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();  // the worker deletes itself after OnOK / OnError
    return p;
  }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() override {
    try {
      Run();
    } catch (const ie::Error& e) {
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      SetError("instructedit: out of host memory");
    } catch (const std::exception& e) {
      SetError(std::string("instructedit internal error: ") + e.what());
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(Result(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
};

}  // namespace ieb
