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

// A float32 tensor on any device; the op then checks the device with require_cpu.
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

// Kernels for this op exist on the CPU only so far (the CUDA backend grows op by op).
inline void require_cpu(const Tensor& t, const char* op) {
  IE_CHECK(t.device().is_cpu(), op, ": not implemented on ", t.device().str(),
           " yet (CPU kernels only); move the inputs with .to('cpu')");
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
