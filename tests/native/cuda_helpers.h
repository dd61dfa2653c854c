// Shared helpers of the GPU tests (tests/native/test_cuda_*.cc): host <-> cuda:0 transfers in
// float32 / float16 / bfloat16, the rounding of host data to a storage dtype, output poisoning and
// the tolerance per dtype. Header-only plain C++ over ie::ops / ie::Tensor, so it compiles in
// builds without CUDA (the tests that use it skip there via iet::cuda_device_or_skip).
//
// A test file includes it and writes `using namespace iet::gpu;` after its includes.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "harness.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"

namespace iet::gpu {

inline const ie::Device kGpu{ie::DeviceType::CUDA, 0};
inline const ie::DType kFloatTypes[] = {ie::DType::F32, ie::DType::F16, ie::DType::BF16};

// Relative-error tolerance against a float64 reference computed from the rounded inputs: float32
// 1e-5, float16 1e-2, bfloat16 2e-2 (11- and 8-bit significands: each stored value rounds by up to
// 2^-11 / 2^-8 relative; the headroom covers backward chains that store intermediates in that type).
inline double tol(ie::DType dt) { return dt == ie::DType::F32 ? 1e-5 : dt == ie::DType::F16 ? 1e-2 : 2e-2; }
inline std::string dname(ie::DType dt) { return ie::dtype_name(dt); }

// v as dtype dt stores it (float32: unchanged).
inline float round_to(float v, ie::DType dt) {
  if (dt == ie::DType::F16) return ie::f16_to_float(ie::float_to_f16(v));
  if (dt == ie::DType::BF16) return ie::bf16_to_float(ie::float_to_bf16(v));
  return v;
}
// The values the GPU sees once v is stored as dt.
inline std::vector<float> rounded(const std::vector<float>& v, ie::DType dt) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = round_to(v[i], dt);
  return r;
}
// The same in float64 (for the references).
inline std::vector<double> rounded_f64(const std::vector<float>& v, ie::DType dt) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = round_to(v[i], dt);
  return r;
}

// A dt tensor of this shape on cuda:0 holding v (rounded to dt on the host).
inline ie::Tensor upload(const std::vector<float>& v, const ie::Shape& shape, ie::DType dt = ie::DType::F32) {
  if (dt == ie::DType::F32) return ie::ops::from_host(v.data(), v.size() * 4, shape, dt, kGpu);
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = dt == ie::DType::F16 ? ie::float_to_f16(v[i]) : ie::float_to_bf16(v[i]);
  return ie::ops::from_host(h.data(), h.size() * 2, shape, dt, kGpu);
}
// The same as a 1-D tensor [v.size()].
inline ie::Tensor upload1(const std::vector<float>& v, ie::DType dt = ie::DType::F32) {
  return upload(v, ie::Shape{int64_t(v.size())}, dt);
}

// Any float tensor read back as float32 (converted on the host from the stored bits).
inline std::vector<float> download(const ie::Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  if (v.empty()) return v;
  if (t.dtype() == ie::DType::F32) {
    ie::ops::copy_to_host(t, v.data());
    return v;
  }
  std::vector<uint16_t> h(v.size());
  ie::ops::copy_to_host(t, h.data());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = t.dtype() == ie::DType::F16 ? ie::f16_to_float(h[i]) : ie::bf16_to_float(h[i]);
  return v;
}

// Poisoning (best effort against unwritten outputs): NaN-filled blocks are freed just before the
// op, and the caching allocator hands them to the op's outputs of the same size, so an element the
// kernel does not write reads back as NaN (rel_error then reports +inf).
//
// One freed NaN block of the size of a (shape, dt) tensor.
inline void poison_next(const ie::Shape& shape, ie::DType dt) {
  int64_t n = ie::shape_numel(shape);
  if (n > 0) upload(iet::poisoned(size_t(n)), shape, dt);
}
// `copies` freed NaN blocks of each of these byte sizes (0xffff halves: NaN as float32 pairs,
// float16 and bfloat16).
inline void poison_cache(std::initializer_list<size_t> sizes, int copies = 2) {
  std::vector<ie::Tensor> hold;
  for (size_t bytes : sizes) {
    size_t n = (bytes + 1) / 2;
    std::vector<uint16_t> nan(n, 0xffff);
    for (int k = 0; k < copies; ++k)
      hold.push_back(ie::ops::from_host(nan.data(), n * 2, {int64_t(n)}, ie::DType::F16, kGpu));
  }
  ie::stream_for(kGpu).sync();
}
inline size_t bytes_of(size_t n, ie::DType dt) { return n * ie::dtype_size(dt); }

}  // namespace iet::gpu
