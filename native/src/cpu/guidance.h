// InstructPix2Pix two-way classifier-free guidance (SPEC §1 step 6), fused into one pass:
// the UNet ran at batch 3B on [text+image, image only, neither]; with (t, i, u) those three chunks,
//   out = u + s_text·(t − i) + s_image·(i − u)
// evaluated in diffusers' float32 order. eps[3·n] → out[n], n = B·C·H·W. Backward:
//   dt = s_text·dy, di = (s_image − s_text)·dy, du = (1 − s_image)·dy.
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, pix2pix_guidance, (const float* eps, float* out, int64_t n, float s_text, float s_image))
IE_CPU_DECLARE(void, pix2pix_guidance_backward,
               (const float* dy, float* deps, int64_t n, float s_text, float s_image))

#ifndef IE_ISA
namespace ie::cpu {
inline void pix2pix_guidance(const float* eps, float* out, int64_t n, float s_text, float s_image) {
  IE_CPU_DISPATCH(pix2pix_guidance, eps, out, n, s_text, s_image)
}
inline void pix2pix_guidance_backward(const float* dy, float* deps, int64_t n, float s_text, float s_image) {
  IE_CPU_DISPATCH(pix2pix_guidance_backward, dy, deps, n, s_text, s_image)
}
}  // namespace ie::cpu
#endif
