// CUDA losses, optimizer, guidance and scheduler kernels on the GPU through the ie::ops API, against
// float64 references computed here (and, where the op is float32-exact on both, the CPU op): MSE and
// its backward, the fused triplet loss (stats layout, mask, threshold, l2, stop-grad, grad scale),
// AdamW over steps, sum_squares (deterministic, non-finite flag), EMA, pix2pix guidance and its
// backward (float32/float16/bfloat16), the fused scheduler step (given, Philox and no noise),
// scale and mix_rows. Skipped without a GPU.
//
// Tolerances: float32 1e-5 relative unless stated (the double-accumulated sums are ~1e-7); float16
// 1e-2 and bfloat16 2e-2 (storage rounding of 2^-11 / 2^-8 per value).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "ie/error.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/philox.h"
#include "ie/tensor.h"

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;
namespace ops = ie::ops;

const ie::Device kGpu{ie::DeviceType::CUDA, 0};
const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};
double tol_for(DType dt) { return dt == DType::F32 ? 1e-5 : dt == DType::F16 ? 1e-2 : 2e-2; }
std::string dname(DType dt) { return ie::dtype_name(dt); }

float round_to(DType dt, float v) {
  if (dt == DType::F16) return ie::f16_to_float(ie::float_to_f16(v));
  if (dt == DType::BF16) return ie::bf16_to_float(ie::float_to_bf16(v));
  return v;
}
std::vector<float> rounded(DType dt, std::vector<float> v) {
  for (float& x : v) x = round_to(dt, x);
  return v;
}
Tensor gpu(const std::vector<float>& v, const Shape& s, DType dt = DType::F32) {
  if (dt == DType::F32) return ops::from_host(v.data(), v.size() * 4, s, DType::F32, kGpu);
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = dt == DType::F16 ? ie::float_to_f16(v[i]) : ie::float_to_bf16(v[i]);
  return ops::from_host(h.data(), h.size() * 2, s, dt, kGpu);
}
Tensor gpu1(const std::vector<float>& v) { return gpu(v, {int64_t(v.size())}); }
Tensor cpu1(const std::vector<float>& v) {
  return ops::from_host(v.data(), v.size() * 4, {int64_t(v.size())}, DType::F32, ie::Device{});
}
std::vector<float> host(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  if (t.dtype() == DType::F32) {
    ops::copy_to_host(t, v.data());
    return v;
  }
  std::vector<uint16_t> h(v.size());
  ops::copy_to_host(t, h.data());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.dtype() == DType::F16 ? ie::f16_to_float(h[i]) : ie::bf16_to_float(h[i]);
  return v;
}

}  // namespace

// ---- MSE ----

IE_TEST(cuda_elem_loss, mse_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(1), size_t(7), size_t(1003), size_t(100003)}) {
    std::vector<float> p = iet::randn(n, 31000 + n), t = iet::randn(n, 31001 + n, 0.5f);
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += (double(p[i]) - t[i]) * (double(p[i]) - t[i]);
    const double loss_ref = s / double(n);
    const float g = 0.7f;
    std::vector<double> dref(n);
    for (size_t i = 0; i < n; ++i) dref[i] = double(g) * 2 * (double(p[i]) - t[i]) / double(n);
    const std::string nm = "mse n=" + std::to_string(n);
    Tensor P = gpu1(p), T = gpu1(t);
    Tensor loss = ops::mse_loss(P, T);
    IE_EXPECT(loss.ndim() == 0 && loss.dtype() == DType::F32, nm + ": loss is " + loss.desc());
    std::vector<float> l = host(loss);
    // double accumulation: only the final rounding to float32
    IE_EXPECT_REL(std::fabs(l[0] - loss_ref) / loss_ref, 1e-6, nm + " loss vs float64");
    std::vector<float> l2 = host(ops::mse_loss(P, T));
    IE_EXPECT(std::memcmp(l.data(), l2.data(), 4) == 0, nm + ": the same bits on a second run");
    Tensor d = ops::mse_loss_backward(P, T, gpu({g}, {}));
    IE_EXPECT_REL(iet::rel_error(host(d), dref), 1e-6, nm + " dpred");
  }
  IE_EXPECT(iet::throws_with([] { ops::mse_loss(gpu1(iet::randn(6, 1)), gpu(iet::randn(6, 2), {3, 2})); },
                             "mseLoss: pred [6] and target [3, 2] must have the same shape"),
            "mse shape error on cuda");
}

