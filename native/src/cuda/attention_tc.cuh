// Tensor-core (mma.sync m16n8k16) flash-attention forward for float16/bfloat16, used by
// ie::cuda::attention_forward (attention.cu) for the head dims it supports. Plain C++ declarations;
// the kernels are in attention_tc.cu. Semantics and layout as native/src/cuda/attention.h.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// float16/bfloat16 with D in {32, 40, 64, 80, 96, 128, 160}.
bool attention_tc_supported(DType dt, int64_t D);

// Requires attention_tc_supported(dt, D); sizes > 0 (the caller returns early otherwise).
void attention_forward_tc(DType dt, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                          int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal, int device);

}  // namespace ie::cuda
