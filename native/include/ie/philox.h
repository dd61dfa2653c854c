// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): a counter-based
// generator. Element i of a random tensor depends only on (seed, offset + i), so the numbers are the
// same on any thread count and on the GPU.
#pragma once
#include <cmath>
#include <cstdint>

#include "ie/half.h"

namespace ie {

struct Philox4 {
  uint32_t v[4];
};

IE_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = uint32_t(p1);
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = uint32_t(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += W0;
    k1 += W1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits.
IE_HD float u32_to_unit(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

// Counter layout: block = index / 2 (each block gives 2 normals or 4 uniforms... see random.cc).
IE_HD void philox_normal_pair(uint64_t seed, uint64_t block, float* z0, float* z1) {
  Philox4 r = philox4x32_10(uint32_t(block), uint32_t(block >> 32), 0x6e6f726du /* "norm" */, 0,
                            uint32_t(seed), uint32_t(seed >> 32));
  // Box-Muller; u1 in (0, 1] so log is finite. Uses 24-bit uniforms from two words each half.
  float u1 = (float(r.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
  float u2 = u32_to_unit(r.v[1]);
  float rad = sqrtf(-2.0f * logf(u1));
  float th = 6.28318530717958647692f * u2;
  *z0 = rad * cosf(th);
  *z1 = rad * sinf(th);
}

IE_HD float philox_uniform(uint64_t seed, uint64_t index) {
  uint64_t block = index >> 2;
  Philox4 r = philox4x32_10(uint32_t(block), uint32_t(block >> 32), 0x756e6966u /* "unif" */, 0,
                            uint32_t(seed), uint32_t(seed >> 32));
  return u32_to_unit(r.v[index & 3]);
}

}  // namespace ie