// ---- triplet loss ----

namespace {

using ops::TripletLossOptions;

struct Ref {
  double loss = 0, mse = 0, triplet = 0, counted = 0;
  std::vector<double> dpos, dneg, active, grad;
};

// tests/native/test_triplet_loss.cc's float64 definition.
Ref triplet_reference(const std::vector<double>& pred, const std::vector<double>& tgt, int64_t B, int64_t n,
                      const std::vector<uint8_t>& keep, const TripletLossOptions& o) {
  Ref r;
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
    double dp = dist(sp[size_t(b)]), dn = dist(sn[size_t(b)]), h = dp - dn + o.margin;
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
void make_inputs(int64_t B, int64_t n, uint64_t seed, std::vector<float>& pred, std::vector<float>& tgt) {
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

void check_triplet(int64_t B, int64_t C, int64_t HW, const TripletLossOptions& o, const std::vector<uint8_t>& keep,
                   uint64_t seed, const std::string& name) {
  const int64_t n = C * HW;
  std::vector<float> pred, tgt;
  make_inputs(B, n, seed, pred, tgt);
  Ref r = triplet_reference(iet::to_double(pred), iet::to_double(tgt), B, n, keep, o);
  Tensor P = gpu(pred, {2 * B, C, HW}), T = gpu(tgt, {B, C, HW});
  ops::TripletLossOut out = ops::triplet_loss(P, T, keep, o);
  IE_EXPECT(out.stats.shape() == Shape{4 + 3 * B} && out.grad.shape() == P.shape(),
            name + ": stats " + out.stats.desc() + ", grad " + out.grad.desc());
  std::vector<float> st = host(out.stats), g = host(out.grad);
  const std::vector<double> want_terms{r.loss, r.mse, r.triplet, r.counted};
  IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin(), st.begin() + 4), want_terms), 1e-6, name + " loss terms");
  IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin() + 4, st.begin() + 4 + B), r.dpos), 1e-6, name + " d_pos");
  IE_EXPECT_REL(iet::rel_error(std::vector<float>(st.begin() + 4 + B, st.begin() + 4 + 2 * B), r.dneg), 1e-6, name + " d_neg");
  int wrong = 0;
  for (int64_t b = 0; b < B; ++b) wrong += st[size_t(4 + 2 * B + b)] == float(r.active[size_t(b)]) ? 0 : 1;
  IE_EXPECT(wrong == 0, name + ": " + std::to_string(wrong) + " active flags differ");
  IE_EXPECT_REL(iet::rel_error(g, r.grad), 1e-6, name + " gradient");
  // the same bits on a second run (fixed-order reductions)
  ops::TripletLossOut again = ops::triplet_loss(P, T, keep, o);
  IE_EXPECT(host(again.stats) == st && host(again.grad) == g, name + ": a second run gives other bits");
}

}  // namespace

IE_TEST(cuda_elem_loss, triplet_mse_distance) {
  if (!iet::cuda_device_or_skip()) return;
  TripletLossOptions o;
  check_triplet(4, 4, 64, o, {1, 1, 1, 1}, 31100, "mse");
  o.weight = 0.7;
  o.mse_weight = 0.3;
  o.grad_scale = 0.25;
  o.margin = 0.05;
  check_triplet(3, 4, 77, o, {1, 0, 1}, 31110, "mse weights, mask, scale");
  o.stop_grad_positive = true;
  check_triplet(4, 2, 50, o, {1, 1, 0, 1}, 31120, "mse stop-grad positive");
  o = TripletLossOptions{};
  o.margin = 0.3;
  o.threshold = 0.25;  // the even samples' hinges (≈ 0.06) are floored to 0
  check_triplet(4, 4, 64, o, {1, 1, 1, 1}, 31130, "mse hinge threshold");
  check_triplet(1, 1, 1, TripletLossOptions{}, {1}, 31140, "one element");
  check_triplet(2, 4, 64 * 64, TripletLossOptions{}, {1, 1}, 31150, "large samples (several partial chunks)");
  check_triplet(3, 1, 7, TripletLossOptions{}, {0, 0, 0}, 31160, "nothing kept");
}

