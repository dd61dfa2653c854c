// conv2d forward / backward-input / backward-weight against plain float64 loops, the reference
// gradients against central finite differences, over kernel sizes, strides, paddings and odd,
// non-square shapes.
#include <cmath>
#include <string>
#include <vector>

#include "cpu/conv2d.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/conv2d.h"

namespace {

using ie::cpu::Conv2dShape;
using iet::ref::conv_shape;

std::string describe(const Conv2dShape& s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "N=%lld C=%lld H=%lld W=%lld K=%lld R=%lld S=%lld stride=%lld,%lld pad=%lld,%lld threads=%d",
                (long long)s.N, (long long)s.C, (long long)s.H, (long long)s.W, (long long)s.K, (long long)s.R,
                (long long)s.S, (long long)s.stride_h, (long long)s.stride_w, (long long)s.pad_h,
                (long long)s.pad_w, ie::num_threads());
  return buf;
}

void run_case(const Conv2dShape& s, uint64_t seed, bool check_fd = true) {
  const std::string what = describe(s);
  const size_t nx = size_t(s.N * s.C * s.H * s.W), nw = size_t(s.K * s.C * s.R * s.S), ny = size_t(s.N * s.K * s.P * s.Q);
  std::vector<float> x = iet::randn(nx, seed), w = iet::randn(nw, seed + 1, 0.3f), b = iet::randn(size_t(s.K), seed + 2);
  std::vector<float> dy = iet::randn(ny, seed + 3);
  std::vector<double> xd = iet::to_double(x), wd = iet::to_double(w), bd = iet::to_double(b), dyd = iet::to_double(dy);

  for (bool bias : {true, false}) {
    std::vector<float> y = iet::poisoned(ny);
    ie::cpu::conv2d_forward(s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
    IE_EXPECT_REL(iet::rel_error(y, iet::ref::conv2d_forward(s, xd.data(), wd.data(), bias ? bd.data() : nullptr)), 1e-5,
                  std::string("forward ") + (bias ? "bias " : "") + what);
  }

  // float64 reference gradients of loss = <y, dy>
  std::vector<double> dx_ref, dw_ref, db_ref;
  iet::ref::conv2d_backward(s, xd, wd, dyd, dx_ref, dw_ref, db_ref);

  if (check_fd) {
    std::vector<double> theta(xd), dir = iet::to_double(iet::randn(nx + nw + size_t(s.K), seed + 4));
    theta.insert(theta.end(), wd.begin(), wd.end());
    theta.insert(theta.end(), bd.begin(), bd.end());
    auto loss = [&](const std::vector<double>& t) {
      return iet::dot(iet::ref::conv2d_forward(s, t.data(), t.data() + nx, t.data() + nx + nw), dyd);
    };
    double fd = iet::directional_fd(loss, theta, dir);
    std::vector<double> grad(dx_ref);
    grad.insert(grad.end(), dw_ref.begin(), dw_ref.end());
    grad.insert(grad.end(), db_ref.begin(), db_ref.end());
    IE_EXPECT(std::fabs(fd - iet::dot(grad, dir)) <= 1e-7 * (std::fabs(fd) + 1), "reference grad vs FD " + what);
  }

  std::vector<float> dx = iet::poisoned(nx);
  ie::cpu::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
  IE_EXPECT_REL(iet::rel_error(dx, dx_ref), 1e-5, "dx " + what);

  for (bool accumulate : {false, true}) {
    std::vector<float> dw = accumulate ? iet::randn(nw, seed + 5) : iet::poisoned(nw);
    std::vector<float> db = accumulate ? iet::randn(size_t(s.K), seed + 6) : iet::poisoned(size_t(s.K));
    std::vector<double> dw_want(dw_ref), db_want(db_ref);
    if (accumulate) {
      for (size_t i = 0; i < nw; ++i) dw_want[i] += dw[i];
      for (size_t i = 0; i < db.size(); ++i) db_want[i] += db[i];
    }
    ie::cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), db.data(), accumulate);
    IE_EXPECT_REL(iet::rel_error(dw, dw_want), 1e-5, std::string("dw acc=") + (accumulate ? "1 " : "0 ") + what);
    IE_EXPECT_REL(iet::rel_error(db, db_want), 1e-5, std::string("db acc=") + (accumulate ? "1 " : "0 ") + what);
    // db may be null
    std::vector<float> dw2 = iet::poisoned(nw);
    ie::cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw2.data(), nullptr, false);
    IE_EXPECT_REL(iet::rel_error(dw2, dw_ref), 1e-5, "dw (db null) " + what);
  }

  // the kernel's input gradient directly against finite differences (float32 accuracy)
  if (check_fd) {
    std::vector<double> dir = iet::to_double(iet::randn(nx, seed + 7));
    auto loss_x = [&](const std::vector<double>& xs) { return iet::dot(iet::ref::conv2d_forward(s, xs.data(), wd.data(), bd.data()), dyd); };
    double fd = iet::directional_fd(loss_x, xd, dir);
    IE_EXPECT(std::fabs(fd - iet::dot(dx, dir)) <= 1e-5 * (std::fabs(fd) + 1), "dx vs FD " + what);
  }
}

}  // namespace

