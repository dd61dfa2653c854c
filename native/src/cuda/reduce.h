// Reductions on the GPU, deterministic (a fixed summation order for given shapes, no float atomics).
// Plain C++ (no CUDA headers) so ops can include it.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// y = scale · Σ x over the dims flagged in reduce_dims (x contiguous [shape], ndim <= 8; y contiguous,
// the kept dims in order), like cpu::reduce_sum but accumulated in float32: storage F32/F16/BF16,
// output in the same dtype.
void reduce_sum(DType dt, const void* x, const int64_t* shape, int ndim, const uint8_t* reduce_dims, void* y,
                float scale, int device);

// Sums of squares in double, two-stage: stage 1 writes per-block partials, stage 2 adds them in a
// fixed order.
//
// Per row r < rows: Σ_i (a[r·n + i] − t[(r % t_rows)·n + i])² (t null: Σ a²) as
// sum_sq_row_chunks(n) partials, partials[r·chunks + c]; the row's sum is Σ_c in order.
int64_t sum_sq_row_chunks(int64_t n);
void sum_sq_rows(const float* a, const float* t, int64_t rows, int64_t n, int64_t t_rows, double* partials, int device);

// Flat: Σ (a − t)² over n elements (t null: Σ a²), with `partials` a temporary of
// sum_sq_row_chunks(n) doubles. mode SumAndFinite: out[0] = float(s), out[1] = 1 if s is finite
// else 0 (s is non-finite exactly when an element is); mode Mean: out[0] = float(s / n).
enum class SumSqOut : int { SumAndFinite = 0, Mean = 1 };
void sum_sq(const float* a, const float* t, int64_t n, double* partials, SumSqOut mode, float* out, int device);

}  // namespace ie::cuda
