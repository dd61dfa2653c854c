// Pointwise activations and GEGLU, with backward (dx from the forward input x and dy).
//   silu(x) = x·σ(x); gelu(x) = 0.5·x·(1 + erf(x/√2)); gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)));
//   quick_gelu(x) = x·σ(1.702x) (CLIP).
// GEGLU (diffusers): x[M,2D] → hidden = x[:, :D], gate = x[:, D:], y[M,D] = hidden·gelu(gate) (exact gelu).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

namespace ie::cpu {
enum class Activation : int { SiLU = 0, GELU = 1, GELUTanh = 2, QuickGELU = 3 };
}

IE_CPU_DECLARE(void, activation_forward, (ie::cpu::Activation kind, const float* x, float* y, int64_t n))
IE_CPU_DECLARE(void, activation_backward,
               (ie::cpu::Activation kind, const float* x, const float* dy, float* dx, int64_t n))
IE_CPU_DECLARE(void, geglu_forward, (const float* x, float* y, int64_t M, int64_t D))
IE_CPU_DECLARE(void, geglu_backward, (const float* x, const float* dy, float* dx, int64_t M, int64_t D))

#ifndef IE_ISA
namespace ie::cpu {
inline void activation_forward(Activation kind, const float* x, float* y, int64_t n) {
  IE_CPU_DISPATCH(activation_forward, kind, x, y, n)
}
inline void activation_backward(Activation kind, const float* x, const float* dy, float* dx, int64_t n) {
  IE_CPU_DISPATCH(activation_backward, kind, x, dy, dx, n)
}
inline void geglu_forward(const float* x, float* y, int64_t M, int64_t D) { IE_CPU_DISPATCH(geglu_forward, x, y, M, D) }
inline void geglu_backward(const float* x, const float* dy, float* dx, int64_t M, int64_t D) {
  IE_CPU_DISPATCH(geglu_backward, x, dy, dx, M, D)
}
}  // namespace ie::cpu
#endif