IE_TEST(cuda_elem_loss, triplet_l2_distance_and_big_masks) {
  if (!iet::cuda_device_or_skip()) return;
  TripletLossOptions o;
  o.l2 = true;
  o.margin = 0.5;
  check_triplet(4, 4, 64, o, {1, 1, 1, 1}, 31200, "l2");
  o.stop_grad_positive = true;
  o.grad_scale = 0.5;
  check_triplet(2, 3, 100, o, {0, 1}, 31210, "l2 stop-grad, mask");
  // masks longer than the kernel-argument bits (4096) go through a device buffer
  for (int64_t B : {int64_t(33), int64_t(4096), int64_t(5000)}) {
    std::vector<uint8_t> keep(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) keep[size_t(b)] = (b * 7) % 5 != 0;
    check_triplet(B, 1, 3, TripletLossOptions{}, keep, 31220 + uint64_t(B), "B=" + std::to_string(B) + " mask");
  }
  // zero distance with l2: no NaN
  std::vector<float> t = iet::randn(8, 31230), p(16);
  for (int i = 0; i < 16; ++i) p[size_t(i)] = t[size_t(i % 8)];
  o = TripletLossOptions{};
  o.l2 = true;
  ops::TripletLossOut out = ops::triplet_loss(gpu(p, {4, 4}), gpu(t, {2, 4}), {1, 1}, o);
  bool finite = true;
  for (float v : host(out.grad)) finite = finite && std::isfinite(v);
  for (float v : host(out.stats)) finite = finite && std::isfinite(v);
  IE_EXPECT(finite, "l2 at zero distance stays finite");
}

// ---- optimizer ----

IE_TEST(cuda_elem_loss, adamw_over_steps) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(1), size_t(33), size_t(100003)}) {
    std::vector<float> p0 = iet::randn(n, 31300 + n), m0(n, 0.f), v0(n, 0.f);
    ops::AdamWOptions o;
    o.lr = 3e-3;
    o.weight_decay = 0.05;
    Tensor p = gpu1(p0), m = gpu1(m0), v = gpu1(v0);
    Tensor pc = cpu1(p0), mc = cpu1(m0), vc = cpu1(v0);
    std::vector<double> P = iet::to_double(p0), M(n, 0.0), V(n, 0.0);
    for (int64_t step = 1; step <= 4; ++step) {
      std::vector<float> g = iet::randn(n, 31310 + n + uint64_t(step));
      o.step = step;
      o.grad_scale = step == 3 ? 0.25 : 1.0;
      ops::adamw_step(p, gpu1(g), m, v, o);
      ops::adamw_step(pc, cpu1(g), mc, vc, o);
      double bc1 = 1 - std::pow(o.beta1, double(step)), bc2 = 1 - std::pow(o.beta2, double(step));
      for (size_t i = 0; i < n; ++i) {
        double gi = double(g[i]) * o.grad_scale;
        M[i] = o.beta1 * M[i] + (1 - o.beta1) * gi;
        V[i] = o.beta2 * V[i] + (1 - o.beta2) * gi * gi;
        P[i] = P[i] * (1 - o.lr * o.weight_decay) - o.lr / bc1 * M[i] / (std::sqrt(V[i]) / std::sqrt(bc2) + o.eps);
      }
    }
    const std::string nm = "adamw n=" + std::to_string(n);
    // the CPU op's own bounds (tests/native/test_optimizer.cc)
    IE_EXPECT_REL(iet::rel_error(host(p), P), 1e-6, nm + " params after 4 steps");
    IE_EXPECT_REL(iet::rel_error(host(m), M), 1e-6, nm + " first moment");
    IE_EXPECT_REL(iet::rel_error(host(v), V), 1e-5, nm + " second moment");
    // same formula and rounding as the CPU kernel: equal up to the CPU's FMA contraction
    IE_EXPECT_REL(iet::rel_error(host(p), iet::to_double(host(pc))), 1e-6, nm + " params vs the CPU op");
  }
}

