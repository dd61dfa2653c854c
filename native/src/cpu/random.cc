#include "cpu/random.h"

#include "ie/parallel.h"
#include "ie/philox.h"

namespace ie::cpu::IE_ISA {

// Normal number j (global index offset + i) is half of Box-Muller pair j / 2.
void fill_randn(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint64_t j = offset + uint64_t(i);
      float z0, z1;
      philox_normal_pair(seed, j >> 1, &z0, &z1);
      out[i] = mean + std * ((j & 1) ? z1 : z0);
    }
  });
}

void fill_rand(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = lo + (hi - lo) * philox_uniform(seed, offset + uint64_t(i));
  });
}

}  // namespace ie::cpu::IE_ISA
