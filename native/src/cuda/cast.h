// dtype conversion on the GPU, any direction between float32, float16, bfloat16 and int32, with the
// CPU's semantics (ops::cast): through float32, round to nearest even (ie/half.h's conversions,
// bit-identical to the CPU's); to int32: truncate toward zero, saturate, NaN → 0. Plain C++.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

void cast(DType from, DType to, const void* x, void* y, int64_t n, int device);

}  // namespace ie::cuda
