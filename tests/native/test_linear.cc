// linear_forward / linear_backward against float64 references; the reference gradients are in
// turn checked against central finite differences of the float64 forward.
#include <cmath>
#include <string>
#include <vector>

#include "cpu/linear.h"
#include "harness.h"
#include "ie/parallel.h"

namespace {

// y = x · wᵀ + b in float64.
std::vector<double> ref_forward(const std::vector<double>& x, const std::vector<double>& w, const double* b,
                                int64_t M, int64_t K, int64_t N) {
  std::vector<double> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b ? b[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += x[size_t(m * K + k)] * w[size_t(n * K + k)];
      y[size_t(m * N + n)] = s;
    }
  return y;
}

void run_case(int64_t M, int64_t K, int64_t N, bool accumulate, bool with_db, bool with_dx, uint64_t seed) {
  char what[160];
  std::snprintf(what, sizeof what, "M=%lld K=%lld N=%lld acc=%d db=%d dx=%d threads=%d", (long long)M,
                (long long)K, (long long)N, int(accumulate), int(with_db), int(with_dx), ie::num_threads());
  std::vector<float> x = iet::randn(size_t(M * K), seed), w = iet::randn(size_t(N * K), seed + 1, 0.5f);
  std::vector<float> b = iet::randn(size_t(N), seed + 2), dy = iet::randn(size_t(M * N), seed + 3);
  std::vector<double> xd = iet::to_double(x), wd = iet::to_double(w), bd = iet::to_double(b), dyd = iet::to_double(dy);

  // forward, with and without bias
  for (bool bias : {true, false}) {
    std::vector<float> y = iet::poisoned(size_t(M * N));
    ie::cpu::linear_forward(x.data(), w.data(), bias ? b.data() : nullptr, y.data(), M, K, N);
    IE_EXPECT_REL(iet::rel_error(y, ref_forward(xd, wd, bias ? bd.data() : nullptr, M, K, N)), 1e-5,
                  std::string("forward ") + (bias ? "bias " : "no bias ") + what);
  }

  // float64 reference gradients of loss = <y, dy>
  std::vector<double> dx_ref(size_t(M * K), 0.0), dw_ref(size_t(N * K), 0.0), db_ref(size_t(N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double g = dyd[size_t(m * N + n)];
      db_ref[size_t(n)] += g;
      for (int64_t k = 0; k < K; ++k) {
        dx_ref[size_t(m * K + k)] += g * wd[size_t(n * K + k)];
        dw_ref[size_t(n * K + k)] += g * xd[size_t(m * K + k)];
      }
    }

  // The reference against finite differences along a random direction in (x, w, b).
  {
    std::vector<double> theta(xd), dir = iet::to_double(iet::randn(size_t(M * K + N * K + N), seed + 4));
    theta.insert(theta.end(), wd.begin(), wd.end());
    theta.insert(theta.end(), bd.begin(), bd.end());
    auto loss = [&](const std::vector<double>& t) {
      std::vector<double> xs(t.begin(), t.begin() + M * K), ws(t.begin() + M * K, t.begin() + M * K + N * K);
      std::vector<double> y = ref_forward(xs, ws, t.data() + M * K + N * K, M, K, N);
      return iet::dot(y, dyd);
    };
    double fd = iet::directional_fd(loss, theta, dir);
    std::vector<double> grad(dx_ref);
    grad.insert(grad.end(), dw_ref.begin(), dw_ref.end());
    grad.insert(grad.end(), db_ref.begin(), db_ref.end());
    double an = iet::dot(grad, dir);
    IE_EXPECT(std::fabs(fd - an) <= 1e-7 * (std::fabs(fd) + 1), std::string("reference grad vs FD ") + what);
  }

  // kernel gradients; with accumulate, dw and db start from random values
  std::vector<float> dx = iet::poisoned(size_t(M * K));
  std::vector<float> dw = accumulate ? iet::randn(size_t(N * K), seed + 5) : iet::poisoned(size_t(N * K));
  std::vector<float> db = accumulate ? iet::randn(size_t(N), seed + 6) : iet::poisoned(size_t(N));
  std::vector<double> dw_want(dw_ref), db_want(db_ref);
  if (accumulate) {
    for (size_t i = 0; i < dw.size(); ++i) dw_want[i] += dw[i];
    for (size_t i = 0; i < db.size(); ++i) db_want[i] += db[i];
  }
  std::vector<float> db_before = db;
  ie::cpu::linear_backward(x.data(), w.data(), dy.data(), with_dx ? dx.data() : nullptr, dw.data(),
                           with_db ? db.data() : nullptr, M, K, N, accumulate);
  if (with_dx) IE_EXPECT_REL(iet::rel_error(dx, dx_ref), 1e-5, std::string("dx ") + what);
  else IE_EXPECT(std::isnan(dx[0]) || M * K == 0, std::string("dx untouched when null ") + what);
  IE_EXPECT_REL(iet::rel_error(dw, dw_want), 1e-5, std::string("dw ") + what);
  if (with_db) IE_EXPECT_REL(iet::rel_error(db, db_want), 1e-5, std::string("db ") + what);
  // and the kernel's gradient directly against finite differences (float32 accuracy)
  if (with_dx && !accumulate) {
    std::vector<double> dir = iet::to_double(iet::randn(size_t(M * K), seed + 7));
    auto loss_x = [&](const std::vector<double>& xs) { return iet::dot(ref_forward(xs, wd, bd.data(), M, K, N), dyd); };
    double fd = iet::directional_fd(loss_x, xd, dir);
    IE_EXPECT(std::fabs(fd - iet::dot(dx, dir)) <= 1e-5 * (std::fabs(fd) + 1), std::string("dx vs FD ") + what);
  }
}

}  // namespace

IE_TEST(linear, forward_backward_shapes) {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 17}, {65, 40, 130}, {130, 77, 3}, {3, 320, 257}};
  uint64_t seed = 10;
  iet::for_each_cpu_path([&] {
    for (auto& s : shapes) run_case(s[0], s[1], s[2], false, true, true, seed += 10);
  });
}

IE_TEST(linear, accumulate_and_null_grads) {
  uint64_t seed = 300;
  iet::for_each_cpu_path([&] {
    run_case(19, 23, 29, true, true, true, seed += 10);
    run_case(19, 23, 29, true, false, false, seed += 10);
    run_case(40, 9, 50, false, false, true, seed += 10);
    run_case(33, 48, 17, false, true, false, seed += 10);
  });
}

IE_TEST(linear, thread_counts) {
  uint64_t seed = 600;
  for (int threads : {1, 2, 3}) {
    ie::set_num_threads(threads);
    iet::for_each_cpu_path([&] { run_case(150, 64, 96, threads == 2, true, true, seed += 10); });
  }
  ie::set_num_threads(0);
}