IE_TEST(cuda_elem_loss, sum_squares_deterministic_and_non_finite) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(130), size_t((1 << 16) * 3 + 17), size_t(5000000)}) {
    std::vector<float> x = iet::randn(n, 31400 + n);
    double ref = 0;
    for (float v : x) ref += double(v) * double(v);
    Tensor X = gpu1(x);
    std::vector<float> s = host(ops::sum_squares(X));
    const std::string nm = "sumSquares n=" + std::to_string(n);
    IE_EXPECT(s.size() == 2, nm + ": output is not [2]");
    IE_EXPECT_REL(n ? std::fabs(s[0] - ref) / ref : std::fabs(s[0]), 1e-7, nm + " vs float64");
    IE_EXPECT(s[1] == 1.f, nm + " finite flag");
    IE_EXPECT(host(ops::sum_squares(X)) == s, nm + ": the same bits on a second run");
    if (n == 0) continue;
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      std::vector<float> y = x;
      y[n / 2] = bad;
      IE_EXPECT(host(ops::sum_squares(gpu1(y)))[1] == 0.f, nm + ": a non-finite element clears the flag");
    }
  }
}

IE_TEST(cuda_elem_loss, ema_update) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(1), size_t(130), size_t(70001)}) {
    std::vector<float> e0 = iet::randn(n, 31500 + n), p = iet::randn(n, 31501 + n);
    Tensor e = gpu1(e0);
    ops::ema_update(e, gpu1(p), 0.999);
    std::vector<double> ref(n);
    for (size_t i = 0; i < n; ++i) ref[i] = 0.999 * e0[i] + 0.001 * p[i];
    IE_EXPECT_REL(iet::rel_error(host(e), ref), 1e-6, "ema n=" + std::to_string(n));
  }
  Tensor a = ops::zeros({10}, DType::F32, kGpu);
  IE_EXPECT(iet::throws_with([&] { ops::ema_update(a, a, 0.5); }, "share memory"), "ema == params rejected on cuda");
  IE_EXPECT(iet::throws_with([&] { ops::ema_update(a, ops::zeros({10}, DType::F32, ie::Device{}), 0.5); },
                             "emaUpdate: ema is on cuda:0 but the other inputs are on cpu"),
            "mixed devices rejected");
}

// ---- guidance ----

IE_TEST(cuda_elem_loss, pix2pix_guidance_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  for (int64_t per : {int64_t(1), int64_t(7), int64_t(4 * 16 * 16), int64_t(4 * 64 * 64 + 3)}) {
    const int64_t B = 2, n = B * per;
    std::vector<float> eps0 = iet::randn(size_t(3 * n), 31600 + uint64_t(per)), dy0 = iet::randn(size_t(n), 31601);
    const double st = 7.5, si = 1.5;
    for (DType dt : kFloatTypes) {
      std::vector<float> eps = rounded(dt, eps0), dy = rounded(dt, dy0);
      std::vector<double> ref(static_cast<size_t>(n)), dref(static_cast<size_t>(3 * n));
      for (int64_t k = 0; k < n; ++k) {
        double t = eps[size_t(k)], i = eps[size_t(n + k)], u = eps[size_t(2 * n + k)];
        ref[size_t(k)] = u + st * (t - i) + si * (i - u);
        dref[size_t(k)] = st * dy[size_t(k)];
        dref[size_t(n + k)] = (si - st) * dy[size_t(k)];
        dref[size_t(2 * n + k)] = (1 - si) * dy[size_t(k)];
      }
      const std::string nm = "pix2pixGuidance per=" + std::to_string(per) + " " + dname(dt);
      Tensor y = ops::pix2pix_guidance(gpu(eps, {3 * B, per}, dt), st, si);
      IE_EXPECT(y.shape() == Shape({B, per}) && y.dtype() == dt, nm + ": output " + y.desc());
      // float32: scales up to 7.5 amplify the inputs' rounding, as on the CPU (2e-6 there)
      IE_EXPECT_REL(iet::rel_error(host(y), ref), dt == DType::F32 ? 2e-6 : tol_for(dt), nm + " forward");
      Tensor d = ops::pix2pix_guidance_backward(gpu(dy, {B, per}, dt), st, si);
      IE_EXPECT(d.shape() == Shape({3 * B, per}) && d.dtype() == dt, nm + ": d eps " + d.desc());
      IE_EXPECT_REL(iet::rel_error(host(d), dref), dt == DType::F32 ? 1e-6 : tol_for(dt), nm + " backward");
    }
  }
  IE_EXPECT(iet::throws_with([] { ops::pix2pix_guidance(ops::zeros({4, 4}, DType::F32, kGpu), 7.5, 1.5); },
                             "a multiple of 3"),
            "guidance batch error on cuda");
}

