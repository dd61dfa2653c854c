// The fused triplet + MSE loss vs a float64 reference on fresh random inputs (every option, every
// CPU path, several thread counts), its gradient vs central differences of that reference, the hinge
// boundary (relu'(0) = 0), the zero-distance L2 case (no NaN), masks, and argument errors.
#include <cmath>

#include "harness.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/parallel.h"
#include "reference/triplet_loss.h"

namespace {

using ie::ops::TripletLossOptions;
using Ref = iet::ref::TripletRef;

std::vector<float> host(const ie::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  ie::ops::copy_to_host(t, v.data());
  return v;
}

void check_case(int64_t B, int64_t C, int64_t HW, const TripletLossOptions& o, const std::vector<uint8_t>& keep,
                uint64_t seed, const std::string& name) {
  const int64_t n = C * HW;
  std::vector<float> pred, tgt;
  iet::ref::triplet_inputs(B, n, seed, pred, tgt);
  Ref r = iet::ref::triplet_loss(iet::to_double(pred), iet::to_double(tgt), B, n, keep, o);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 3}) {
      ie::set_num_threads(threads);
      ie::Tensor P = ie::ops::from_host(pred.data(), pred.size() * 4, {2 * B, C, HW}, ie::DType::F32, {});
      ie::Tensor T = ie::ops::from_host(tgt.data(), tgt.size() * 4, {B, C, HW}, ie::DType::F32, {});
      ie::ops::TripletLossOut out = ie::ops::triplet_loss(P, T, keep, o);
      std::vector<float> st = host(out.stats), g = host(out.grad);
      std::vector<double> got_terms{st[0], st[1], st[2], st[3]}, want_terms{r.loss, r.mse, r.triplet, r.counted};
      IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin(), st.begin() + 4), want_terms), 1e-6, name + " loss terms");
      IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin() + 4, st.begin() + 4 + B), r.dpos), 1e-6, name + " d_pos");
      IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin() + 4 + B, st.begin() + 4 + 2 * B), r.dneg), 1e-6, name + " d_neg");
      for (int64_t b = 0; b < B; ++b) IE_EXPECT(st[size_t(4 + 2 * B + b)] == float(r.active[size_t(b)]), name + " active[" + std::to_string(b) + "]");
      IE_EXPECT_REL(iet::rel_error(g, r.grad), 1e-6, name + " gradient");
      (void)got_terms;
    }
    ie::set_num_threads(0);
  });
  // gradient vs central differences of the float64 definition (inputs are away from the hinge)
  std::vector<double> x = iet::to_double(pred), t = iet::to_double(tgt), v = iet::to_double(iet::randn(pred.size(), seed + 7));
  // with stop_grad_positive the gradient is that of the loss with d_pos held at its value
  const std::vector<double>* frozen = o.stop_grad_positive ? &r.dpos : nullptr;
  auto f = [&](const std::vector<double>& xx) { return iet::ref::triplet_loss(xx, t, B, n, keep, o, frozen).loss * o.grad_scale; };
  double fd = iet::directional_fd(f, x, v, 1e-6);
  double an = iet::dot(r.grad, v);
  IE_EXPECT_REL(std::fabs(an - fd) / std::fmax(std::fabs(fd), 1e-12), 1e-5, name + " <grad, v> vs central difference");
}

}  // namespace

IE_TEST(triplet_loss, mse_distance_matches_float64_and_fd) {
  TripletLossOptions o;
  o.margin = 5e-4;
  check_case(4, 4, 64, o, {1, 1, 1, 1}, 700, "mse");
  o.weight = 0.7;
  o.mse_weight = 0.3;
  o.grad_scale = 0.25;
  o.margin = 0.05;
  check_case(3, 4, 77, o, {1, 0, 1}, 710, "mse weights, mask, scale");
  o.stop_grad_positive = true;
  check_case(4, 2, 50, o, {1, 1, 0, 1}, 720, "mse stop-grad positive");
  o = TripletLossOptions{};
  o.margin = 0.3;      // hinges ≈ 0.54 (odd b) and ≈ 0.06 (even b)
  o.threshold = 0.25;  // between them: the even samples are floored to 0
  check_case(4, 4, 64, o, {1, 1, 1, 1}, 730, "mse hinge threshold");
}

IE_TEST(triplet_loss, l2_distance_matches_float64_and_fd) {
  TripletLossOptions o;
  o.l2 = true;
  o.margin = 0.5;
  check_case(4, 4, 64, o, {1, 1, 1, 1}, 740, "l2");
  o.stop_grad_positive = true;
  o.grad_scale = 0.5;
  check_case(2, 3, 100, o, {0, 1}, 750, "l2 stop-grad, mask");
}

