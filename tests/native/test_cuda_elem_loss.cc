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

#include "cuda_helpers.h"
#include "harness.h"
#include "ie/error.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/philox.h"
#include "ie/tensor.h"
#include "reference/optimizer.h"
#include "reference/scheduler.h"
#include "reference/triplet_loss.h"

using namespace iet::gpu;

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;
namespace ops = ie::ops;

Tensor cpu1(const std::vector<float>& v) {
  return ops::from_host(v.data(), v.size() * 4, {int64_t(v.size())}, DType::F32, ie::Device{});
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
    Tensor P = upload1(p), T = upload1(t);
    Tensor loss = ops::mse_loss(P, T);
    IE_EXPECT(loss.ndim() == 0 && loss.dtype() == DType::F32, nm + ": loss is " + loss.desc());
    std::vector<float> l = download(loss);
    // double accumulation: only the final rounding to float32
    IE_EXPECT_REL(std::fabs(l[0] - loss_ref) / loss_ref, 1e-6, nm + " loss vs float64");
    std::vector<float> l2 = download(ops::mse_loss(P, T));
    IE_EXPECT(std::memcmp(l.data(), l2.data(), 4) == 0, nm + ": the same bits on a second run");
    Tensor d = ops::mse_loss_backward(P, T, upload({g}, {}));
    IE_EXPECT_REL(iet::rel_error(download(d), dref), 1e-6, nm + " dpred");
  }
  IE_EXPECT(iet::throws_with([] { ops::mse_loss(upload1(iet::randn(6, 1)), upload(iet::randn(6, 2), {3, 2})); },
                             "mseLoss: pred [6] and target [3, 2] must have the same shape"),
            "mse shape error on cuda");
}

// ---- triplet loss ----

namespace {

using ops::TripletLossOptions;

void check_triplet(int64_t B, int64_t C, int64_t HW, const TripletLossOptions& o, const std::vector<uint8_t>& keep,
                   uint64_t seed, const std::string& name) {
  const int64_t n = C * HW;
  std::vector<float> pred, tgt;
  iet::ref::triplet_inputs(B, n, seed, pred, tgt);
  iet::ref::TripletRef r = iet::ref::triplet_loss(iet::to_double(pred), iet::to_double(tgt), B, n, keep, o);
  Tensor P = upload(pred, {2 * B, C, HW}), T = upload(tgt, {B, C, HW});
  ops::TripletLossOut out = ops::triplet_loss(P, T, keep, o);
  IE_EXPECT(out.stats.shape() == Shape{4 + 3 * B} && out.grad.shape() == P.shape(),
            name + ": stats " + out.stats.desc() + ", grad " + out.grad.desc());
  std::vector<float> st = download(out.stats), g = download(out.grad);
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
  IE_EXPECT(download(again.stats) == st && download(again.grad) == g, name + ": a second run gives other bits");
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
  ops::TripletLossOut out = ops::triplet_loss(upload(p, {4, 4}), upload(t, {2, 4}), {1, 1}, o);
  bool finite = true;
  for (float v : download(out.grad)) finite = finite && std::isfinite(v);
  for (float v : download(out.stats)) finite = finite && std::isfinite(v);
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
    Tensor p = upload1(p0), m = upload1(m0), v = upload1(v0);
    Tensor pc = cpu1(p0), mc = cpu1(m0), vc = cpu1(v0);
    std::vector<double> P = iet::to_double(p0), M(n, 0.0), V(n, 0.0);
    for (int64_t step = 1; step <= 4; ++step) {
      std::vector<float> g = iet::randn(n, 31310 + n + uint64_t(step));
      o.step = step;
      o.grad_scale = step == 3 ? 0.25 : 1.0;
      ops::adamw_step(p, upload1(g), m, v, o);
      ops::adamw_step(pc, cpu1(g), mc, vc, o);
      iet::ref::adamw_step(P, M, V, g, o);
    }
    const std::string nm = "adamw n=" + std::to_string(n);
    // the CPU op's own bounds (tests/native/test_optimizer.cc)
    IE_EXPECT_REL(iet::rel_error(download(p), P), 1e-6, nm + " params after 4 steps");
    IE_EXPECT_REL(iet::rel_error(download(m), M), 1e-6, nm + " first moment");
    IE_EXPECT_REL(iet::rel_error(download(v), V), 1e-5, nm + " second moment");
    // same formula and rounding as the CPU kernel: equal up to the CPU's FMA contraction
    IE_EXPECT_REL(iet::rel_error(download(p), iet::to_double(download(pc))), 1e-6, nm + " params vs the CPU op");
  }
}

