// Linear layer (PyTorch layout): y[M,N] = x[M,K] · w[N,K]ᵀ + b[N]; b may be null.
// Backward: dx = dy · w (skipped when dx is null), dw = dyᵀ · x, db = Σ_m dy (each skipped when
// null). With accumulate, dw and db are added to instead of overwritten (dx is always overwritten).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, linear_forward,
               (const float* x, const float* w, const float* b, float* y, int64_t M, int64_t K, int64_t N))
IE_CPU_DECLARE(void, linear_backward,
               (const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t M,
                int64_t K, int64_t N, bool accumulate))

#ifndef IE_ISA
namespace ie::cpu {
inline void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t M, int64_t K,
                           int64_t N) {
  IE_CPU_DISPATCH(linear_forward, x, w, b, y, M, K, N)
}
inline void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                            int64_t M, int64_t K, int64_t N, bool accumulate) {
  IE_CPU_DISPATCH(linear_backward, x, w, dy, dx, dw, db, M, K, N, accumulate)
}
}  // namespace ie::cpu
#endif
