// float64 references of the timestep embedding (used by test_timestep_embedding.cc and
// test_cuda_norm.cc).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace iet::ref {

// Embeddings [N, dim] of timesteps t [N]: `ref` is float64 sin/cos of diffusers' float32 argument
// (exponent = −ln(P)·arange(half) / (half − shift), arg = t·exp(exponent), all in float32),
// `exact` the all-float64 formula. flip puts cos first; an odd dim's last column is 0.
inline void timestep_embedding(const std::vector<float>& t, int64_t dim, bool flip, float shift, float max_period,
                               std::vector<double>& ref, std::vector<double>& exact) {
  const int64_t N = int64_t(t.size()), half = dim / 2;
  ref.assign(size_t(N * dim), 0.0);
  exact.assign(size_t(N * dim), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < half; ++k) {
      float expo = (float(-std::log(double(max_period))) * float(k)) / float(double(half) - double(shift));
      float arg = t[size_t(n)] * std::exp(expo);
      double a64 = double(t[size_t(n)]) * std::exp(-std::log(double(max_period)) * double(k) / (double(half) - shift));
      size_t s_at = size_t(n * dim + (flip ? half : 0) + k), c_at = size_t(n * dim + (flip ? 0 : half) + k);
      ref[s_at] = std::sin(double(arg));
      ref[c_at] = std::cos(double(arg));
      exact[s_at] = std::sin(a64);
      exact[c_at] = std::cos(a64);
    }
}

}  // namespace iet::ref
