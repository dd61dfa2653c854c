#include "cpu/timestep_embedding.h"

#include <cmath>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

// Mirrors diffusers' get_timestep_embedding op by op in float32:
//   exponent = float(−ln max_period) · float(k); exponent /= float(half − freq_shift);
//   freq = exp(exponent); arg = t · freq; then sin/cos of arg.
// std:: float functions (not a vector approximation) so sin/cos of large arguments (t up to
// 1000) are correctly reduced.
void timestep_embedding(const float* t, float* out, int64_t N, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                        float max_period) {
  const int64_t half = dim / 2;
  const float neg_log = float(-std::log(double(max_period)));
  const float denom = float(double(half) - double(freq_shift));
  parallel_for(N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      float* row = out + n * dim;
      float* s_part = flip_sin_to_cos ? row + half : row;
      float* c_part = flip_sin_to_cos ? row : row + half;
      for (int64_t k = 0; k < half; ++k) {
        float expo = (neg_log * float(k)) / denom;
        float arg = t[n] * std::exp(expo);
        s_part[k] = std::sin(arg);
        c_part[k] = std::cos(arg);
      }
      if (dim % 2) row[dim - 1] = 0.0f;  // diffusers pads odd dims with a zero column
    }
  });
}

}  // namespace ie::cpu::IE_ISA
