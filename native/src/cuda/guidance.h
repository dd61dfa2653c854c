// InstructPix2Pix two-way classifier-free guidance on the GPU (formulas: cpu/guidance.h). Storage
// F32/F16/BF16, compute float32. Plain C++.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// eps[3·n] = [t; i; u] → out[n] = u + s_text·(t − i) + s_image·(i − u)
void pix2pix_guidance(DType dt, const void* eps, void* out, int64_t n, float s_text, float s_image, int device);
// dy[n] → deps[3·n] = [s_text·dy; (s_image − s_text)·dy; (1 − s_image)·dy]
void pix2pix_guidance_backward(DType dt, const void* dy, void* deps, int64_t n, float s_text, float s_image,
                               int device);

}  // namespace ie::cuda
