// CUDA nearest upsampling x[NC, H, W] -> y[NC, OH, OW] with PyTorch's index rule (see
// native/src/cpu/upsample.h) and its backward dx[NC, H, W] = Σ dy over the outputs reading each
// input pixel (a gather: no atomics, the CPU kernel's summation order). dtype dt, float32 sums.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

void upsample_nearest_forward(DType dt, const void* x, void* y, int64_t NC, int64_t H, int64_t W, int64_t OH,
                              int64_t OW, int device);
void upsample_nearest_backward(DType dt, const void* dy, void* dx, int64_t NC, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, int device);

}  // namespace ie::cuda