IE_TEST(triplet_loss, large_samples_reduce_deterministically) {
  // n > one reduction block: the same bits on 1 and 2 threads
  const int64_t B = 2, n = 4 * 64 * 64;
  std::vector<float> pred, tgt;
  iet::ref::triplet_inputs(B, n, 760, pred, tgt);
  TripletLossOptions o;
  o.margin = 0.3;
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2}) {
    ie::set_num_threads(threads);
    ie::Tensor P = ie::ops::from_host(pred.data(), pred.size() * 4, {2 * B, n}, ie::DType::F32, {});
    ie::Tensor T = ie::ops::from_host(tgt.data(), tgt.size() * 4, {B, n}, ie::DType::F32, {});
    runs.push_back(host(ie::ops::triplet_loss(P, T, {1, 1}, o).stats));
  }
  ie::set_num_threads(0);
  IE_EXPECT(runs[0] == runs[1], "stats identical on 1 and 2 threads");
  Ref r = iet::ref::triplet_loss(iet::to_double(pred), iet::to_double(tgt), B, n, {1, 1}, o);
  IE_EXPECT_REL(std::fabs(runs[0][0] - r.loss) / r.loss, 1e-6, "loss vs float64");
}

IE_TEST(triplet_loss, hinge_boundary_and_zero_distance) {
  // pos == neg and margin 0: d_pos − d_neg + margin is exactly 0 -> inactive (relu'(0) = 0), no
  // triplet gradient into either branch.
  const int64_t B = 2, n = 40;
  std::vector<float> tgt = iet::randn(size_t(B * n), 770), a = iet::randn(size_t(B * n), 771), pred(size_t(2 * B * n));
  for (int64_t i = 0; i < B * n; ++i) pred[size_t(i)] = pred[size_t(B * n + i)] = tgt[size_t(i)] + 0.3f * a[size_t(i)];
  TripletLossOptions o;
  o.margin = 0;
  o.mse_weight = 0;
  ie::Tensor P = ie::ops::from_host(pred.data(), pred.size() * 4, {2 * B, n}, ie::DType::F32, {});
  ie::Tensor T = ie::ops::from_host(tgt.data(), tgt.size() * 4, {B, n}, ie::DType::F32, {});
  ie::ops::TripletLossOut out = ie::ops::triplet_loss(P, T, {1, 1}, o);
  std::vector<float> st = host(out.stats), g = host(out.grad);
  IE_EXPECT(st[2] == 0.f && st[4 + 2 * B] == 0.f && st[4 + 2 * B + 1] == 0.f, "h = 0 exactly is inactive");
  double gmax = 0;
  for (float x : g) gmax = std::fmax(gmax, std::fabs(x));
  IE_EXPECT(gmax == 0.0, "no gradient at the boundary, got max " + std::to_string(gmax));
  // L2 with pos == ε exactly: d_pos = 0 and its slope is taken as 0 (never NaN)
  for (int64_t i = 0; i < B * n; ++i) pred[size_t(i)] = tgt[size_t(i)];
  o = TripletLossOptions{};
  o.l2 = true;
  o.margin = 1.0;
  P = ie::ops::from_host(pred.data(), pred.size() * 4, {2 * B, n}, ie::DType::F32, {});
  out = ie::ops::triplet_loss(P, T, {1, 1}, o);
  st = host(out.stats);
  g = host(out.grad);
  bool finite = std::isfinite(st[0]);
  for (float x : g) finite = finite && std::isfinite(x);
  IE_EXPECT(finite, "zero distance under l2 gives finite loss and gradient");
  IE_EXPECT(st[4] == 0.f && g[0] == 0.f, "d_pos = 0 and no gradient into pos at zero distance");
  // everything masked: triplet 0, loss = mse
  out = ie::ops::triplet_loss(P, T, {0, 0}, o);
  st = host(out.stats);
  IE_EXPECT(st[2] == 0.f && st[3] == 0.f && st[0] == st[1], "all masked: triplet 0, counted 0");
}

IE_TEST(triplet_loss, bad_arguments) {
  ie::Tensor P = ie::ops::zeros({4, 3}, ie::DType::F32, {}), T = ie::ops::zeros({2, 3}, ie::DType::F32, {});
  TripletLossOptions o;
  IE_EXPECT(iet::throws_with([&] { ie::ops::triplet_loss(T, T, {1, 1}, o); }, "[2B, ...]"), "pred must be 2B rows");
  IE_EXPECT(iet::throws_with([&] { ie::ops::triplet_loss(P, T, {1}, o); }, "mask has 1 entries"), "mask length");
  o.margin = NAN;
  IE_EXPECT(iet::throws_with([&] { ie::ops::triplet_loss(P, T, {1, 1}, o); }, "finite"), "NaN option");
}
