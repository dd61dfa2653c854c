// Pix2pix guidance combine vs a float64 reference on fresh random inputs, its backward vs central
// differences of a random projection, and the op's argument checks.
#include <cmath>

#include "cpu/guidance.h"
#include "harness.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/parallel.h"

namespace {

void check_forward(int64_t n, float st, float si, uint64_t seed) {
  std::vector<float> eps = iet::randn(size_t(3 * n), seed);
  std::vector<double> ref(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    double t = eps[size_t(k)], i = eps[size_t(n + k)], u = eps[size_t(2 * n + k)];
    ref[size_t(k)] = u + double(st) * (t - i) + double(si) * (i - u);
  }
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2}) {
      ie::set_num_threads(threads);
      std::vector<float> out = iet::poisoned(static_cast<size_t>(n));
      ie::cpu::pix2pix_guidance(eps.data(), out.data(), n, st, si);
      // float32 with scales up to 7.5: a few ulps of the largest term
      IE_EXPECT_REL(iet::rel_error(out, ref), 2e-6, "n=" + std::to_string(n) + " vs float64");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(guidance, forward_matches_float64) {
  check_forward(4 * 16 * 16, 7.5f, 1.5f, 9100);
  check_forward(4 * 64 * 64 * 2 + 3, 3.0f, 1.0f, 9101);  // odd length: no vector tail assumptions
  check_forward(1, 1.0f, 1.0f, 9102);
}

IE_TEST(guidance, equal_chunks_give_that_chunk) {
  // t = i = u = x  ->  out = x for any scales
  const int64_t n = 1000;
  std::vector<float> x = iet::randn(size_t(n), 9110), eps(size_t(3 * n));
  for (int c = 0; c < 3; ++c) std::copy(x.begin(), x.end(), eps.begin() + c * n);
  std::vector<float> out(static_cast<size_t>(n));
  ie::cpu::pix2pix_guidance(eps.data(), out.data(), n, 7.5f, 1.5f);
  double worst = 0;
  for (int64_t k = 0; k < n; ++k) worst = std::fmax(worst, std::fabs(double(out[size_t(k)]) - x[size_t(k)]));
  IE_EXPECT(worst < 1e-6, "identical chunks: max abs ", worst);
}

IE_TEST(guidance, backward_matches_finite_differences) {
  const int64_t n = 300;
  const float st = 7.5f, si = 1.5f;
  std::vector<float> eps = iet::randn(size_t(3 * n), 9120);
  std::vector<float> r = iet::randn(size_t(n), 9121);  // loss = sum(out · r)
  auto f = [&](const std::vector<double>& e) {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) {
      double t = e[size_t(k)], i = e[size_t(n + k)], u = e[size_t(2 * n + k)];
      s += (u + st * (t - i) + si * (i - u)) * r[size_t(k)];
    }
    return s;
  };
  std::vector<double> x = iet::to_double(eps), v = iet::to_double(iet::randn(size_t(3 * n), 9122));
  double fd = iet::directional_fd(f, x, v, 1e-3);
  iet::for_each_cpu_path([&] {
    std::vector<float> g = iet::poisoned(size_t(3 * n));
    ie::cpu::pix2pix_guidance_backward(r.data(), g.data(), n, st, si);
    double an = iet::dot(g, v);
    IE_EXPECT_REL(std::fabs(an - fd) / std::fabs(fd), 1e-6, "directional derivative vs central difference");
  });
}

IE_TEST(guidance, op_checks_arguments) {
  ie::Tensor bad = ie::ops::zeros({4, 4, 2, 2}, ie::DType::F32, {});
  bool threw = false;
  try {
    ie::ops::pix2pix_guidance(bad, 7.5, 1.5);
  } catch (const ie::Error& e) {
    threw = std::string(e.what()).find("multiple of 3") != std::string::npos;
  }
  IE_EXPECT(threw, "batch 4 is rejected with a message naming the three chunks");
  threw = false;
  try {
    ie::ops::pix2pix_guidance(ie::ops::zeros({3, 4}, ie::DType::F32, {}), std::nan(""), 1.5);
  } catch (const ie::Error& e) {
    threw = std::string(e.what()).find("guidanceScale") != std::string::npos;
  }
  IE_EXPECT(threw, "NaN scale is rejected");
  ie::Tensor y = ie::ops::pix2pix_guidance(ie::ops::full({3, 2, 2}, 2.0, ie::DType::F32, {}), 7.5, 1.5);
  std::vector<float> h(4);
  ie::ops::copy_to_host(y, h.data());
  IE_EXPECT(y.shape() == ie::Shape({1, 2, 2}) && h[0] == 2.0f, "op output shape and value");
}
