// CUDA fused multi-head attention (flash-attention style), semantics and layout as
// native/src/cpu/attention.h: q[B, Lq, H·D], k/v[B, Lk, H·D] and out of dtype dt; lse[B, H, Lq]
// float32. Backward writes dq, dk, dv (dtype dt, overwritten); `tmp` is a float32 device buffer of
// attention_backward_tmp(B, H, Lq) floats (rowsum(dO∘O) per query row).
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// Head dims above this have no CUDA kernel yet (the tiles keep a whole head row in shared memory).
constexpr int64_t kAttentionMaxHeadDim = 256;

int64_t attention_backward_tmp(int64_t B, int64_t H, int64_t Lq);

// Whether attention_forward / attention_backward take the tensor-core kernels (float16/bfloat16, D
// in {32, 40, 64, 80, 96, 128, 160}) rather than the float32-SIMT ones; INSTRUCTEDIT_ATTENTION=simt
// in the environment (read at every call) forces the SIMT kernels.
bool attention_uses_tc(DType dt, int64_t D);

void attention_forward(DType dt, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                       int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal, int device);
void attention_backward(DType dt, const void* q, const void* k, const void* v, const void* out, const float* lse,
                        const void* dout, void* dq, void* dk, void* dv, float* tmp, int64_t B, int64_t H, int64_t Lq,
                        int64_t Lk, int64_t D, float scale, bool causal, int device);

}  // namespace ie::cuda
