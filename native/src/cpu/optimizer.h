// Optimizer kernels over flat float32 buffers (a model's parameters, gradients and state):
//   adamw_step: decoupled weight decay + Adam with bias correction, as torch.optim.AdamW computes it:
//     g = gscale·grad; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
//     p = p·(1 − lr·wd); p −= (lr/bc1) · m / (√v/√bc2 + eps)       (bc_i = 1 − β_i^step)
//     The scalars (1−β1, 1−β2, 1 − lr·wd, lr/bc1, √bc2) come precomputed in double and rounded
//     once, as torch's Python-side scalars are (1 − 0.999 in float32 arithmetic is off by 1e-5).
//   sum_squares: Σ x² in double over fixed blocks summed in order (deterministic), and whether every
//     element is finite — the global gradient norm for clipping and the non-finite guard in one pass;
//   ema_update: ema += (1 − decay)·(p − ema).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, adamw_step,
               (float* p, const float* g, float* m, float* v, int64_t n, const float* k))
IE_CPU_DECLARE(void, sum_squares, (const float* x, int64_t n, double* sum, int* finite))
IE_CPU_DECLARE(void, ema_update, (float* ema, const float* p, int64_t n, float decay))

#ifndef IE_ISA
namespace ie::cpu {
// k: {β1, 1−β1, β2, 1−β2, 1 − lr·wd, lr/bc1, √bc2, eps, gscale}
inline void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, const float* k) {
  IE_CPU_DISPATCH(adamw_step, p, g, m, v, n, k)
}
inline void sum_squares(const float* x, int64_t n, double* sum, int* finite) {
  IE_CPU_DISPATCH(sum_squares, x, n, sum, finite)
}
inline void ema_update(float* ema, const float* p, int64_t n, float decay) { IE_CPU_DISPATCH(ema_update, ema, p, n, decay) }
}  // namespace ie::cpu
#endif
