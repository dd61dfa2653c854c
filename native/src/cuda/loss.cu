// Mean squared error: the forward is the deterministic double sum of squares of reduce.cu; the
// backward one elementwise pass.
#include "cuda/common.cuh"
#include "cuda/loss.h"
#include "cuda/reduce.h"

namespace ie::cuda {
namespace {

__global__ void mse_backward_kernel(const float* __restrict__ pred, const float* __restrict__ target,
                                    const float* __restrict__ grad, float* __restrict__ dpred, int64_t n) {
  const float k = float(2.0 * double(grad[0]) / double(n));  // as cpu/loss.cc
  IE_GRID_STRIDE(i, n) dpred[i] = k * (pred[i] - target[i]);
}

}  // namespace

void mse_forward(const float* pred, const float* target, int64_t n, double* partials, float* loss, int device) {
  sum_sq(pred, target, n, partials, SumSqOut::Mean, loss, device);
}

void mse_backward(const float* pred, const float* target, const float* grad, float* dpred, int64_t n, int device) {
  if (n <= 0) return;
  mse_backward_kernel<<<grid_for(n, 256, device), 256, 0, stream(device)>>>(pred, target, grad, dpred, n);
  check_launch("mse_loss_backward");
}

}  // namespace ie::cuda
