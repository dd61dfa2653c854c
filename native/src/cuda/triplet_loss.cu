// Triplet + MSE loss (see triplet_loss.h):
//  1. per row r of pred ([pos; neg], 2B rows), Σ(pred[r] − ε[r mod B])² as fixed-order double
//     partials (reduce.cu's sum_sq_rows);
//  2. one thread adds each row's partials in order and evaluates, in double, the CPU op's scalar
//     code (ops/triplet_terms.h): d_pos, d_neg, hinges, the active mask, counted, the loss terms
//     (stats) and the per-row gradient coefficients (B is a batch size: a serial loop is cheap; a faster version
//     would give each sample a thread and reduce the hinge sum with a block sum);
//  3. grad[r, i] = coef[r]·(pred[r, i] − ε[r mod B, i]).
#include "cuda/common.cuh"
#include "cuda/reduce.h"
#include "cuda/triplet_loss.h"

namespace ie::cuda {
namespace {

struct KeepBits {
  uint32_t w[kTripletKeepBits / 32];
};

__global__ void triplet_stats_kernel(const double* __restrict__ partials, int64_t chunks, int64_t B, int64_t n,
                                     KeepBits bits, const int32_t* __restrict__ keep_dev, TripletParams o,
                                     float* __restrict__ coef, float* __restrict__ st) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  auto keep = [&](int64_t b) -> bool {
    return keep_dev ? keep_dev[b] != 0 : ((bits.w[b >> 5] >> (b & 31)) & 1u) != 0;
  };
  auto row_sum = [&](int64_t r) {
    double s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += partials[r * chunks + c];
    return s;
  };
  ie::triplet::terms(o, B, n, [&](int64_t b) { return row_sum(b); }, [&](int64_t b) { return row_sum(B + b); },
                     keep, coef, st);
}

__global__ void triplet_grad_kernel(const float* __restrict__ pred, const float* __restrict__ target, int64_t B,
                                    int64_t n, const float* __restrict__ coef, float* __restrict__ grad) {
  const int64_t total = 2 * B * n;
  IE_GRID_STRIDE(k, total) {
    const int64_t r = k / n, i = k - r * n;
    grad[k] = coef[r] * (pred[k] - target[(r % B) * n + i]);
  }
}

}  // namespace

int64_t triplet_partials(int64_t B, int64_t n) { return 2 * B * sum_sq_row_chunks(n); }

void triplet_loss(const float* pred, const float* target, int64_t B, int64_t n, const uint8_t* keep_host,
                  const int32_t* keep_dev, const TripletParams& p, double* partials, float* coef, float* grad,
                  float* stats, int device) {
  IE_CHECK(B >= 1 && n >= 1, "tripletLoss: empty batch or samples");
  KeepBits bits{};
  if (!keep_dev) {
    IE_CHECK(B <= kTripletKeepBits, "tripletLoss: a mask of ", B, " samples must be passed on the device");
    for (int64_t b = 0; b < B; ++b)
      if (keep_host[b]) bits.w[b >> 5] |= 1u << (b & 31);
  }
  sum_sq_rows(pred, target, 2 * B, n, B, partials, device);
  cudaStream_t s = stream(device);
  triplet_stats_kernel<<<1, 32, 0, s>>>(partials, sum_sq_row_chunks(n), B, n, bits, keep_dev, p, coef, stats);
  check_launch("tripletLoss (stats)");
  const int64_t total = 2 * B * n;
  triplet_grad_kernel<<<grid_for(total, 256, device), 256, 0, s>>>(pred, target, B, n, coef, grad);
  check_launch("tripletLoss (gradient)");
}

}  // namespace ie::cuda
