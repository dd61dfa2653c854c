// Counter-based random fills (Philox4x32-10): element i depends only on (seed, offset + i).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, fill_randn, (float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std))
IE_CPU_DECLARE(void, fill_rand, (float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi))

#ifndef IE_ISA
namespace ie::cpu {
inline void fill_randn(float* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
  IE_CPU_DISPATCH(fill_randn, out, n, seed, offset, mean, std)
}
inline void fill_rand(float* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi) {
  IE_CPU_DISPATCH(fill_rand, out, n, seed, offset, lo, hi)
}
}  // namespace ie::cpu
#endif
