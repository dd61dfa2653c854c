// Row softmax forward/backward against a float64 reference and finite differences.
#include <cmath>
#include <limits>

#include "cpu/softmax.h"
#include "harness.h"
#include "ie/parallel.h"

namespace {

std::vector<double> ref_softmax(const std::vector<double>& x, int64_t M, int64_t N) {
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < M; ++i) {
    const double* r = &x[size_t(i * N)];
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < N; ++j) mx = std::max(mx, r[j]);
    double s = 0;
    for (int64_t j = 0; j < N; ++j) s += std::exp(r[j] - mx);
    for (int64_t j = 0; j < N; ++j) y[size_t(i * N + j)] = std::exp(r[j] - mx) / s;
  }
  return y;
}

void check_case(int64_t M, int64_t N, float mag, uint64_t seed, bool with_masked) {
  std::vector<float> x = iet::randn(size_t(M * N), seed, mag);
  if (with_masked)  // attention-style masks: some entries -inf (never a whole row)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 1; j < N; j += 3) x[size_t(i * N + j)] = -std::numeric_limits<float>::infinity();
  std::vector<float> dy = iet::randn(size_t(M * N), seed + 1);
  std::vector<double> xd = iet::to_double(x), dyd = iet::to_double(dy);
  std::vector<double> yref = ref_softmax(xd, M, N);
  std::vector<double> dxref(size_t(M * N));
  for (int64_t i = 0; i < M; ++i) {
    double dot = 0;
    for (int64_t j = 0; j < N; ++j) dot += yref[size_t(i * N + j)] * dyd[size_t(i * N + j)];
    for (int64_t j = 0; j < N; ++j) {
      size_t t = size_t(i * N + j);
      dxref[t] = yref[t] * (dyd[t] - dot);
    }
  }
  char what[96];
  std::snprintf(what, sizeof what, "M=%lld N=%lld mag=%g", (long long)M, (long long)N, double(mag));

  std::vector<float> y = iet::poisoned(size_t(M * N));
  ie::cpu::softmax_forward(x.data(), y.data(), M, N);
  IE_EXPECT_REL(iet::rel_error(y, yref), 1e-5, std::string("forward ") + what);

  std::vector<float> dx = iet::poisoned(size_t(M * N));
  ie::cpu::softmax_backward(y.data(), dy.data(), dx.data(), M, N);
  IE_EXPECT_REL(iet::rel_error(dx, dxref), 1e-5, std::string("backward ") + what);

  // Finite differences of loss = <softmax(x), dy> along a random direction (finite entries only).
  if (!with_masked) {
    std::vector<double> dir = iet::to_double(iet::randn(size_t(M * N), seed + 2));
    auto loss = [&](const std::vector<double>& xv) { return iet::dot(ref_softmax(xv, M, N), dyd); };
    double fd = iet::directional_fd(loss, xd, dir, 1e-6 / (mag > 1 ? mag : 1));
    // Scale of the error: the dot product's condition sum_i |dx_i dir_i| (the sum itself may cancel).
    double an = 0, cond = 0;
    for (size_t i = 0; i < dx.size(); ++i) an += double(dx[i]) * dir[i], cond += std::fabs(double(dx[i]) * dir[i]);
    IE_EXPECT_REL(std::fabs(an - fd) / std::max(cond, 1e-6), 1e-5, std::string("finite differences ") + what);
  }
}

}  // namespace

IE_TEST(softmax, forward_backward_matches_float64) {
  iet::for_each_cpu_path([] {
    uint64_t seed = 100;
    for (int64_t N : {1, 3, 7, 16, 33, 77, 1000, 4099}) {
      check_case(5, N, 1.f, seed, false);
      seed += 10;
    }
    check_case(300, 64, 1.f, seed + 1, false);  // many rows: parallel split
  });
}

IE_TEST(softmax, large_magnitude_and_masked_entries) {
  iet::for_each_cpu_path([] {
    check_case(6, 257, 50.f, 201, false);  // scores spanning hundreds: max subtraction
    check_case(6, 77, 1.f, 211, true);     // -inf entries give exactly 0
  });
}

IE_TEST(softmax, thread_counts) {
  for (int t : {1, 2, 3}) {
    ie::set_num_threads(t);
    iet::for_each_cpu_path([t] { check_case(101, 129, 2.f, 300 + uint64_t(t), false); });
  }
  ie::set_num_threads(0);
}
