// Tensor-core (mma.sync m16n8k16) flash-attention forward and backward for float16/bfloat16, used
// by ie::cuda::attention_forward / attention_backward (attention.cu) for the head dims they support.
// Plain C++ declarations; the kernels are in attention_tc.cu. Semantics and layout as
// native/src/cuda/attention.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// float16/bfloat16 with D in {32, 40, 64, 80, 96, 128, 160}.
bool attention_tc_supported(DType dt, int64_t D);
// Dynamic shared memory (bytes) the tensor-core forward / backward kernels need at head dim D.
size_t attention_tc_smem(int64_t D, bool backward);

// Requires attention_tc_supported(dt, D); sizes > 0 (the caller returns early otherwise).
void attention_forward_tc(DType dt, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                          int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal, int device);

// dq, dk, dv (dtype dt, overwritten) from q, k, v, dout, lse (float32 [B, H, Lq]) and dvec
// (float32 [B, H, Lq], Σ_d dO·O per query row, written before by the caller). Requires
// attention_tc_supported(dt, D) and Lq > 0 (the caller zeroes dk/dv when Lq == 0).
void attention_backward_tc(DType dt, const void* q, const void* k, const void* v, const void* dout, const float* lse,
                           const float* dvec, void* dq, void* dk, void* dv, int64_t B, int64_t H, int64_t Lq,
                           int64_t Lk, int64_t D, float scale, bool causal, int device);

}  // namespace ie::cuda
