// The CUDA runtime as the rest of the library sees it, without CUDA headers. Implemented in
// native/src/cuda/runtime.cu when the build found nvcc, else by stubs that report it clearly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ie::cuda {

bool built();        // compiled with CUDA support
int device_count();  // 0 when not built, no driver or no GPU (never throws)
std::string device_name(int index);

// Memory; every failure throws ie::Error (out of memory names the size).
void* malloc(size_t bytes, int device);
void free(void* p, int device) noexcept;
void copy_h2d(void* dst, const void* src, size_t bytes, int device);
void copy_d2h(void* dst, const void* src, size_t bytes, int device);
void copy_d2d(void* dst, const void* src, size_t bytes, int device);
void memset_zero(void* dst, size_t bytes, int device);
void synchronize(int device);

// Kernels: fill n 32-bit / 16-bit elements with a bit pattern (float32/int32, float16/bfloat16).
void fill_u32(void* dst, uint32_t bits, int64_t n, int device);
void fill_u16(void* dst, uint16_t bits, int64_t n, int device);

}  // namespace ie::cuda
