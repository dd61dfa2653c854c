// SuperEdit's triplet loss fused with the InstructPix2Pix MSE on the GPU (float32), the same three
// steps as the CPU op (ops/triplet_loss.cc, cpu/triplet_loss.h): per-sample sums of squares, the
// scalar terms and per-sample coefficients, the gradient. Plain C++.
#pragma once
#include <cstdint>

#include "ops/triplet_terms.h"

namespace ie::cuda {

using TripletParams = ie::triplet::Params;

// Masks of up to this many samples travel as bits in the kernel arguments; larger batches pass
// keep_dev (B int32 0/1 on the device).
constexpr int64_t kTripletKeepBits = 4096;

// pred [2B, n] = [pos; neg], target [B, n]. keep_host: B bytes on the host (used when keep_dev is
// null; then B <= kTripletKeepBits). Temporaries: partials, triplet_partials(B, n) doubles; coef, 2B
// floats. Outputs: grad [2B, n]; stats [4 + 3B] laid out as on the CPU (loss, mse, triplet,
// counted, d_pos[B], d_neg[B], active[B]).
int64_t triplet_partials(int64_t B, int64_t n);
void triplet_loss(const float* pred, const float* target, int64_t B, int64_t n, const uint8_t* keep_host,
                  const int32_t* keep_dev, const TripletParams& p, double* partials, float* coef, float* grad,
                  float* stats, int device);

}  // namespace ie::cuda
