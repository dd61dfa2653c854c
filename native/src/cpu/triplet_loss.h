// SuperEdit's triplet loss fused with InstructPix2Pix's MSE, in two passes over the data:
//   pass 1 (triplet_sums): per sample b, S_pos[b] = Σ(pos − ε)², S_neg[b] = Σ(neg − ε)², in double,
//     over fixed blocks summed in order (the same result on any thread count);
//   host: d = S/n ('mse') or √S ('l2'); hinge_b = d_pos − d_neg + margin; the loss terms and two
//     per-sample coefficients;
//   pass 2 (triplet_grad): grad_pos = cp_b·(pos − ε), grad_neg = cn_b·(neg − ε).
// pred [2B, n] holds pos (rows 0..B-1) then neg (rows B..2B-1); target [B, n].
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, triplet_sums, (const float* pred, const float* target, int64_t B, int64_t n, double* s_pos, double* s_neg))
IE_CPU_DECLARE(void, triplet_grad,
               (const float* pred, const float* target, int64_t B, int64_t n, const float* cp, const float* cn, float* grad))

#ifndef IE_ISA
namespace ie::cpu {
inline void triplet_sums(const float* pred, const float* target, int64_t B, int64_t n, double* s_pos, double* s_neg) {
  IE_CPU_DISPATCH(triplet_sums, pred, target, B, n, s_pos, s_neg)
}
inline void triplet_grad(const float* pred, const float* target, int64_t B, int64_t n, const float* cp, const float* cn,
                         float* grad) {
  IE_CPU_DISPATCH(triplet_grad, pred, target, B, n, cp, cn, grad)
}
}  // namespace ie::cpu
#endif
