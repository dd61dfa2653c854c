// Timestep embedding vs diffusers' float32 computation. The argument t·freq is formed in float32
// exactly as diffusers does; sin/cos are then checked against float64 sin/cos of that same float32
// argument (1e-6: float32 sin/cos are good to an ulp). The float32 argument itself differs from
// the exact real one by up to ulp(1000) ≈ 6e-5 for t ≈ 1000, which float32 cannot do better than,
// so against the all-float64 formula the bound is 2e-4 (absolute, per element).
#include <cmath>

#include "cpu/timestep_embedding.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/timestep_embedding.h"

namespace {

void run_case(int64_t dim, bool flip, float shift, float max_period, uint64_t seed) {
  const float ts[] = {0.f, 1.f, 999.f, 500.5f, 37.f, 981.f, 0.25f};
  const int64_t N = 7;
  std::vector<float> t(ts, ts + N);
  t[6] = iet::rand_uniform(1, seed, 0.f, 1000.f)[0];
  const int64_t half = dim / 2;
  // diffusers in float32: exponent = −ln(P)·arange(half) / (half − shift); t·exp(exponent); an odd
  // dim's last column is 0
  std::vector<double> ref, exact;
  iet::ref::timestep_embedding(t, dim, flip, shift, max_period, ref, exact);
  std::string nm = "dim=" + std::to_string(dim) + (flip ? " flip" : "") + " shift=" + std::to_string(shift);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::vector<float> out = iet::poisoned(size_t(N * dim));
      ie::cpu::timestep_embedding(t.data(), out.data(), N, dim, flip, shift, max_period);
      IE_EXPECT_REL(iet::rel_error(out, ref), 1e-6, nm + " vs float64 sin/cos of the float32 argument");
      double worst = 0;
      for (size_t i = 0; i < out.size(); ++i) worst = std::fmax(worst, std::fabs(double(out[i]) - exact[i]));
      IE_EXPECT_REL(worst, 2e-4, nm + " max abs vs the all-float64 formula");
      // t = 0: cos half is 1, sin half 0
      IE_EXPECT(out[size_t(flip ? 0 : half)] == 1.0f && out[size_t(flip ? half : 0)] == 0.0f, nm + " t=0 row");
      if (dim % 2) IE_EXPECT(out[size_t(dim - 1)] == 0.0f, nm + " zero pad column");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(timestep_embedding, sd_config_flip_320) { run_case(320, true, 0.0f, 10000.0f, 4000); }
IE_TEST(timestep_embedding, no_flip_shift_1) { run_case(128, false, 1.0f, 10000.0f, 4010); }
IE_TEST(timestep_embedding, odd_dim_pads_zero) { run_case(33, true, 0.0f, 10000.0f, 4020); }
IE_TEST(timestep_embedding, other_max_period) { run_case(64, false, 0.0f, 100.0f, 4030); }
