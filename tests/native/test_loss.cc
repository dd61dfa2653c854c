// MSE loss forward/backward against float64, backward also by finite differences.
#include <cmath>
#include <cstring>

#include "cpu/loss.h"
#include "harness.h"
#include "ie/parallel.h"

namespace {

void run_mse(size_t n, uint64_t seed) {
  std::vector<float> p = iet::randn(n, seed), t = iet::randn(n, seed + 1, 0.5f);
  std::vector<double> pd = iet::to_double(p), td = iet::to_double(t);
  auto mse = [&](const std::vector<double>& pp) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += (pp[i] - td[i]) * (pp[i] - td[i]);
    return s / double(n);
  };
  const float g = 0.7f;
  std::vector<double> ref = {mse(pd)}, dref(n);
  for (size_t i = 0; i < n; ++i) dref[i] = double(g) * 2 * (pd[i] - td[i]) / double(n);
  std::vector<double> v = iet::to_double(iet::randn(n, seed + 2));
  double fd = double(g) * iet::directional_fd(mse, pd, v);
  std::string nm = "mse n=" + std::to_string(n);
  float first = 0;
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string tn = nm + " threads=" + std::to_string(threads);
      std::vector<float> loss = iet::poisoned(1), dp = iet::poisoned(n);
      ie::cpu::mse_forward(p.data(), t.data(), loss.data(), int64_t(n));
      ie::cpu::mse_backward(p.data(), t.data(), &g, dp.data(), int64_t(n));
      IE_EXPECT_REL(iet::rel_error(loss, ref), 1e-6, tn + " loss");
      IE_EXPECT_REL(iet::rel_error(dp, dref), 1e-6, tn + " dpred");
      IE_EXPECT_REL(std::fabs(iet::dot(dp, v) - fd) / std::fabs(fd), 1e-5, tn + " dpred vs finite differences");
      if (threads == 1 && first == 0) first = loss[0];
      IE_EXPECT(std::memcmp(&first, &loss[0], 4) == 0, tn + " same bits on every thread count and path");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(loss, mse_small) { run_mse(7, 6000); }
IE_TEST(loss, mse_odd) { run_mse(1003, 6010); }
IE_TEST(loss, mse_large_parallel) { run_mse(100003, 6020); }
