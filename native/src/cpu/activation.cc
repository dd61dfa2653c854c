#include "cpu/activation.h"

#include "cpu/vmath.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kGrain = 1 << 14;
constexpr float kTanhC = 0.7978845608f;  // √(2/π)
constexpr float kTanhK = 0.044715f;
constexpr float kQuick = 1.702f;

// gelu_tanh(x) = ½x(1 + tanh u) = x·σ(2u): the sigmoid form has no cancellation for small u.
inline float gelu_tanh_f(float x) {
  float u = kTanhC * (x + kTanhK * x * x * x);
  return x * vm_sigmoid(2.0f * u);
}
inline float gelu_tanh_d(float x) {
  float u = kTanhC * (x + kTanhK * x * x * x);
  float du = kTanhC * (1.0f + 3.0f * kTanhK * x * x);
  float s = vm_sigmoid(2.0f * u);
  return s + x * s * (1.0f - s) * 2.0f * du;
}
inline float gelu_d(float x) { return vm_norm_cdf(x) + x * vm_norm_pdf(x); }

}  // namespace

void activation_forward(Activation kind, const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    switch (kind) {
      case Activation::SiLU:
        for (int64_t i = b; i < e; ++i) y[i] = x[i] * vm_sigmoid(x[i]);
        break;
      case Activation::GELU:
        for (int64_t i = b; i < e; ++i) y[i] = x[i] * vm_norm_cdf(x[i]);
        break;
      case Activation::GELUTanh:
        for (int64_t i = b; i < e; ++i) y[i] = gelu_tanh_f(x[i]);
        break;
      case Activation::QuickGELU:
        for (int64_t i = b; i < e; ++i) y[i] = x[i] * vm_sigmoid(kQuick * x[i]);
        break;
    }
  });
}

void activation_backward(Activation kind, const float* x, const float* dy, float* dx, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    switch (kind) {
      case Activation::SiLU:
        for (int64_t i = b; i < e; ++i) {
          float s = vm_sigmoid(x[i]);
          dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
      case Activation::GELU:
        for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * gelu_d(x[i]);
        break;
      case Activation::GELUTanh:
        for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * gelu_tanh_d(x[i]);
        break;
      case Activation::QuickGELU:
        for (int64_t i = b; i < e; ++i) {
          float s = vm_sigmoid(kQuick * x[i]);
          dx[i] = dy[i] * (s + kQuick * x[i] * s * (1.0f - s));
        }
        break;
    }
  });
}

// Rows of 2D inputs; the grain is in rows, sized so a chunk is ~kGrain elements.
void geglu_forward(const float* x, float* y, int64_t M, int64_t D) {
  int64_t grain = D > 0 ? (kGrain + D - 1) / D : 1;
  parallel_for(M, grain, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      const float* h = x + m * 2 * D;
      const float* g = h + D;
      float* yr = y + m * D;
      for (int64_t d = 0; d < D; ++d) yr[d] = h[d] * (g[d] * vm_norm_cdf(g[d]));
    }
  });
}

void geglu_backward(const float* x, const float* dy, float* dx, int64_t M, int64_t D) {
  int64_t grain = D > 0 ? (kGrain + D - 1) / D : 1;
  parallel_for(M, grain, [&](int64_t b, int64_t e) {
    for (int64_t m = b; m < e; ++m) {
      const float* h = x + m * 2 * D;
      const float* g = h + D;
      const float* dyr = dy + m * D;
      float* dh = dx + m * 2 * D;
      float* dg = dh + D;
      for (int64_t d = 0; d < D; ++d) {
        float cdf = vm_norm_cdf(g[d]);
        dh[d] = dyr[d] * g[d] * cdf;
        dg[d] = dyr[d] * h[d] * (cdf + g[d] * vm_norm_pdf(g[d]));
      }
    }
  });
}

}  // namespace ie::cpu::IE_ISA
