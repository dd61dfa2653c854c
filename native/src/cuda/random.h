// Counter-based random fills on the GPU (Philox4x32-10, ie/philox.h): element i is a function of
// (seed, offset + i) with the CPU's counter layout (cpu/random.cc), written as float32, float16 or
// bfloat16 (the float32 value rounded to nearest even, as ops::cast does). Plain C++.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// out[i] = mean + std·z, z = half (offset + i) & 1 of Box-Muller pair (offset + i) / 2.
void fill_randn(void* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std, DType dt, int device);
// out[i] = lo + (hi − lo)·u, u = philox_uniform(seed, offset + i) (24-bit, exact on any device).
void fill_rand(void* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi, DType dt, int device);

}  // namespace ie::cuda
