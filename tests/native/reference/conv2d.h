// float64 conv2d references (used by test_conv2d.cc and test_cuda_gemm.cc): the shape helper, the
// tap enumeration, forward and the gradients of <y, dy>.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/conv2d.h"  // ie::cpu::Conv2dShape (a plain struct)

namespace iet::ref {

using ie::cpu::Conv2dShape;

// N C H W input, K output channels, R x S kernel, strides and paddings; P, Q computed.
inline Conv2dShape conv_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Conv2dShape s{N, C, H, W, K, R, S, sh, sw, ph, pw, 0, 0};
  s.P = (H + 2 * ph - R) / sh + 1;
  s.Q = (W + 2 * pw - S) / sw + 1;
  return s;
}

// Calls f(x_index, w_index, y_index) for every tap that reads inside x.
template <typename F>
void each_tap(const Conv2dShape& s, F&& f) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q)
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t r = 0; r < s.R; ++r) {
              int64_t h = p * s.stride_h - s.pad_h + r;
              if (h < 0 || h >= s.H) continue;
              for (int64_t si = 0; si < s.S; ++si) {
                int64_t w = q * s.stride_w - s.pad_w + si;
                if (w < 0 || w >= s.W) continue;
                f(size_t(((n * s.C + c) * s.H + h) * s.W + w), size_t(((k * s.C + c) * s.R + r) * s.S + si),
                  size_t(((n * s.K + k) * s.P + p) * s.Q + q));
              }
            }
}

// y = conv2d(x, w) + b (b: nullptr for none).
inline std::vector<double> conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* b) {
  std::vector<double> y(size_t(s.N * s.K * s.P * s.Q), 0.0);
  if (b)
    for (size_t i = 0; i < y.size(); ++i) y[i] = b[i / size_t(s.P * s.Q) % size_t(s.K)];
  each_tap(s, [&](size_t xi, size_t wi, size_t yi) { y[yi] += x[xi] * w[wi]; });
  return y;
}

// Gradients of <y, dy> with respect to x, w and b.
inline void conv2d_backward(const Conv2dShape& s, const std::vector<double>& x, const std::vector<double>& w,
                            const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& dw,
                            std::vector<double>& db) {
  dx.assign(x.size(), 0.0);
  dw.assign(w.size(), 0.0);
  db.assign(size_t(s.K), 0.0);
  each_tap(s, [&](size_t xi, size_t wi, size_t yi) {
    dx[xi] += dy[yi] * w[wi];
    dw[wi] += dy[yi] * x[xi];
  });
  for (size_t i = 0; i < dy.size(); ++i) db[i / size_t(s.P * s.Q) % size_t(s.K)] += dy[i];
}

}  // namespace iet::ref
