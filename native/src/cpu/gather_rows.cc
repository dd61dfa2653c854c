#include "cpu/gather_rows.h"

#include <cstring>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

void gather_rows(const float* x, const int32_t* idx, float* y, int64_t n, int64_t width) {
  parallel_for(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      std::memcpy(y + r * width, x + int64_t(idx[r]) * width, size_t(width) * sizeof(float));
  });
}

}  // namespace ie::cpu::IE_ISA
