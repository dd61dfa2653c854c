// Mean squared error on the GPU (float32, as on the CPU). Plain C++.
#pragma once
#include <cstdint>

namespace ie::cuda {

// loss[0] = Σ(pred − target)² / n, accumulated in double in a fixed order; `partials` is a
// temporary of sum_sq_row_chunks(n) doubles (cuda/reduce.h).
void mse_forward(const float* pred, const float* target, int64_t n, double* partials, float* loss, int device);
// dpred = k·(pred − target), k = float(2·grad[0] / n) (grad: one float on the device, read by the kernel).
void mse_backward(const float* pred, const float* target, const float* grad, float* dpred, int64_t n, int device);

}  // namespace ie::cuda
