// Row gather on the GPU: y[r] = x[idx[r]], rows of `width` elements of `dt`; idx on the device.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {
void gather_rows(DType dt, const void* x, const int32_t* idx, void* y, int64_t n, int64_t width, int device);
}
