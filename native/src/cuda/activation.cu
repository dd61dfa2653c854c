// Pointwise activations and GEGLU: grid-stride elementwise kernels, float32 math.
// The formulas follow native/src/cpu/activation.cc (gelu_tanh in its sigmoid form, GELU through
// the normal CDF so the left tail keeps its relative accuracy). A faster version would load and
// store 16-byte vectors (float4 / 8 halves) when the pointers are aligned.
#include "cuda/activation.h"
#include "cuda/common.cuh"

namespace ie::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kTanhC = 0.7978845608f;  // √(2/π)
constexpr float kTanhK = 0.044715f;
constexpr float kQuick = 1.702f;

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float norm_pdf_f(float x) { return 0.39894228f * expf(-0.5f * x * x); }

__device__ __forceinline__ float act_f(int kind, float x) {
  switch (kind) {
    case 0: return x * sigmoid_f(x);
    case 1: return x * normcdff(x);
    case 2: {
      float u = kTanhC * (x + kTanhK * x * x * x);
      return x * sigmoid_f(2.0f * u);
    }
    default: return x * sigmoid_f(kQuick * x);
  }
}

// d act / dx
__device__ __forceinline__ float act_d(int kind, float x) {
  switch (kind) {
    case 0: {
      float s = sigmoid_f(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case 1: return normcdff(x) + x * norm_pdf_f(x);
    case 2: {
      float u = kTanhC * (x + kTanhK * x * x * x);
      float du = kTanhC * (1.0f + 3.0f * kTanhK * x * x);
      float s = sigmoid_f(2.0f * u);
      return s + x * s * (1.0f - s) * 2.0f * du;
    }
    default: {
      float s = sigmoid_f(kQuick * x);
      return s + kQuick * x * s * (1.0f - s);
    }
  }
}

template <typename T>
__global__ void act_fwd_kernel(int kind, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  IE_GRID_STRIDE(i, n) y[i] = from_f<T>(act_f(kind, to_f(x[i])));
}

template <typename T>
__global__ void act_bwd_kernel(int kind, const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ dx,
                               int64_t n) {
  IE_GRID_STRIDE(i, n) dx[i] = from_f<T>(to_f(dy[i]) * act_d(kind, to_f(x[i])));
}

// One thread per output element (m, d) of y[M, D].
template <typename T>
__global__ void geglu_fwd_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t M, int64_t D) {
  const int64_t n = M * D;
  IE_GRID_STRIDE(i, n) {
    int64_t m = i / D, d = i - m * D;
    float h = to_f(x[m * 2 * D + d]), g = to_f(x[m * 2 * D + D + d]);
    y[i] = from_f<T>(h * (g * normcdff(g)));
  }
}

template <typename T>
__global__ void geglu_bwd_kernel(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ dx, int64_t M,
                                 int64_t D) {
  const int64_t n = M * D;
  IE_GRID_STRIDE(i, n) {
    int64_t m = i / D, d = i - m * D;
    float h = to_f(x[m * 2 * D + d]), g = to_f(x[m * 2 * D + D + d]), gy = to_f(dy[i]);
    float cdf = normcdff(g);
    dx[m * 2 * D + d] = from_f<T>(gy * g * cdf);
    dx[m * 2 * D + D + d] = from_f<T>(gy * h * (cdf + g * norm_pdf_f(g)));
  }
}

}  // namespace

void activation_forward(DType dt, int kind, const void* x, void* y, int64_t n, int device) {
  if (n <= 0) return;
  dispatch_float(dt, "activation", [&](auto tag) {
    using T = decltype(tag);
    act_fwd_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        kind, static_cast<const T*>(x), static_cast<T*>(y), n);
    check_launch("activation_forward");
  });
}

void activation_backward(DType dt, int kind, const void* x, const void* dy, void* dx, int64_t n, int device) {
  if (n <= 0) return;
  dispatch_float(dt, "activationBackward", [&](auto tag) {
    using T = decltype(tag);
    act_bwd_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        kind, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dx), n);
    check_launch("activation_backward");
  });
}

void geglu_forward(DType dt, const void* x, void* y, int64_t M, int64_t D, int device) {
  if (M <= 0 || D <= 0) return;
  dispatch_float(dt, "geglu", [&](auto tag) {
    using T = decltype(tag);
    geglu_fwd_kernel<T><<<grid_for(M * D, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<const T*>(x), static_cast<T*>(y), M, D);
    check_launch("geglu_forward");
  });
}

void geglu_backward(DType dt, const void* x, const void* dy, void* dx, int64_t M, int64_t D, int device) {
  if (M <= 0 || D <= 0) return;
  dispatch_float(dt, "gegluBackward", [&](auto tag) {
    using T = decltype(tag);
    geglu_bwd_kernel<T><<<grid_for(M * D, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dx), M, D);
    check_launch("geglu_backward");
  });
}

}  // namespace ie::cuda
