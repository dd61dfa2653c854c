// Fused multi-head attention (flash-attention style: the Lq×Lk score matrix is never materialised;
// memory O(L·d)). Layout as diffusers' projections give it: q[B,Lq,H·D], k and v[B,Lk,H·D], head h
// owns channels [h·D, (h+1)·D). out[B,Lq,H·D] = softmax(q·kᵀ·scale [+ causal mask]) · v per head.
// lse[B,H,Lq] (log-sum-exp of the scaled scores per query row) is saved for the backward pass.
// causal: query i attends to keys j <= i (CLIP's text encoder; requires Lq == Lk).
// Backward recomputes the scores from q, k, lse; writes dq, dk, dv (overwritten).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, attention_forward,
               (const float* q, const float* k, const float* v, float* out, float* lse, int64_t B, int64_t H,
                int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal))
IE_CPU_DECLARE(void, attention_backward,
               (const float* q, const float* k, const float* v, const float* out, const float* lse,
                const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                int64_t D, float scale, bool causal))

#ifndef IE_ISA
namespace ie::cpu {
inline void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse, int64_t B,
                              int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal) {
  IE_CPU_DISPATCH(attention_forward, q, k, v, out, lse, B, H, Lq, Lk, D, scale, causal)
}
inline void attention_backward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                               const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t H, int64_t Lq,
                               int64_t Lk, int64_t D, float scale, bool causal) {
  IE_CPU_DISPATCH(attention_backward, q, k, v, out, lse, dout, dq, dk, dv, B, H, Lq, Lk, D, scale, causal)
}
}  // namespace ie::cpu
#endif
