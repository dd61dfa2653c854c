// Triplet + MSE loss (see triplet_loss.h):
//  1. per row r of pred ([pos; neg], 2B rows), Σ(pred[r] − ε[r mod B])² as fixed-order double
//     partials (reduce.cu's sum_sq_rows);
//  2. one thread adds each row's partials in order and evaluates, in double, exactly the CPU op's
//     scalar code: d_pos, d_neg, hinges, the active mask, counted, the loss terms (stats) and the
//     per-row gradient coefficients (B is a batch size: a serial loop is cheap; a faster version
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
  const double N = double(B) * double(n);
  double sum_pos = 0;
  int64_t counted = 0;
  for (int64_t b = 0; b < B; ++b) {
    sum_pos += row_sum(b);
    counted += keep(b) ? 1 : 0;
  }
  const double mse = sum_pos / N;
  auto dist = [&](double s) { return o.l2 ? sqrt(s) : s / double(n); };
  auto dslope = [&](double s) { return o.l2 ? (s > 0 ? 1.0 / sqrt(s) : 0.0) : 2.0 / double(n); };
  double tri = 0;
  for (int64_t b = 0; b < B; ++b) {
    const double sp = row_sum(b), sn = row_sum(B + b);
    const double dp = dist(sp), dn = dist(sn);
    const double h = dp - dn + o.margin;
    const bool active = keep(b) && h > 0 && h >= o.threshold;
    if (active) tri += h;
    const double g = (active && counted > 0) ? o.weight / double(counted) : 0.0;
    coef[b] = float(o.grad_scale * (o.mse_weight * 2.0 / N + (o.stop_grad_positive ? 0.0 : g * dslope(sp))));
    coef[B + b] = float(o.grad_scale * (-g * dslope(sn)));
    st[4 + b] = float(dp);
    st[4 + B + b] = float(dn);
    st[4 + 2 * B + b] = active ? 1.f : 0.f;
  }
  const double triplet = counted > 0 ? tri / double(counted) : 0.0;
  st[0] = float(o.mse_weight * mse + o.weight * triplet);
  st[1] = float(mse);
  st[2] = float(triplet);
  st[3] = float(counted);
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
