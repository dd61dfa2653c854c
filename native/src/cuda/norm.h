// CUDA GroupNorm (optionally fused with SiLU) and LayerNorm with backward; semantics as
// native/src/cpu/norm.h. x, y, dy, dx, gamma, beta: device pointers of dtype dt (gamma/beta may be
// null); mean/rstd float32; dgamma/dbeta float32 (null to skip; added to with accumulate).
// Temporaries (float32 device buffers, made by the op with Tensor::empty):
//   groupnorm_forward:  tmp of groupnorm_forward_tmp(N, C, G) floats
//   groupnorm_backward: tmp of groupnorm_backward_tmp(N, C, G) floats
//   layernorm_backward: tmp of layernorm_backward_tmp(M, C) floats (0 when no parameter grads)
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

int64_t groupnorm_forward_tmp(int64_t N, int64_t C, int64_t G);
int64_t groupnorm_backward_tmp(int64_t N, int64_t C, int64_t G);
int64_t layernorm_backward_tmp(int64_t M, int64_t C, bool params);

void groupnorm_forward(DType dt, const void* x, const void* gamma, const void* beta, void* y, float* mean, float* rstd,
                       float* tmp, int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool silu, int device);
void groupnorm_backward(DType dt, const void* dy, const void* x, const void* gamma, const void* beta,
                        const float* mean, const float* rstd, void* dx, float* dgamma, float* dbeta, float* tmp,
                        int64_t N, int64_t C, int64_t HW, int64_t G, bool silu, bool accumulate, int device);
void layernorm_forward(DType dt, const void* x, const void* gamma, const void* beta, void* y, float* mean, float* rstd,
                       int64_t M, int64_t C, float eps, int device);
void layernorm_backward(DType dt, const void* dy, const void* x, const void* gamma, const float* mean,
                        const float* rstd, void* dx, float* dgamma, float* dbeta, float* tmp, int64_t M, int64_t C,
                        bool accumulate, int device);

}  // namespace ie::cuda
