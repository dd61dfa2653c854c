// Mean squared error over n elements: loss[0] = Σ(pred − target)² / n (accumulated in double).
// Backward: dpred = grad[0] · 2(pred − target) / n; grad is a 1-element buffer (the upstream
// gradient, usually 1), read when the kernel runs.
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, mse_forward, (const float* pred, const float* target, float* loss, int64_t n))
IE_CPU_DECLARE(void, mse_backward, (const float* pred, const float* target, const float* grad, float* dpred, int64_t n))

#ifndef IE_ISA
namespace ie::cpu {
inline void mse_forward(const float* pred, const float* target, float* loss, int64_t n) {
  IE_CPU_DISPATCH(mse_forward, pred, target, loss, n)
}
inline void mse_backward(const float* pred, const float* target, const float* grad, float* dpred, int64_t n) {
  IE_CPU_DISPATCH(mse_backward, pred, target, grad, dpred, n)
}
}  // namespace ie::cpu
#endif
