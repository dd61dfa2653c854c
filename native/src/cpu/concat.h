// Concatenate / split along one axis, any dtype (works on bytes). Input i is viewed as
// [outer, sizes[i]·inner_bytes] and the result as [outer, Σsizes·inner_bytes]. split is the
// inverse (and concat's backward).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, concat,
               (const void* const* inputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes, void* y))
IE_CPU_DECLARE(void, split,
               (const void* x, void* const* outputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes))

#ifndef IE_ISA
namespace ie::cpu {
inline void concat(const void* const* inputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes,
                   void* y) {
  IE_CPU_DISPATCH(concat, inputs, sizes, n, outer, inner_bytes, y)
}
inline void split(const void* x, void* const* outputs, const int64_t* sizes, int n, int64_t outer,
                  int64_t inner_bytes) {
  IE_CPU_DISPATCH(split, x, outputs, sizes, n, outer, inner_bytes)
}
}  // namespace ie::cpu
#endif
