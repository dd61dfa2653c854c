// float64 definition of the fused triplet + MSE loss and its test inputs (used by
// test_triplet_loss.cc and test_cuda_elem_loss.cc).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "harness.h"
#include "ie/ops.h"

namespace iet::ref {

struct TripletRef {
  double loss = 0, mse = 0, triplet = 0, counted = 0;
  std::vector<double> dpos, dneg, active, grad;
};

// loss = mse_w·mean((pos−ε)²) + w·Σ_{kept b} [h_b ≥ thr]·relu(h_b) / #kept,
// h_b = d_pos − d_neg + margin (SuperEdit's released formula).
// frozen_dpos: use these d_pos in the triplet term (a stop-gradient, for checking that option's
// gradient against differences of the function it is the gradient of).
inline TripletRef triplet_loss(const std::vector<double>& pred, const std::vector<double>& tgt, int64_t B, int64_t n,
                               const std::vector<uint8_t>& keep, const ie::ops::TripletLossOptions& o,
                               const std::vector<double>* frozen_dpos = nullptr) {
  TripletRef r;
  std::vector<double> sp(static_cast<size_t>(B)), sn(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n; ++i) {
      double dp = pred[size_t(b * n + i)] - tgt[size_t(b * n + i)], dn = pred[size_t((B + b) * n + i)] - tgt[size_t(b * n + i)];
      sp[size_t(b)] += dp * dp;
      sn[size_t(b)] += dn * dn;
    }
  for (int64_t b = 0; b < B; ++b) {
    r.mse += sp[size_t(b)];
    r.counted += keep[size_t(b)] ? 1 : 0;
  }
  r.mse /= double(B * n);
  auto dist = [&](double s) { return o.l2 ? std::sqrt(s) : s / double(n); };
  auto slope = [&](double s) { return o.l2 ? (s > 0 ? 1 / std::sqrt(s) : 0.0) : 2.0 / double(n); };
  r.grad.assign(pred.size(), 0.0);
  double tri = 0;
  for (int64_t b = 0; b < B; ++b) {
    double dp = frozen_dpos ? (*frozen_dpos)[size_t(b)] : dist(sp[size_t(b)]), dn = dist(sn[size_t(b)]), h = dp - dn + o.margin;
    bool active = keep[size_t(b)] && h > 0 && h >= o.threshold;
    if (active) tri += h;
    r.dpos.push_back(dp);
    r.dneg.push_back(dn);
    r.active.push_back(active ? 1 : 0);
    double g = active ? o.weight / r.counted : 0;
    double cp = o.mse_weight * 2 / double(B * n) + (o.stop_grad_positive ? 0 : g * slope(sp[size_t(b)]));
    double cn = -g * slope(sn[size_t(b)]);
    for (int64_t i = 0; i < n; ++i) {
      r.grad[size_t(b * n + i)] = o.grad_scale * cp * (pred[size_t(b * n + i)] - tgt[size_t(b * n + i)]);
      r.grad[size_t((B + b) * n + i)] = o.grad_scale * cn * (pred[size_t((B + b) * n + i)] - tgt[size_t(b * n + i)]);
    }
  }
  r.triplet = r.counted > 0 ? tri / r.counted : 0;
  r.loss = o.mse_weight * r.mse + o.weight * r.triplet;
  return r;
}

// pos close to ε and neg further away for some samples, the reverse for others: both hinge sides.
inline void triplet_inputs(int64_t B, int64_t n, uint64_t seed, std::vector<float>& pred, std::vector<float>& tgt) {
  tgt = iet::randn(size_t(B * n), seed);
  std::vector<float> a = iet::randn(size_t(2 * B * n), seed + 1);
  pred.resize(size_t(2 * B * n));
  for (int64_t b = 0; b < B; ++b) {
    float sp = b % 2 ? 0.5f : 0.1f, sn = b % 2 ? 0.1f : 0.5f;
    for (int64_t i = 0; i < n; ++i) {
      pred[size_t(b * n + i)] = tgt[size_t(b * n + i)] + sp * a[size_t(b * n + i)];
      pred[size_t((B + b) * n + i)] = tgt[size_t(b * n + i)] + sn * a[size_t((B + b) * n + i)];
    }
  }
}

}  // namespace iet::ref