// ---- scheduler ----

namespace {

// Coefficient sets that exercise every term (not a real scheduler's, which zero most of them).
std::vector<ie::SchedStepCoeffs> step_cases() {
  std::vector<ie::SchedStepCoeffs> cs;
  ie::SchedStepCoeffs a;
  a.x0_x = 1.3f, a.x0_e = -0.7f, a.x0_div = 0.9f, a.clip_lo = -1.5f, a.clip_hi = 1.5f, a.out_x0 = 0.8f, a.out_x = 0.2f;
  a.p_x = 0.5f, a.p_pred = 0.3f, a.p_e = -0.2f, a.d_div = 1.7f, a.d_mul = 0.4f, a.h_out = 0.6f, a.h_in = 1.1f;
  a.p_noise = 0.35f;
  cs.push_back(a);
  ie::SchedStepCoeffs b;  // DDIM-like: x0 = (x − σe)/α, prev = α'·x0 + σ'·e
  b.x0_x = 1.0f, b.x0_e = -0.6f, b.x0_div = 0.8f, b.p_pred = 0.9f, b.p_e = 0.43f;
  cs.push_back(b);
  ie::SchedStepCoeffs c;  // Euler-ancestral-like: derivative term and noise
  c.x0_x = 1.0f, c.x0_e = -2.5f, c.p_x = 1.0f, c.d_div = 2.5f, c.d_mul = -1.1f, c.p_noise = 0.8f;
  cs.push_back(c);
  return cs;
}

}  // namespace

IE_TEST(cuda_elem_loss, scheduler_step_fused) {
  if (!iet::cuda_device_or_skip()) return;
  const Shape shape{2, 4, 23, 23};  // 4232: odd per-sample sizes
  const size_t n = size_t(ie::shape_numel(shape));
  uint64_t seed = 31700;
  int ci = 0;
  for (const ie::SchedStepCoeffs& k : step_cases()) {
    std::vector<float> e = iet::randn(n, ++seed), x = iet::randn(n, ++seed, 3.0f), h = iet::randn(n, ++seed);
    std::vector<float> zgiven = iet::randn(n, ++seed);
    const uint64_t nseed = ++seed, noff = 12345;  // odd offset: starts mid-pair
    std::vector<float> zgen(n);
    for (size_t i = 0; i < n; ++i) {
      float a, b;
      ie::philox_normal_pair(nseed, (noff + i) >> 1, &a, &b);
      zgen[i] = ((noff + i) & 1) ? b : a;
    }
    for (bool with_hist : {false, true}) {
      auto reference = [&](const std::vector<float>* z, std::vector<double>* prev, std::vector<double>* pred) {
        prev->resize(n), pred->resize(n);
        for (size_t i = 0; i < n; ++i) {
          double xi = x[i], ei = e[i];
          double x0 = (double(k.x0_x) * xi + double(k.x0_e) * ei) / k.x0_div;
          x0 = std::min(std::max(x0, double(k.clip_lo)), double(k.clip_hi));
          double p = k.out_x0 * x0 + double(k.out_x) * xi;
          double hh = with_hist ? double(h[i]) : p;
          (*pred)[i] = p;
          (*prev)[i] = k.p_x * xi + k.p_pred * p + k.p_e * ei + (xi - p) / k.d_div * k.d_mul +
                       double(k.h_out) * k.h_in * (p - hh) + k.p_noise * (z ? double((*z)[i]) : 0.0);
        }
      };
      std::vector<double> ref_given, ref_gen, ref_none, pred_ref;
      reference(&zgiven, &ref_given, &pred_ref);
      reference(&zgen, &ref_gen, &pred_ref);
      reference(nullptr, &ref_none, &pred_ref);
      const std::string tag = "case " + std::to_string(ci) + (with_hist ? " with history" : "");
      Tensor E = gpu(e, shape), X = gpu(x, shape), H = gpu(h, shape), Z = gpu(zgiven, shape);
      const Tensor* hp = with_hist ? &H : nullptr;
      ops::SchedulerStepOut o1 = ops::scheduler_step(E, X, k, hp, &Z, nseed, noff);
      IE_EXPECT_REL(iet::rel_error(host(o1.prev_sample), ref_given), 1e-5, tag + " prev (given noise)");
      IE_EXPECT_REL(iet::rel_error(host(o1.pred_original), pred_ref), 1e-5, tag + " pred");
      ops::SchedulerStepOut o2 = ops::scheduler_step(E, X, k, hp, nullptr, nseed, noff);
      // device logf/sinf/cosf: the noise agrees with the host's Philox normals to a few ulp
      IE_EXPECT_REL(iet::rel_error(host(o2.prev_sample), ref_gen), 1e-5, tag + " prev (Philox noise)");
      // inline noise == passing randn(seed, offset) made on the same device, bit for bit
      Tensor zdev = ops::randn(shape, nseed, noff, 0.f, 1.f, DType::F32, kGpu);
      ops::SchedulerStepOut o3 = ops::scheduler_step(E, X, k, hp, &zdev, nseed, noff);
      IE_EXPECT(host(o3.prev_sample) == host(o2.prev_sample), tag + ": inline noise != randn(seed, offset) on cuda");
      // p_noise = 0: no noise drawn (ref_none has the noise term times 0)
      ie::SchedStepCoeffs k0 = k;
      k0.p_noise = 0;
      ops::SchedulerStepOut o4 = ops::scheduler_step(E, X, k0, hp, nullptr, nseed, noff);
      IE_EXPECT_REL(iet::rel_error(host(o4.prev_sample), ref_none), 1e-5, tag + " prev (no noise)");
      // the CPU op on the same inputs (given noise): the same float operations in the same order
      Tensor Ec = ops::to_device(E, ie::Device{}), Xc = ops::to_device(X, ie::Device{}), Hc = ops::to_device(H, ie::Device{}),
             Zc = ops::to_device(Z, ie::Device{});
      ops::SchedulerStepOut oc = ops::scheduler_step(Ec, Xc, k, with_hist ? &Hc : nullptr, &Zc, nseed, noff);
      IE_EXPECT(host(oc.prev_sample) == host(o1.prev_sample) && host(oc.pred_original) == host(o1.pred_original),
                tag + ": GPU and CPU steps differ in bits (both round every operation separately)");
    }
    ++ci;
  }
}