IE_TEST(cuda_elem_loss, sum_squares_deterministic_and_non_finite) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(130), size_t((1 << 16) * 3 + 17), size_t(5000000)}) {
    std::vector<float> x = iet::randn(n, 31400 + n);
    double ref = 0;
    for (float v : x) ref += double(v) * double(v);
    Tensor X = upload1(x);
    std::vector<float> s = download(ops::sum_squares(X));
    const std::string nm = "sumSquares n=" + std::to_string(n);
    IE_EXPECT(s.size() == 2, nm + ": output is not [2]");
    IE_EXPECT_REL(n ? std::fabs(s[0] - ref) / ref : std::fabs(s[0]), 1e-7, nm + " vs float64");
    IE_EXPECT(s[1] == 1.f, nm + " finite flag");
    IE_EXPECT(download(ops::sum_squares(X)) == s, nm + ": the same bits on a second run");
    if (n == 0) continue;
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      std::vector<float> y = x;
      y[n / 2] = bad;
      IE_EXPECT(download(ops::sum_squares(upload1(y)))[1] == 0.f, nm + ": a non-finite element clears the flag");
    }
  }
}

IE_TEST(cuda_elem_loss, ema_update) {
  if (!iet::cuda_device_or_skip()) return;
  for (size_t n : {size_t(1), size_t(130), size_t(70001)}) {
    std::vector<float> e0 = iet::randn(n, 31500 + n), p = iet::randn(n, 31501 + n);
    Tensor e = upload1(e0);
    ops::ema_update(e, upload1(p), 0.999);
    std::vector<double> ref(n);
    for (size_t i = 0; i < n; ++i) ref[i] = 0.999 * e0[i] + 0.001 * p[i];
    IE_EXPECT_REL(iet::rel_error(download(e), ref), 1e-6, "ema n=" + std::to_string(n));
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
      std::vector<float> eps = rounded(eps0, dt), dy = rounded(dy0, dt);
      std::vector<double> ref(static_cast<size_t>(n)), dref(static_cast<size_t>(3 * n));
      for (int64_t k = 0; k < n; ++k) {
        double t = eps[size_t(k)], i = eps[size_t(n + k)], u = eps[size_t(2 * n + k)];
        ref[size_t(k)] = u + st * (t - i) + si * (i - u);
        dref[size_t(k)] = st * dy[size_t(k)];
        dref[size_t(n + k)] = (si - st) * dy[size_t(k)];
        dref[size_t(2 * n + k)] = (1 - si) * dy[size_t(k)];
      }
      const std::string nm = "pix2pixGuidance per=" + std::to_string(per) + " " + dname(dt);
      Tensor y = ops::pix2pix_guidance(upload(eps, {3 * B, per}, dt), st, si);
      IE_EXPECT(y.shape() == Shape({B, per}) && y.dtype() == dt, nm + ": output " + y.desc());
      // float32: scales up to 7.5 amplify the inputs' rounding, as on the CPU (2e-6 there)
      IE_EXPECT_REL(iet::rel_error(download(y), ref), dt == DType::F32 ? 2e-6 : tol(dt), nm + " forward");
      Tensor d = ops::pix2pix_guidance_backward(upload(dy, {B, per}, dt), st, si);
      IE_EXPECT(d.shape() == Shape({3 * B, per}) && d.dtype() == dt, nm + ": d eps " + d.desc());
      IE_EXPECT_REL(iet::rel_error(download(d), dref), dt == DType::F32 ? 1e-6 : tol(dt), nm + " backward");
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
    const std::vector<float> zgen = iet::ref::philox_normals(n, nseed, noff);
    for (bool with_hist : {false, true}) {
      auto reference = [&](const std::vector<float>* z, std::vector<double>* prev, std::vector<double>* pred) {
        iet::ref::scheduler_step(k, e, x, h, with_hist, z, prev, pred);
      };
      std::vector<double> ref_given, ref_gen, ref_none, pred_ref;
      reference(&zgiven, &ref_given, &pred_ref);
      reference(&zgen, &ref_gen, &pred_ref);
      reference(nullptr, &ref_none, &pred_ref);
      const std::string tag = "case " + std::to_string(ci) + (with_hist ? " with history" : "");
      Tensor E = upload(e, shape), X = upload(x, shape), H = upload(h, shape), Z = upload(zgiven, shape);
      const Tensor* hp = with_hist ? &H : nullptr;
      ops::SchedulerStepOut o1 = ops::scheduler_step(E, X, k, hp, &Z, nseed, noff);
      IE_EXPECT_REL(iet::rel_error(download(o1.prev_sample), ref_given), 1e-5, tag + " prev (given noise)");
      IE_EXPECT_REL(iet::rel_error(download(o1.pred_original), pred_ref), 1e-5, tag + " pred");
      ops::SchedulerStepOut o2 = ops::scheduler_step(E, X, k, hp, nullptr, nseed, noff);
      // device logf/sinf/cosf: the noise agrees with the host's Philox normals to a few ulp
      IE_EXPECT_REL(iet::rel_error(download(o2.prev_sample), ref_gen), 1e-5, tag + " prev (Philox noise)");
      // inline noise == passing randn(seed, offset) made on the same device, bit for bit
      Tensor zdev = ops::randn(shape, nseed, noff, 0.f, 1.f, DType::F32, kGpu);
      ops::SchedulerStepOut o3 = ops::scheduler_step(E, X, k, hp, &zdev, nseed, noff);
      IE_EXPECT(download(o3.prev_sample) == download(o2.prev_sample), tag + ": inline noise != randn(seed, offset) on cuda");
      // p_noise = 0: no noise drawn (ref_none has the noise term times 0)
      ie::SchedStepCoeffs k0 = k;
      k0.p_noise = 0;
      ops::SchedulerStepOut o4 = ops::scheduler_step(E, X, k0, hp, nullptr, nseed, noff);
      IE_EXPECT_REL(iet::rel_error(download(o4.prev_sample), ref_none), 1e-5, tag + " prev (no noise)");
      // the CPU op on the same inputs (given noise): the same float operations in the same order
      Tensor Ec = ops::to_device(E, ie::Device{}), Xc = ops::to_device(X, ie::Device{}), Hc = ops::to_device(H, ie::Device{}),
             Zc = ops::to_device(Z, ie::Device{});
      ops::SchedulerStepOut oc = ops::scheduler_step(Ec, Xc, k, with_hist ? &Hc : nullptr, &Zc, nseed, noff);
      IE_EXPECT(download(oc.prev_sample) == download(o1.prev_sample) && download(oc.pred_original) == download(o1.pred_original),
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
  IE_EXPECT_REL(iet::rel_error(download(ops::scheduler_scale(upload1(x), 3.7f)), ref), 1e-6, "scheduler_scale");
  const std::vector<float> ca = {0.1f, -2, 3, 0.5f, 1, 0, 7}, cb = {1, 2, -3, 4, 0.25f, 6, -0.5f};
  for (size_t i = 0; i < 1001; ++i) ref[i] = double(ca[i / 143]) * x[i] + double(cb[i / 143]) * y[i];
  IE_EXPECT_REL(iet::rel_error(download(ops::scheduler_mix_rows(upload(x, {7, 143}), upload(y, {7, 143}), ca, cb)), ref), 1e-6,
                "scheduler_mix_rows");
  // more rows than the kernel arguments carry: coefficients through a device buffer
  for (int64_t rows : {int64_t(256), int64_t(300)}) {
    const int64_t len = 3;
    std::vector<float> a = iet::randn(size_t(rows * len), 31810), b = iet::randn(size_t(rows * len), 31811);
    std::vector<float> wa = iet::randn(size_t(rows), 31812), wb = iet::randn(size_t(rows), 31813);
    std::vector<double> r(size_t(rows * len));
    for (int64_t i = 0; i < rows * len; ++i)
      r[size_t(i)] = double(wa[size_t(i / len)]) * a[size_t(i)] + double(wb[size_t(i / len)]) * b[size_t(i)];
    IE_EXPECT_REL(iet::rel_error(download(ops::scheduler_mix_rows(upload(a, {rows, len}), upload(b, {rows, len}), wa, wb)), r), 1e-6,
                  "scheduler_mix_rows rows=" + std::to_string(rows));
  }
  IE_EXPECT(iet::throws_with([] { ops::scheduler_scale(upload1({1.f}), 0.f); }, "divisor must be finite and non-zero"),
            "scale divisor error on cuda");
}
