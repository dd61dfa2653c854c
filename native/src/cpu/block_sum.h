// Sums of squares over a block [i, end), in double: 8 lanes, then a fixed tree, then the tail —
// the same order on every ISA path, so block sums added in order give thread-count-independent
// results. Header-only inside the per-ISA namespace (each ISA build gets its own copy; see
// README.md on shared code across ISA builds).
#pragma once
#include <cstdint>

#ifndef IE_ISA
#error "cpu/block_sum.h is for kernel sources compiled per ISA"
#endif

namespace ie::cpu::IE_ISA {
namespace {

// Σ (a − t)² over [i, end); t == nullptr gives Σ a².
inline double block_sum_sq(const float* a, const float* t, int64_t i, int64_t end) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= end; i += 8)
    for (int j = 0; j < 8; ++j) {
      double d = t ? double(a[i + j]) - double(t[i + j]) : double(a[i + j]);
      acc[j] += d * d;
    }
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < end; ++i) {
    double d = t ? double(a[i]) - double(t[i]) : double(a[i]);
    s += d * d;
  }
  return s;
}

}  // namespace
}  // namespace ie::cpu::IE_ISA
