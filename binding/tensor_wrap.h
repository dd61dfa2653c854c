// NativeTensor: the JS handle of an ie::Tensor. Created only from C++ (ops return new handles).
// dispose() drops the reference at once; the finalizer is the backstop. The tensor's bytes are
// reported to V8 as external memory while the handle holds them, so the GC sees the pressure.
#pragma once
#include <napi.h>

#include <optional>

#include "ie/tensor.h"

namespace ieb {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps t in a new JS handle.
  static Napi::Object Wrap(Napi::Env env, ie::Tensor t);
  static bool IsWrap(Napi::Env env, Napi::Value v);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  // nullptr once disposed
  const ie::Tensor* tensor() const { return t_ ? &*t_ : nullptr; }

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value ToArrayBuffer(const Napi::CallbackInfo& info);
  Napi::Value ToArrayBufferSync(const Napi::CallbackInfo& info);
  Napi::Value Reshape(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::optional<ie::Tensor> t_;
};

}  // namespace ieb