IE_TEST(cuda_elem_loss, scheduler_scale_and_mix_rows) {
  if (!iet::cuda_device_or_skip()) return;
  std::vector<float> x = iet::randn(1001, 31800), y = iet::randn(1001, 31801);
  std::vector<double> ref(1001);
  for (size_t i = 0; i < 1001; ++i) ref[i] = x[i] / 3.7;
  IE_EXPECT_REL(iet::rel_error(host(ops::scheduler_scale(gpu1(x), 3.7f)), ref), 1e-6, "scheduler_scale");
  const std::vector<float> ca = {0.1f, -2, 3, 0.5f, 1, 0, 7}, cb = {1, 2, -3, 4, 0.25f, 6, -0.5f};
  for (size_t i = 0; i < 1001; ++i) ref[i] = double(ca[i / 143]) * x[i] + double(cb[i / 143]) * y[i];
  IE_EXPECT_REL(iet::rel_error(host(ops::scheduler_mix_rows(gpu(x, {7, 143}), gpu(y, {7, 143}), ca, cb)), ref), 1e-6,
                "scheduler_mix_rows");
  // more rows than the kernel arguments carry: coefficients through a device buffer
  for (int64_t rows : {int64_t(256), int64_t(300)}) {
    const int64_t len = 3;
    std::vector<float> a = iet::randn(size_t(rows * len), 31810), b = iet::randn(size_t(rows * len), 31811);
    std::vector<float> wa = iet::randn(size_t(rows), 31812), wb = iet::randn(size_t(rows), 31813);
    std::vector<double> r(size_t(rows * len));
    for (int64_t i = 0; i < rows * len; ++i)
      r[size_t(i)] = double(wa[size_t(i / len)]) * a[size_t(i)] + double(wb[size_t(i / len)]) * b[size_t(i)];
    IE_EXPECT_REL(iet::rel_error(host(ops::scheduler_mix_rows(gpu(a, {rows, len}), gpu(b, {rows, len}), wa, wb)), r), 1e-6,
                  "scheduler_mix_rows rows=" + std::to_string(rows));
  }
  IE_EXPECT(iet::throws_with([] { ops::scheduler_scale(gpu1({1.f}), 0.f); }, "divisor must be finite and non-zero"),
            "scale divisor error on cuda");
}
