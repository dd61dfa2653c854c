#include "convert.h"

#include "tensor_wrap.h"

namespace ieb {

const ie::Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  if (!TensorWrap::IsWrap(env, info[i])) type_error(env, std::string(op) + ": " + name + " must be a Tensor");
  const ie::Tensor* t = TensorWrap::Unwrap(info[i].As<Napi::Object>())->tensor();
  if (!t) throw Napi::Error::New(env, std::string(op) + ": " + name + " has been disposed");
  return t;
}

const ie::Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const ie::Tensor* t = optional_tensor_arg(info, i, op, name);
  if (!t) type_error(info.Env(), std::string(op) + ": " + name + " must be a Tensor, got " +
                                     (i < info.Length() && info[i].IsNull() ? "null" : "undefined"));
  return *t;
}

std::vector<ie::Tensor> tensor_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray()) type_error(env, std::string(op) + ": " + name + " must be an array of Tensors");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<ie::Tensor> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a[k];
    std::string what = std::string(name) + "[" + std::to_string(k) + "]";
    if (!TensorWrap::IsWrap(env, v)) type_error(env, std::string(op) + ": " + what + " must be a Tensor");
    const ie::Tensor* t = TensorWrap::Unwrap(v.As<Napi::Object>())->tensor();
    if (!t) throw Napi::Error::New(env, std::string(op) + ": " + what + " has been disposed");
    out.push_back(*t);
  }
  return out;
}

std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray()) type_error(env, std::string(op) + ": " + name + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() > 64) type_error(env, std::string(op) + ": " + name + " has too many entries (" + std::to_string(a.Length()) + ")");
  std::vector<int64_t> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a[k];
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740991.0)
      type_error(env, std::string(op) + ": " + name + "[" + std::to_string(k) + "] must be an integer");
    out.push_back(int64_t(d));
  }
  return out;
}

ie::Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  std::vector<int64_t> s = int_list_arg(info, i, op, name);
  if (s.size() > 8) type_error(info.Env(), std::string(op) + ": " + name + " has " + std::to_string(s.size()) + " dimensions; at most 8 are supported");
  for (size_t k = 0; k < s.size(); ++k)
    if (s[k] < 0) type_error(info.Env(), std::string(op) + ": " + name + "[" + std::to_string(k) + "] must be >= 0");
  return s;
}

ie::DType dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  std::string s = string_arg(info, i, op, "dtype");
  ie::DType d;
  if (!ie::dtype_from_name(s, &d))
    type_error(info.Env(), std::string(op) + ": unknown dtype '" + s + "' (expected float32, float16, bfloat16 or int32)");
  return d;
}

ie::Device device_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  std::string s = string_arg(info, i, op, "device");
  ie::Device d;
  if (!ie::device_from_name(s, &d)) type_error(info.Env(), std::string(op) + ": unknown device '" + s + "' (expected 'cpu', 'cuda' or 'cuda:N')");
  return d;
}

}  // namespace ieb
