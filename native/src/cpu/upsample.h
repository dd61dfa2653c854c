// Nearest-neighbour upsampling of x[NC,H,W] to y[NC,OH,OW] with PyTorch's rule: source index
// ⌊dst · (float)(in/out)⌋ (nearest ×2 is OH = 2H, OW = 2W). Backward sums dy into dx (overwritten).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, upsample_nearest_forward,
               (const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW))
IE_CPU_DECLARE(void, upsample_nearest_backward,
               (const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW))

#ifndef IE_ISA
namespace ie::cpu {
inline void upsample_nearest_forward(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                     int64_t OW) {
  IE_CPU_DISPATCH(upsample_nearest_forward, x, y, NC, H, W, OH, OW)
}
inline void upsample_nearest_backward(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                      int64_t OW) {
  IE_CPU_DISPATCH(upsample_nearest_backward, dy, dx, NC, H, W, OH, OW)
}
}  // namespace ie::cpu
#endif
