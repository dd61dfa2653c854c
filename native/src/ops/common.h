// Shared argument checks and the launch helper for ops. Messages follow one pattern:
// "<op>: <argument> <problem>, got <dtype[shape] on device>".
#pragma once
#include <functional>
#include <string>
#include <utility>

#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"

namespace ie::ops::detail {

inline void require_defined(const Tensor& t, const char* op, const char* arg) {
  IE_CHECK(t.defined(), op, ": ", arg, " is not a tensor (undefined or disposed)");
}

// A float32 tensor (any device).
inline void require_f32(const Tensor& t, const char* op, const char* arg) {
  require_defined(t, op, arg);
  IE_CHECK(t.dtype() == DType::F32, op, ": ", arg, " must be float32, got ", t.desc(),
           " (convert with .to('float32'))");
}

inline void require_rank(const Tensor& t, int rank, const char* op, const char* arg, const char* layout) {
  IE_CHECK(t.ndim() == rank, op, ": ", arg, " must be ", rank, "-D ", layout, ", got ", t.desc());
}

inline void require_same_device(const Tensor& a, const Tensor& b, const char* op, const char* arg) {
  IE_CHECK(a.device() == b.device(), op, ": ", arg, " is on ", b.device().str(), " but the other inputs are on ",
           a.device().str());
}

// Whether this build has the CUDA kernels. An op's CUDA branch is written inside IE_IF_CUDA(...):
// a discarded `if constexpr` branch does not need the kernel's definition, so builds without nvcc
// link (and cannot reach the branch: they cannot make a cuda tensor).
#if defined(IE_WITH_CUDA)
inline constexpr bool kCuda = true;
#else
inline constexpr bool kCuda = false;
#endif
#define IE_IF_CUDA(...)                                \
  do {                                                 \
    if constexpr (::ie::ops::detail::kCuda) { __VA_ARGS__; } \
  } while (0)

inline bool is_cuda(const Tensor& t) { return t.device().type == DeviceType::CUDA; }

// A floating-point tensor the op computes on: float32 anywhere; float16/bfloat16 too on CUDA,
// where kernels load them, compute in float32 and store the input type.
inline void require_float(const Tensor& t, const char* op, const char* arg) {
  require_defined(t, op, arg);
  if (t.device().is_cpu()) {
    require_f32(t, op, arg);  // the same message as float32-only ops
  } else {
    IE_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F16 || t.dtype() == DType::BF16, op, ": ", arg,
             " must be float32, float16 or bfloat16, got ", t.desc());
  }
}

inline void require_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* arg) {
  IE_CHECK(a.dtype() == b.dtype(), op, ": ", arg, " is ", dtype_name(b.dtype()), " but the other inputs are ",
           dtype_name(a.dtype()), ", got ", b.desc());
}

// t is a float input of an op whose main input is x: float32 on the CPU; on CUDA any float dtype,
// the same as x's.
inline void require_float_like(const Tensor& x, const Tensor& t, const char* op, const char* arg) {
  if (x.defined() && !x.device().is_cpu()) {
    require_float(t, op, arg);
    if (&t != &x) require_same_dtype(x, t, op, arg);
  } else {
    require_f32(t, op, arg);
  }
}

inline void require_shape(const Tensor& t, const Shape& want, const char* op, const char* arg) {
  IE_CHECK(t.shape() == want, op, ": ", arg, " must have shape ", shape_str(want), ", got ", t.desc());
}

inline void require_finite(double v, const char* op, const char* name) {
  IE_CHECK(v == v && v - v == 0, op, ": ", name, " must be a finite number, got ", v);
}

// Runs fn on the stream of `device`, after all work enqueued before it.
inline void launch(Device device, std::function<void()> fn) { stream_for(device).enqueue(std::move(fn)); }

inline const float* fptr(const Tensor* t) { return t ? t->data<float>() : nullptr; }

// The tensor a backward op writes a parameter gradient into: into's (checked) or a new one.
// Parameter gradients are float32 on every device, also for float16/bfloat16 inputs on CUDA (as
// with mixed precision: float32 master weights, their gradients accumulated in float32).
inline Tensor param_grad(const GradInto* into, bool bias, const Shape& shape, Device device, const char* op) {
  if (!into) return Tensor::empty(shape, DType::F32, device);
  const Tensor& t = bias ? into->db : into->dw;
  const char* arg = bias ? "bias gradient destination" : "weight gradient destination";
  require_f32(t, op, arg);
  require_shape(t, shape, op, arg);
  IE_CHECK(t.is_contiguous(), op, ": ", arg, " must be contiguous");
  IE_CHECK(t.device() == device, op, ": ", arg, " is on ", t.device().str(), ", expected ", device.str());
  return t;
}


}  // namespace ie::ops::detail
