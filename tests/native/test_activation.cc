// Activations (SiLU, GELU erf/tanh, quick_gelu) and GEGLU: forward and backward against float64
// references, backward also against central finite differences.
#include <algorithm>
#include <cmath>

#include "cpu/activation.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/activation.h"

using ie::cpu::Activation;

namespace {

using iet::ref::act;
using iet::ref::act_derivative;

const char* act_name(Activation k) {
  switch (k) {
    case Activation::SiLU: return "silu";
    case Activation::GELU: return "gelu";
    case Activation::GELUTanh: return "gelu_tanh";
    case Activation::QuickGELU: return "quick_gelu";
  }
  return "?";
}

// |fd − analytic| relative to |fd|: the float32 gradient is good to ~1e-6.
void expect_fd(double analytic, double fd, const std::string& what) {
  IE_EXPECT_REL(std::fabs(analytic - fd) / std::max(std::fabs(fd), 1e-30), 1e-5, what + " vs finite differences");
}

const Activation kAll[] = {Activation::SiLU, Activation::GELU, Activation::GELUTanh, Activation::QuickGELU};

}  // namespace

IE_TEST(activation, pointwise_forward_backward) {
  const size_t n = 12347;
  std::vector<float> x = iet::randn(n, 101, 3.0f);
  // tails and special points: saturation, exp overflow/underflow inside the sigmoid, zero
  const float specials[] = {0.f, -0.f, 1e-20f, -1e-20f, 30.f, -30.f, 90.f, -90.f, 120.f, -120.f, 8.5f, -8.5f, 1e-3f};
  for (size_t i = 0; i < sizeof specials / sizeof *specials; ++i) x[i * 7] = specials[i];
  std::vector<float> dy = iet::randn(n, 102);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      for (Activation k : kAll) {
        std::string nm = std::string(act_name(k)) + " threads=" + std::to_string(threads);
        std::vector<double> ref(n), dref(n);
        for (size_t i = 0; i < n; ++i) {
          ref[i] = act(k, x[i]);
          dref[i] = double(dy[i]) * act_derivative(k, x[i]);
        }
        std::vector<float> y = iet::poisoned(n), dx = iet::poisoned(n);
        ie::cpu::activation_forward(k, x.data(), y.data(), int64_t(n));
        ie::cpu::activation_backward(k, x.data(), dy.data(), dx.data(), int64_t(n));
        IE_EXPECT_REL(iet::rel_error(y, ref), 1e-5, nm + " forward");
        IE_EXPECT_REL(iet::rel_error(dx, dref), 1e-5, nm + " backward");
        // elementwise too, so the tails are accurate and not just small
        int bad = 0;
        for (size_t i = 0; i < n; ++i) {
          if (!(std::fabs(y[i] - ref[i]) <= 1e-5 * std::fabs(ref[i]) + 1e-36)) ++bad;
          // the derivative has zeros (GELU' near x = −0.75) where its terms cancel: allow an
          // absolute error on the scale of those terms there
          double dtol = 1e-5 * std::fabs(dref[i]) + 1e-6 * std::fabs(dy[i]) * (1 + std::fabs(x[i])) + 1e-36;
          if (!(std::fabs(dx[i] - dref[i]) <= dtol)) ++bad;
        }
        IE_EXPECT(bad == 0, nm + ": elementwise relative error above 1e-5 at " + std::to_string(bad) + " elements");
      }
    }
    ie::set_num_threads(0);
  });
}

IE_TEST(activation, pointwise_finite_differences) {
  const size_t n = 1001;
  std::vector<float> xf = iet::randn(n, 111, 2.0f);
  std::vector<double> x = iet::to_double(xf), r = iet::to_double(iet::randn(n, 112)),
                      v = iet::to_double(iet::randn(n, 113));
  std::vector<float> rf(r.begin(), r.end());
  iet::for_each_cpu_path([&] {
    for (Activation k : kAll) {
      auto loss = [&](const std::vector<double>& xx) {
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += act(k, xx[i]) * r[i];
        return s;
      };
      std::vector<float> dx = iet::poisoned(n);
      ie::cpu::activation_backward(k, xf.data(), rf.data(), dx.data(), int64_t(n));
      expect_fd(iet::dot(dx, v), iet::directional_fd(loss, x, v), act_name(k));
    }
  });
}

IE_TEST(activation, geglu_forward_backward) {
  for (auto [M, D] : {std::pair<int64_t, int64_t>{37, 53}, {5, 1}, {129, 160}}) {
    const size_t nx = size_t(M * 2 * D), ny = size_t(M * D);
    std::vector<float> x = iet::randn(nx, 120 + uint64_t(M), 2.0f), dy = iet::randn(ny, 130 + uint64_t(D));
    std::vector<double> xd = iet::to_double(x), dyd = iet::to_double(dy);
    auto forward = [&](const std::vector<double>& xx) {
      std::vector<double> y(ny);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t d = 0; d < D; ++d) {
          double h = xx[size_t(m * 2 * D + d)], g = xx[size_t(m * 2 * D + D + d)];
          y[size_t(m * D + d)] = h * act(Activation::GELU, g);
        }
      return y;
    };
    std::vector<double> ref = forward(xd), dref(nx);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t d = 0; d < D; ++d) {
        double h = xd[size_t(m * 2 * D + d)], g = xd[size_t(m * 2 * D + D + d)], gy = dyd[size_t(m * D + d)];
        dref[size_t(m * 2 * D + d)] = gy * act(Activation::GELU, g);
        dref[size_t(m * 2 * D + D + d)] = gy * h * act_derivative(Activation::GELU, g);
      }
    std::vector<double> v = iet::to_double(iet::randn(nx, 140));
    double fd = iet::directional_fd(
        [&](const std::vector<double>& xx) { return iet::dot(forward(xx), dyd); }, xd, v);
    iet::for_each_cpu_path([&] {
      for (int threads : {1, 2, 3}) {
        ie::set_num_threads(threads);
        std::string nm = "geglu M=" + std::to_string(M) + " D=" + std::to_string(D) + " threads=" + std::to_string(threads);
        std::vector<float> y = iet::poisoned(ny), dx = iet::poisoned(nx);
        ie::cpu::geglu_forward(x.data(), y.data(), M, D);
        ie::cpu::geglu_backward(x.data(), dy.data(), dx.data(), M, D);
        IE_EXPECT_REL(iet::rel_error(y, ref), 1e-5, nm + " forward");
        IE_EXPECT_REL(iet::rel_error(dx, dref), 1e-5, nm + " backward");
        expect_fd(iet::dot(dx, v), fd, nm);
      }
      ie::set_num_threads(0);
    });
  }
}
