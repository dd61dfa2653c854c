// Nearest upsampling's source index (PyTorch's rule), the float64 reference's core (used by
// test_upsample.cc and test_cuda_norm.cc).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace iet::ref {

// PyTorch: identity and ×2 special-cased, else min(floor(float(dst) * (float(in)/float(out))), in − 1)
inline int64_t upsample_src_index(int64_t dst, int64_t in, int64_t out) {
  if (in == out) return dst;
  if (out == 2 * in) return dst / 2;
  float scale = float(in) / float(out);
  return std::min(int64_t(std::floor(float(dst) * scale)), in - 1);
}

}  // namespace iet::ref
