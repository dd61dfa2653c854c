#include "cpu/concat.h"

#include <cstring>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

// Work items are (outer row, input) pieces; the grain aims at ~64 KiB of copying per chunk.
int64_t piece_grain(const int64_t* sizes, int n, int64_t inner_bytes) {
  int64_t row = 0;
  for (int i = 0; i < n; ++i) row += sizes[i] * inner_bytes;
  int64_t avg = n > 0 ? row / n : 0;
  return avg > 0 ? (int64_t(1) << 16) / avg + 1 : 1 << 16;
}

}  // namespace

void concat(const void* const* inputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes, void* y) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += sizes[i];
  const int64_t row_bytes = total * inner_bytes;
  parallel_for(outer * n, piece_grain(sizes, n, inner_bytes), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int64_t o = p / n;
      int i = int(p % n);
      int64_t off = 0;
      for (int k = 0; k < i; ++k) off += sizes[k];
      int64_t bytes = sizes[i] * inner_bytes;
      if (bytes > 0)
        std::memcpy(static_cast<char*>(y) + o * row_bytes + off * inner_bytes,
                    static_cast<const char*>(inputs[i]) + o * bytes, size_t(bytes));
    }
  });
}

void split(const void* x, void* const* outputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += sizes[i];
  const int64_t row_bytes = total * inner_bytes;
  parallel_for(outer * n, piece_grain(sizes, n, inner_bytes), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int64_t o = p / n;
      int i = int(p % n);
      int64_t off = 0;
      for (int k = 0; k < i; ++k) off += sizes[k];
      int64_t bytes = sizes[i] * inner_bytes;
      if (bytes > 0)
        std::memcpy(static_cast<char*>(outputs[i]) + o * bytes,
                    static_cast<const char*>(x) + o * row_bytes + off * inner_bytes, size_t(bytes));
    }
  });
}

}  // namespace ie::cpu::IE_ISA
