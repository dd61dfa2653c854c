// The scalar part of SuperEdit's triplet loss fused with the MSE, shared by the CPU op
// (ops/triplet_loss.cc) and the CUDA kernel (cuda/triplet_loss.cu) so both compute it identically,
// in double: given each sample's Σ(pos − ε)² and Σ(neg − ε)², the distances, hinges, the active
// mask, the loss terms (the stats layout of ops::TripletLossOut) and the per-row gradient
// coefficients (grad[r] = coef[r]·(pred[r] − ε[r mod B])). Host and device code (IE_HD).
#pragma once
#include <cmath>
#include <cstdint>

#include "ie/half.h"  // IE_HD

namespace ie::triplet {

struct Params {
  double margin, weight, mse_weight, threshold, grad_scale;
  bool l2, stop_grad_positive;
};

// sp(b), sn(b): the sums of squares of sample b's positive and negative rows; keep(b): it counts in
// the triplet mean. B samples of n elements. Writes coef[2B] and stats[4 + 3B].
template <typename SumPos, typename SumNeg, typename Keep>
IE_HD void terms(const Params& o, int64_t B, int64_t n, SumPos sp, SumNeg sn, Keep keep, float* coef, float* st) {
  const double N = double(B) * double(n);
  double sum_pos = 0;
  int64_t counted = 0;
  for (int64_t b = 0; b < B; ++b) {
    sum_pos += sp(b);
    counted += keep(b) ? 1 : 0;
  }
  const double mse = sum_pos / N;
  // d dist / d x = k·(x − ε): 2/n for the mean square, 1/‖x − ε‖ for the norm (0 at 0: the
  // subgradient that never produces NaN, where torch's norm backward divides by zero).
  auto dist = [&](double s) { return o.l2 ? sqrt(s) : s / double(n); };
  auto dslope = [&](double s) { return o.l2 ? (s > 0 ? 1.0 / sqrt(s) : 0.0) : 2.0 / double(n); };
  double tri = 0;
  for (int64_t b = 0; b < B; ++b) {
    const double p = sp(b), q = sn(b);
    const double dp = dist(p), dn = dist(q);
    const double h = dp - dn + o.margin;
    // relu'(0) = 0 as in PyTorch; a hinge below the threshold is masked out (SuperEdit's release:
    // loss *= (loss >= threshold), the sample still in the denominator).
    const bool active = keep(b) && h > 0 && h >= o.threshold;
    if (active) tri += h;
    const double g = (active && counted > 0) ? o.weight / double(counted) : 0.0;
    coef[b] = float(o.grad_scale * (o.mse_weight * 2.0 / N + (o.stop_grad_positive ? 0.0 : g * dslope(p))));
    coef[B + b] = float(o.grad_scale * (-g * dslope(q)));
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

}  // namespace ie::triplet