IE_TEST(conv2d, kernels_strides_padding) {
  const Conv2dShape shapes[] = {
      conv_shape(2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1),    // 3x3 same, non-square image
      conv_shape(1, 4, 8, 6, 3, 3, 3, 2, 2, 1, 1),    // 3x3 stride 2 pad 1 (UNet downsample)
      conv_shape(2, 5, 9, 7, 17, 3, 3, 2, 2, 0, 0),   // 3x3 stride 2 pad 0 (VAE downsample)
      conv_shape(3, 17, 5, 6, 19, 1, 1, 1, 1, 0, 0),  // 1x1: plain GEMM path
      conv_shape(2, 6, 7, 5, 4, 1, 1, 2, 2, 0, 0),    // 1x1 stride 2
      conv_shape(1, 3, 6, 7, 2, 1, 1, 1, 1, 1, 1),    // 1x1 padded
      conv_shape(2, 3, 5, 8, 4, 2, 3, 1, 2, 0, 1),    // non-square kernel, mixed strides
      conv_shape(1, 20, 12, 10, 33, 3, 3, 1, 1, 1, 1),
      conv_shape(2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),    // smallest
      conv_shape(1, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2),    // padding wider than needed
  };
  uint64_t seed = 40;
  iet::for_each_cpu_path([&] {
    for (const auto& s : shapes) run_case(s, seed += 10);
  });
}

IE_TEST(conv2d, thread_counts) {
  uint64_t seed = 400;
  for (int threads : {1, 2, 3}) {
    ie::set_num_threads(threads);
    iet::for_each_cpu_path([&] {
      run_case(conv_shape(3, 9, 11, 13, 10, 3, 3, 1, 1, 1, 1), seed += 10);
      run_case(conv_shape(2, 24, 6, 5, 20, 1, 1, 1, 1, 0, 0), seed += 10);
    });
  }
  ie::set_num_threads(0);
}

// The im2col scratch covers a band of GEMM columns: several whole images when they are small
// (3 images of 15x15 go as 2 + 1), a band of output rows when an image is large (512 channels at
// 32x30: bands of 30 and 2 rows). No FD here: the float64 forward is the slow part.
IE_TEST(conv2d, bands_of_images_and_rows) {
  uint64_t seed = 700;
  iet::for_each_cpu_path([&] {
    run_case(conv_shape(3, 4, 15, 15, 6, 3, 3, 1, 1, 1, 1), seed += 10);
    run_case(conv_shape(2, 512, 32, 30, 1, 3, 3, 1, 1, 1, 1), seed += 10, false);
  });
}
