// The CUDA runtime as the rest of the library sees it, without CUDA headers. Implemented in
// native/src/cuda/runtime.cu when the build found nvcc, else by stubs that report it clearly.
//
// Each device has one CUDA stream, created on first use; every copy, fill and kernel of the
// library runs on it, so work on a device is ordered like the ie::Stream that launches it.
// Device memory comes from a caching allocator: freed blocks go back to a per-device cache and
// are reused by later allocations. Reuse is safe without events because there is one stream per
// device: a block is freed only after the work that used it was launched, and the next user's work
// is launched after that.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ie::cuda {

bool built();        // compiled with CUDA support
int device_count();  // 0 when not built, no driver or no GPU (never throws)
std::string device_name(int index);
// "sm_90" style compute capability (major*10+minor), and the archs this build carries ("80;90").
int device_capability(int index);
const char* built_archs();

// Memory; every failure throws ie::Error (out of memory names the size and the cache state).
void* malloc(size_t bytes, int device);
void free(void* p, size_t bytes, int device) noexcept;  // bytes: the size given to malloc
struct AllocStats {
  size_t in_use, cached, peak_in_use, reserved;  // reserved = in_use + cached (held from the driver)
};
AllocStats alloc_stats(int device) noexcept;
void reset_peak(int device) noexcept;
void empty_cache(int device) noexcept;  // gives cached blocks back to the driver

// Copies on the device's stream. Host-side copies return when the data has arrived (the host
// buffer may be reused at once); device-to-device copies and memset are stream-ordered.
void copy_h2d(void* dst, const void* src, size_t bytes, int device);
void copy_d2h(void* dst, const void* src, size_t bytes, int device);
void copy_d2d(void* dst, const void* src, size_t bytes, int device);
void memset_zero(void* dst, size_t bytes, int device);
// Waits for all work on the device's stream; a kernel that failed since reports its error here.
void synchronize(int device);

// Kernels: fill n 32-bit / 16-bit elements with a bit pattern (float32/int32, float16/bfloat16).
void fill_u32(void* dst, uint32_t bits, int64_t n, int device);
void fill_u16(void* dst, uint16_t bits, int64_t n, int device);

}  // namespace ie::cuda
