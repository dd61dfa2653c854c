#include "cpu/cast.h"

#include "ie/half.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

constexpr int64_t kGrain = 1 << 15;

void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = float_to_f16(x[i]);
  });
}
void f16_to_f32(const uint16_t* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f16_to_float(x[i]);
  });
}
void f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = float_to_bf16(x[i]);
  });
}
void bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = bf16_to_float(x[i]);
  });
}

}  // namespace ie::cpu::IE_ISA
