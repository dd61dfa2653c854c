// Optimizer kernels vs float64 references on fresh random buffers: AdamW over several steps (with a
// gradient scale), the squared norm and its finiteness flag (deterministic across thread counts),
// and the EMA update; plus argument checks.
#include <cmath>

#include "harness.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/parallel.h"
#include "reference/optimizer.h"

namespace {

ie::Tensor from(const std::vector<float>& v) {
  return ie::ops::from_host(v.data(), v.size() * 4, {int64_t(v.size())}, ie::DType::F32, {});
}
std::vector<float> host(const ie::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  ie::ops::copy_to_host(t, v.data());
  return v;
}

}  // namespace

IE_TEST(optimizer, adamw_matches_float64_over_steps) {
  const size_t n = 100003;  // not a multiple of any vector width or block
  std::vector<float> p0 = iet::randn(n, 800), m0(n, 0.f), v0(n, 0.f);
  ie::ops::AdamWOptions o;
  o.lr = 3e-3;
  o.weight_decay = 0.05;
  iet::for_each_cpu_path([&] {
    ie::Tensor p = from(p0), m = from(m0), v = from(v0);
    std::vector<double> P = iet::to_double(p0), M(n, 0.0), V(n, 0.0);
    for (int64_t step = 1; step <= 4; ++step) {
      std::vector<float> g = iet::randn(n, 810 + uint64_t(step));
      o.step = step;
      o.grad_scale = step == 3 ? 0.25 : 1.0;
      ie::ops::adamw_step(p, from(g), m, v, o);
      iet::ref::adamw_step(P, M, V, g, o);
    }
    IE_EXPECT_REL(iet::rel_error(host(p), P), 1e-6, "params after 4 steps");
    IE_EXPECT_REL(iet::rel_error(host(m), M), 1e-6, "first moment");
    IE_EXPECT_REL(iet::rel_error(host(v), V), 1e-5, "second moment");
  });
}

IE_TEST(optimizer, sum_squares_is_exact_enough_deterministic_and_flags_non_finite) {
  const size_t n = (1 << 16) * 3 + 17;
  std::vector<float> x = iet::randn(n, 820);
  double ref = 0;
  for (float v : x) ref += double(v) * double(v);
  std::vector<std::vector<float>> runs;
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::vector<float> s = host(ie::ops::sum_squares(from(x)));
      IE_EXPECT_REL(std::fabs(s[0] - ref) / ref, 1e-7, "sum of squares vs float64");
      IE_EXPECT(s[1] == 1.f, "finite flag");
      runs.push_back(s);
    }
    ie::set_num_threads(0);
  });
  for (auto& r : runs) IE_EXPECT(r == runs[0], "the same bits on every path and thread count");
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> y = x;
    y[n / 2 + 5] = bad;
    IE_EXPECT(host(ie::ops::sum_squares(from(y)))[1] == 0.f, "a non-finite element clears the flag");
  }
}

IE_TEST(optimizer, ema_update_matches_float64) {
  const size_t n = 70001;
  std::vector<float> e0 = iet::randn(n, 830), p = iet::randn(n, 831);
  ie::Tensor e = from(e0);
  ie::ops::ema_update(e, from(p), 0.999);
  std::vector<double> ref(n);
  for (size_t i = 0; i < n; ++i) ref[i] = 0.999 * e0[i] + 0.001 * p[i];
  IE_EXPECT_REL(iet::rel_error(host(e), ref), 1e-6, "ema");
}

IE_TEST(optimizer, bad_arguments) {
  auto z = [](int64_t n) { return ie::ops::zeros({n}, ie::DType::F32, {}); };
  ie::Tensor a = z(10), b = z(9), c = z(10), d = z(10), e = z(10);
  ie::ops::AdamWOptions o;
  IE_EXPECT(iet::throws_with([&] { ie::ops::adamw_step(a, b, d, e, o); }, "grads has 9 elements"), "length mismatch");
  o.beta1 = 1.0;
  IE_EXPECT(iet::throws_with([&] { ie::ops::adamw_step(a, c, d, e, o); }, "betas"), "beta 1 rejected");
  o = ie::ops::AdamWOptions{};
  o.step = 0;
  IE_EXPECT(iet::throws_with([&] { ie::ops::adamw_step(a, c, d, e, o); }, "1-based"), "step 0 rejected");
  IE_EXPECT(iet::throws_with([&] { ie::ops::ema_update(a, c, 1.5); }, "decay"), "decay > 1 rejected");
}

IE_TEST(optimizer, overlapping_buffers_are_rejected) {
  ie::Tensor a = ie::ops::zeros({20}, ie::DType::F32, {});
  ie::Tensor x = a.view(0, {10}), y = a.view(5, {10}), z = a.view(10, {10});
  ie::ops::AdamWOptions o;
  bool threw = false;
  try {
    ie::ops::adamw_step(x, z, y, ie::ops::zeros({10}, ie::DType::F32, {}), o);
  } catch (const ie::Error& e) {
    threw = std::string(e.what()).find("share memory") != std::string::npos;
  }
  IE_EXPECT(threw, "params overlapping m is rejected");
  ie::ops::ema_update(x, z, 0.5);  // adjacent, not overlapping: fine
  threw = false;
  try {
    ie::ops::ema_update(x, x, 0.5);
  } catch (const ie::Error& e) {
    threw = std::string(e.what()).find("share memory") != std::string::npos;
  }
  IE_EXPECT(threw, "ema == params is rejected");
}
