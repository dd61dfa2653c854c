// dtype conversions between float32 and the 16-bit storage types (round to nearest even).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

IE_CPU_DECLARE(void, f32_to_f16, (const float* x, uint16_t* y, int64_t n))
IE_CPU_DECLARE(void, f16_to_f32, (const uint16_t* x, float* y, int64_t n))
IE_CPU_DECLARE(void, f32_to_bf16, (const float* x, uint16_t* y, int64_t n))
IE_CPU_DECLARE(void, bf16_to_f32, (const uint16_t* x, float* y, int64_t n))

#ifndef IE_ISA
namespace ie::cpu {
inline void f32_to_f16(const float* x, uint16_t* y, int64_t n) { IE_CPU_DISPATCH(f32_to_f16, x, y, n) }
inline void f16_to_f32(const uint16_t* x, float* y, int64_t n) { IE_CPU_DISPATCH(f16_to_f32, x, y, n) }
inline void f32_to_bf16(const float* x, uint16_t* y, int64_t n) { IE_CPU_DISPATCH(f32_to_bf16, x, y, n) }
inline void bf16_to_f32(const uint16_t* x, float* y, int64_t n) { IE_CPU_DISPATCH(bf16_to_f32, x, y, n) }
}  // namespace ie::cpu
#endif
