// CUDA sinusoidal timestep embedding (native/src/cpu/timestep_embedding.h gives the formula):
// t[N] -> out[N, dim], both of dtype dt. neg_log = float(−ln max_period) and
// denom = float(half − freq_shift) are computed by the caller exactly as the CPU kernel does.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

void timestep_embedding(DType dt, const void* t, void* out, int64_t N, int64_t dim, bool flip_sin_to_cos,
                        float neg_log, float denom, int device);

}  // namespace ie::cuda
