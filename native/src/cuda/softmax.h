// CUDA row softmax over the last axis of x[M, N] (max-subtracted) and its backward from the output,
// dx = y ⊙ (dy − Σ_j dy_j·y_j). Device pointers of dtype dt; float32 compute.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

void softmax_forward(DType dt, const void* x, void* y, int64_t M, int64_t N, int device);
void softmax_backward(DType dt, const void* y, const void* dy, void* dx, int64_t M, int64_t N, int device);

}  // namespace ie::cuda
