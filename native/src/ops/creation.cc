// Creation, copies and casts.
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cpu/cast.h"
#include "cpu/random.h"
#include "cuda/cast.h"
#include "cuda/random.h"
#include "ie/cuda.h"
#include "ie/half.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  require_finite(value, "full", "value");
  IE_CHECK(dtype != DType::I32 || (value == std::floor(value) && value >= -2147483648.0 && value <= 2147483647.0),
           "full: value ", value, " is not representable as int32");
  Tensor t = Tensor::empty(shape, dtype, device);
  if (!device.is_cpu()) {
    int64_t n = t.numel();
    float f = float(value);
    switch (dtype) {
      case DType::F32: cuda::fill_u32(t.raw(), float_bits(f), n, device.index); break;
      case DType::I32: cuda::fill_u32(t.raw(), uint32_t(int32_t(value)), n, device.index); break;
      case DType::F16: cuda::fill_u16(t.raw(), float_to_f16(f), n, device.index); break;
      case DType::BF16: cuda::fill_u16(t.raw(), float_to_bf16(f), n, device.index); break;
    }
    return t;
  }
  launch(device, [t, value] {
    int64_t n = t.numel();
    switch (t.dtype()) {
      case DType::F32: {
        float v = float(value);
        float* p = t.data<float>();
        for (int64_t i = 0; i < n; ++i) p[i] = v;
        break;
      }
      case DType::I32: {
        int32_t v = int32_t(value);
        int32_t* p = t.data<int32_t>();
        for (int64_t i = 0; i < n; ++i) p[i] = v;
        break;
      }
      case DType::F16:
      case DType::BF16: {
        uint16_t v = t.dtype() == DType::F16 ? float_to_f16(float(value)) : float_to_bf16(float(value));
        uint16_t* p = t.data<uint16_t>();
        for (int64_t i = 0; i < n; ++i) p[i] = v;
        break;
      }
    }
  });
  return t;
}

// fill writes float32 on the CPU; on CUDA, cuda_fill writes the tensor (any float dtype) in place.
static Tensor random_tensor(const char* op, const Shape& shape, DType dtype, Device device,
                            std::function<void(float*, int64_t)> fill, std::function<void(const Tensor&)> cuda_fill) {
  IE_CHECK(dtype != DType::I32, op, ": dtype must be a float type, got int32");
  if (device.type == DeviceType::CUDA) {
    Tensor t = Tensor::empty(shape, dtype, device);
    launch(device, [t, cuda_fill] { cuda_fill(t); });
    return t;
  }
  Tensor f = Tensor::empty(shape, DType::F32, Device{});
  launch(Device{}, [f, fill] { fill(f.data<float>(), f.numel()); });
  if (dtype == DType::F32 && device.is_cpu()) return f;
  Tensor c = dtype == DType::F32 ? f : cast(f, dtype);
  return device.is_cpu() ? c : to_device(c, device);
}

Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset, float mean, float std, DType dtype, Device device) {
  require_finite(mean, "randn", "mean");
  require_finite(std, "randn", "std");
  return random_tensor(
      "randn", shape, dtype, device, [=](float* p, int64_t n) { cpu::fill_randn(p, n, seed, offset, mean, std); },
      [=](const Tensor& t) {
        IE_IF_CUDA(cuda::fill_randn(t.raw(), t.numel(), seed, offset, mean, std, t.dtype(), t.device().index));
      });
}

Tensor rand(const Shape& shape, uint64_t seed, uint64_t offset, float lo, float hi, DType dtype, Device device) {
  require_finite(lo, "rand", "low");
  require_finite(hi, "rand", "high");
  IE_CHECK(lo <= hi, "rand: low (", lo, ") must not exceed high (", hi, ")");
  return random_tensor(
      "rand", shape, dtype, device, [=](float* p, int64_t n) { cpu::fill_rand(p, n, seed, offset, lo, hi); },
      [=](const Tensor& t) {
        IE_IF_CUDA(cuda::fill_rand(t.raw(), t.numel(), seed, offset, lo, hi, t.dtype(), t.device().index));
      });
}

