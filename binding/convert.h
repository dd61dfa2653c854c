// Argument conversion for the binding: every JS value is checked before use, so a wrong type from
// JS gives a TypeError naming the op and argument instead of a crash.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "ie/error.h"
#include "ie/tensor.h"

namespace ieb {

class TensorWrap;

[[noreturn]] inline void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

// The tensor behind argument i; throws if it is not a tensor or was disposed.
const ie::Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// Same, but null/undefined gives nullptr.
const ie::Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
std::vector<ie::Tensor> tensor_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);

inline double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    type_error(info.Env(), std::string(op) + ": " + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v)) type_error(info.Env(), std::string(op) + ": " + name + " must be a finite number, got " + std::to_string(v));
  return v;
}

inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  double v = number_arg(info, i, op, name);
  if (v != std::floor(v) || std::fabs(v) > 9007199254740991.0)
    type_error(info.Env(), std::string(op) + ": " + name + " must be an integer, got " + std::to_string(v));
  return int64_t(v);
}

inline bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    type_error(info.Env(), std::string(op) + ": " + name + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsString())
    type_error(info.Env(), std::string(op) + ": " + name + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// A shape: a list of non-negative integers.
ie::Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
ie::DType dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op);
ie::Device device_arg(const Napi::CallbackInfo& info, size_t i, const char* op);

}  // namespace ieb
