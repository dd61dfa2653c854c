// GroupNorm (optionally fused with SiLU) and LayerNorm, with backward.
//
// GroupNorm: x[N,C,HW] split into G contiguous channel groups; mean and biased variance per (n, g)
// over (C/G)·HW; y = (x − μ)·rstd·γ_c + β_c, then y = SiLU(y) when silu. mean/rstd [N,G] are saved
// for backward. gamma/beta may be null (1 and 0). Backward takes dy w.r.t. the final output
// (after SiLU when silu) and gives dx (overwritten) and dgamma/dbeta (null to skip; added to with
// accumulate).
// LayerNorm: over the last axis of x[M,C]; mean/rstd [M].
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, groupnorm_forward,
               (const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu))
IE_CPU_DECLARE(void, groupnorm_backward,
               (const float* dy, const float* x, const float* gamma, const float* beta, const float* mean,
                const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t N, int64_t C, int64_t HW,
                int64_t G, bool silu, bool accumulate))
IE_CPU_DECLARE(void, layernorm_forward,
               (const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t M, int64_t C, float eps))
IE_CPU_DECLARE(void, layernorm_backward,
               (const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                float* dx, float* dgamma, float* dbeta, int64_t M, int64_t C, bool accumulate))

#ifndef IE_ISA
namespace ie::cpu {
inline void groupnorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu) {
  IE_CPU_DISPATCH(groupnorm_forward, x, gamma, beta, y, mean, rstd, N, C, HW, G, eps, silu)
}
inline void groupnorm_backward(const float* dy, const float* x, const float* gamma, const float* beta,
                               const float* mean, const float* rstd, float* dx, float* dgamma, float* dbeta,
                               int64_t N, int64_t C, int64_t HW, int64_t G, bool silu, bool accumulate) {
  IE_CPU_DISPATCH(groupnorm_backward, dy, x, gamma, beta, mean, rstd, dx, dgamma, dbeta, N, C, HW, G, silu,
                  accumulate)
}
inline void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                              float* rstd, int64_t M, int64_t C, float eps) {
  IE_CPU_DISPATCH(layernorm_forward, x, gamma, beta, y, mean, rstd, M, C, eps)
}
inline void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                               const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t M, int64_t C,
                               bool accumulate) {
  IE_CPU_DISPATCH(layernorm_backward, dy, x, gamma, mean, rstd, dx, dgamma, dbeta, M, C, accumulate)
}
}  // namespace ie::cpu
#endif
