// 2-D convolution, NCHW, PyTorch layout: x[N,C,H,W], w[K,C,R,S], b[K] (may be null), y[N,K,P,Q]
// with P = (H + 2·pad_h − R) / stride_h + 1, Q likewise. Zero padding. Kernels of any size; the
// UNet uses 1×1 and 3×3 at stride 1 and 2.
// Backward: dx (overwritten), dw and db (db may be null; overwritten or, with accumulate, added to).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

namespace ie::cpu {
// Plain data (no member functions: this header is compiled for several ISAs).
struct Conv2dShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height, width
  int64_t stride_h, stride_w, pad_h, pad_w;
  int64_t P, Q;  // output height, width (the caller fills them in)
};
}  // namespace ie::cpu

IE_CPU_DECLARE(void, conv2d_forward,
               (const ie::cpu::Conv2dShape& s, const float* x, const float* w, const float* b, float* y))
IE_CPU_DECLARE(void, conv2d_backward_input,
               (const ie::cpu::Conv2dShape& s, const float* dy, const float* w, float* dx))
IE_CPU_DECLARE(void, conv2d_backward_weight,
               (const ie::cpu::Conv2dShape& s, const float* x, const float* dy, float* dw, float* db,
                bool accumulate))

#ifndef IE_ISA
namespace ie::cpu {
inline void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
  IE_CPU_DISPATCH(conv2d_forward, s, x, w, b, y)
}
inline void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  IE_CPU_DISPATCH(conv2d_backward_input, s, dy, w, dx)
}
inline void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, float* db,
                                   bool accumulate) {
  IE_CPU_DISPATCH(conv2d_backward_weight, s, x, dy, dw, db, accumulate)
}
}  // namespace ie::cpu
#endif