Tensor from_host(const void* data, size_t bytes, const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  IE_CHECK(bytes == t.nbytes(), "tensor: data has ", bytes, " bytes but ", dtype_name(dtype), shape_str(shape),
           " needs ", t.nbytes());
  if (device.is_cpu()) {
    std::memcpy(t.raw(), data, bytes);  // synchronous: the tensor is fresh, no queued work touches it
  } else {
    cuda::copy_h2d(t.raw(), data, bytes, device.index);
  }
  return t;
}

void copy_to_host_async(const Tensor& t, void* dst, std::function<void(const char*)> done) {
  require_defined(t, "toArray", "tensor");
  launch(t.device(), [t, dst, done] {
    try {
      // A failed kernel earlier on this stream makes the data meaningless: report that error.
      if (std::exception_ptr e = stream_for(t.device()).take_error()) std::rethrow_exception(e);
      if (t.device().is_cpu()) std::memcpy(dst, t.raw(), t.nbytes());
      else cuda::copy_d2h(dst, t.raw(), t.nbytes(), t.device().index);
    } catch (const std::exception& e) {
      done(e.what());
      return;
    }
    done(nullptr);
  });
}

void copy_to_host(const Tensor& t, void* dst) {
  require_defined(t, "toArray", "tensor");
  Stream& s = stream_for(t.device());
  s.sync();  // earlier errors surface here
  if (t.device().is_cpu()) std::memcpy(dst, t.raw(), t.nbytes());
  else cuda::copy_d2h(dst, t.raw(), t.nbytes(), t.device().index);
}

Tensor cast(const Tensor& x, DType dtype) {
  require_defined(x, "cast", "x");
  if (x.dtype() == dtype) return clone(x);
  Tensor y = Tensor::empty(x.shape(), dtype, x.device());
  DType from = x.dtype();
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [x, y, from, dtype] {
      cuda::cast(from, dtype, x.raw(), y.raw(), x.numel(), x.device().index);
    }));
    return y;
  }
  launch(x.device(), [x, y, from, dtype] {
    int64_t n = x.numel();
    // Through float32: every conversion is exact or a single rounding.
    float* tmp = nullptr;
    const float* src = x.data<float>();
    if (from != DType::F32) {
      float* dst = dtype == DType::F32 ? y.data<float>() : (tmp = static_cast<float*>(std::malloc(size_t(n) * 4 + 4)));
      if (from == DType::F16) cpu::f16_to_f32(x.data<uint16_t>(), dst, n);
      else if (from == DType::BF16) cpu::bf16_to_f32(x.data<uint16_t>(), dst, n);
      else for (int64_t i = 0; i < n; ++i) dst[i] = float(x.data<int32_t>()[i]);
      src = dst;
    }
    if (dtype == DType::F16) cpu::f32_to_f16(src, y.data<uint16_t>(), n);
    else if (dtype == DType::BF16) cpu::f32_to_bf16(src, y.data<uint16_t>(), n);
    else if (dtype == DType::I32) {
      // Truncates toward zero like a C cast, saturating out-of-range values; NaN becomes 0.
      int32_t* out = y.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        float v = src[i];
        out[i] = v != v ? 0 : v >= 2147483647.0f ? INT32_MAX : v <= -2147483648.0f ? INT32_MIN : int32_t(v);
      }
    }
    std::free(tmp);
  });
  return y;
}

Tensor clone(const Tensor& x) {
  require_defined(x, "clone", "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  launch(x.device(), [x, y] {
    if (x.device().is_cpu()) std::memcpy(y.raw(), x.raw(), x.nbytes());
    else cuda::copy_d2d(y.raw(), x.raw(), x.nbytes(), x.device().index);
  });
  return y;
}

Tensor to_device(const Tensor& x, Device device) {
  require_defined(x, "to", "x");
  if (x.device() == device) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), device);
  if (x.device().is_cpu() && !device.is_cpu()) {
    stream_for(x.device()).sync();
    cuda::copy_h2d(y.raw(), x.raw(), x.nbytes(), device.index);
  } else if (!x.device().is_cpu() && device.is_cpu()) {
    stream_for(x.device()).sync();
    cuda::copy_d2h(y.raw(), x.raw(), x.nbytes(), x.device().index);
  } else {
    fail("to: copies between two GPUs are not supported yet (", x.device().str(), " -> ", device.str(), ")");
  }
  return y;
}

}  // namespace ie::ops
