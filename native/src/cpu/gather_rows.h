// Row gather: y[r] = x[idx[r]] for rows of `width` floats (embedding lookups, CLIP's pooled token).
// Indices are checked by the op (0 <= idx < rows of x) before the kernel runs.
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, gather_rows, (const float* x, const int32_t* idx, float* y, int64_t n, int64_t width))

#ifndef IE_ISA
namespace ie::cpu {
inline void gather_rows(const float* x, const int32_t* idx, float* y, int64_t n, int64_t width) {
  IE_CPU_DISPATCH(gather_rows, x, idx, y, n, width)
}
}  // namespace ie::cpu
#endif
