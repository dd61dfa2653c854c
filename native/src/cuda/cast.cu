// Conversion kernels: one thread per element (grid-stride), load → float32 → store.
#include <climits>

#include "cuda/cast.h"
#include "cuda/common.cuh"
#include "ie/half.h"

namespace ie::cuda {
namespace {

template <DType D> struct Storage;
template <> struct Storage<DType::F32> { using T = float; };
template <> struct Storage<DType::F16> { using T = uint16_t; };
template <> struct Storage<DType::BF16> { using T = uint16_t; };
template <> struct Storage<DType::I32> { using T = int32_t; };

template <DType D>
__device__ __forceinline__ float load(typename Storage<D>::T v) {
  if constexpr (D == DType::F32) return v;
  else if constexpr (D == DType::F16) return f16_to_float(v);
  else if constexpr (D == DType::BF16) return bf16_to_float(v);
  else return float(v);  // int32: round to nearest, as the CPU's float(int32)
}

template <DType D>
__device__ __forceinline__ typename Storage<D>::T store(float v) {
  if constexpr (D == DType::F32) return v;
  else if constexpr (D == DType::F16) return float_to_f16(v);
  else if constexpr (D == DType::BF16) return float_to_bf16(v);
  else  // truncate toward zero like a C cast, saturating; NaN becomes 0 (ops/creation.cc)
    return v != v ? 0 : v >= 2147483647.0f ? INT32_MAX : v <= -2147483648.0f ? INT32_MIN : int32_t(v);
}

template <DType F, DType T>
__global__ void cast_kernel(const typename Storage<F>::T* __restrict__ x, typename Storage<T>::T* __restrict__ y,
                            int64_t n) {
  IE_GRID_STRIDE(i, n) y[i] = store<T>(load<F>(x[i]));
}

template <DType F, DType T>
void launch_cast(const void* x, void* y, int64_t n, int device) {
  cast_kernel<F, T><<<grid_for(n, 256, device), 256, 0, stream(device)>>>(
      static_cast<const typename Storage<F>::T*>(x), static_cast<typename Storage<T>::T*>(y), n);
  check_launch("cast");
}

template <DType F>
void cast_from(DType to, const void* x, void* y, int64_t n, int device) {
  switch (to) {
    case DType::F32: return launch_cast<F, DType::F32>(x, y, n, device);
    case DType::F16: return launch_cast<F, DType::F16>(x, y, n, device);
    case DType::BF16: return launch_cast<F, DType::BF16>(x, y, n, device);
    case DType::I32: return launch_cast<F, DType::I32>(x, y, n, device);
  }
  fail("cast: unknown dtype ", int(to));
}

}  // namespace

void cast(DType from, DType to, const void* x, void* y, int64_t n, int device) {
  if (n <= 0) return;
  switch (from) {
    case DType::F32: return cast_from<DType::F32>(to, x, y, n, device);
    case DType::F16: return cast_from<DType::F16>(to, x, y, n, device);
    case DType::BF16: return cast_from<DType::BF16>(to, x, y, n, device);
    case DType::I32: return cast_from<DType::I32>(to, x, y, n, device);
  }
  fail("cast: unknown dtype ", int(from));
}

}  // namespace ie::cuda
