// Row softmax over the last axis of x[M,N] (max-subtracted). Backward from the output:
// dx = y ⊙ (dy − Σ_j dy_j·y_j).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, softmax_forward, (const float* x, float* y, int64_t M, int64_t N))
IE_CPU_DECLARE(void, softmax_backward, (const float* y, const float* dy, float* dx, int64_t M, int64_t N))

#ifndef IE_ISA
namespace ie::cpu {
inline void softmax_forward(const float* x, float* y, int64_t M, int64_t N) { IE_CPU_DISPATCH(softmax_forward, x, y, M, N) }
inline void softmax_backward(const float* y, const float* dy, float* dx, int64_t M, int64_t N) {
  IE_CPU_DISPATCH(softmax_backward, y, dy, dx, M, N)
}
}  // namespace ie::cpu
#endif
