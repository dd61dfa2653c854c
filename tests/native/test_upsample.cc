// Nearest upsampling (PyTorch index rule) forward/backward against float64 references, backward
// also by finite differences; exact ×2 (fast path), general and mixed sizes.
#include <algorithm>
#include <cmath>

#include "cpu/upsample.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/upsample.h"

namespace {

using iet::ref::upsample_src_index;

std::vector<double> up_ref(const std::vector<double>& x, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  std::vector<double> y(size_t(NC * OH * OW));
  for (int64_t c = 0; c < NC; ++c)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j)
        y[size_t((c * OH + i) * OW + j)] = x[size_t((c * H + upsample_src_index(i, H, OH)) * W + upsample_src_index(j, W, OW))];
  return y;
}

void run_upsample(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, uint64_t seed) {
  const size_t nx = size_t(NC * H * W), ny = size_t(NC * OH * OW);
  std::vector<float> x = iet::randn(nx, seed), dy = iet::randn(ny, seed + 1);
  std::vector<double> xd = iet::to_double(x), dyd = iet::to_double(dy);
  std::vector<double> yref = up_ref(xd, NC, H, W, OH, OW), dxref(nx, 0.0);
  for (int64_t c = 0; c < NC; ++c)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j)
        dxref[size_t((c * H + upsample_src_index(i, H, OH)) * W + upsample_src_index(j, W, OW))] += dyd[size_t((c * OH + i) * OW + j)];
  std::vector<double> v = iet::to_double(iet::randn(nx, seed + 2));
  double fd = iet::directional_fd(
      [&](const std::vector<double>& xx) { return iet::dot(up_ref(xx, NC, H, W, OH, OW), dyd); }, xd, v);
  std::string nm = std::to_string(NC) + "x" + std::to_string(H) + "x" + std::to_string(W) + " -> " +
                   std::to_string(OH) + "x" + std::to_string(OW);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string t = nm + " threads=" + std::to_string(threads);
      std::vector<float> y = iet::poisoned(ny), dx = iet::poisoned(nx);
      ie::cpu::upsample_nearest_forward(x.data(), y.data(), NC, H, W, OH, OW);
      ie::cpu::upsample_nearest_backward(dy.data(), dx.data(), NC, H, W, OH, OW);
      IE_EXPECT_REL(iet::rel_error(y, yref), 1e-7, t + " forward");
      IE_EXPECT_REL(iet::rel_error(dx, dxref), 1e-6, t + " backward");
      IE_EXPECT_REL(std::fabs(iet::dot(dx, v) - fd) / std::fabs(fd), 1e-5, t + " backward vs finite differences");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(upsample, index_rule_matches_pytorch) {
  // worked by hand from scale = float(5/9) and float(7/13)
  const int64_t h9[] = {0, 0, 1, 1, 2, 2, 3, 3, 4};
  const int64_t w13[] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6};
  for (int64_t i = 0; i < 9; ++i) IE_EXPECT(upsample_src_index(i, 5, 9) == h9[i], "5 -> 9 row index");
  for (int64_t j = 0; j < 13; ++j) IE_EXPECT(upsample_src_index(j, 7, 13) == w13[j], "7 -> 13 column index");
  // and the kernel reads exactly those: upsample an iota image
  std::vector<float> x(35);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  iet::for_each_cpu_path([&] {
    std::vector<float> y = iet::poisoned(9 * 13);
    ie::cpu::upsample_nearest_forward(x.data(), y.data(), 1, 5, 7, 9, 13);
    for (int64_t i = 0; i < 9; ++i)
      for (int64_t j = 0; j < 13; ++j) IE_EXPECT(y[size_t(i * 13 + j)] == float(h9[i] * 7 + w13[j]), "iota pixel");
  });
}
IE_TEST(upsample, general_5x7_to_9x13) { run_upsample(6, 5, 7, 9, 13, 3000); }
IE_TEST(upsample, exact_2x) { run_upsample(3, 4, 6, 8, 12, 3010); }
IE_TEST(upsample, exact_2x_large) { run_upsample(24, 33, 31, 66, 62, 3020); }
IE_TEST(upsample, mixed_2x_rows_general_columns) { run_upsample(2, 7, 5, 14, 11, 3030); }
IE_TEST(upsample, downsample_and_identity) {
  run_upsample(2, 9, 13, 5, 7, 3040);
  run_upsample(2, 3, 3, 3, 3, 3050);
  run_upsample(5, 3, 17, 10, 17, 3060);  // ×3.33 rows, identity columns
}
