// Sinusoidal timestep embedding as diffusers' get_timestep_embedding computes it, in float32:
// half = dim/2; freq_k = exp(−ln(max_period)·k / (half − freq_shift)); arg = t·freq_k;
// out = [sin(arg), cos(arg)] or, with flip_sin_to_cos, [cos(arg), sin(arg)]; a zero column is
// appended when dim is odd. t[N] (fractional allowed) → out[N,dim]. No backward (t is data).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, timestep_embedding,
               (const float* t, float* out, int64_t N, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                float max_period))

#ifndef IE_ISA
namespace ie::cpu {
inline void timestep_embedding(const float* t, float* out, int64_t N, int64_t dim, bool flip_sin_to_cos,
                               float freq_shift, float max_period) {
  IE_CPU_DISPATCH(timestep_embedding, t, out, N, dim, flip_sin_to_cos, freq_shift, max_period)
}
}  // namespace ie::cpu
#endif
