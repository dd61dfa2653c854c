// Built when nvcc was not found (or IE_CUDA=OFF): CUDA calls report that clearly.
#include "ie/cuda.h"
#include "ie/error.h"

namespace ie::cuda {
namespace {
[[noreturn]] void no_cuda() { fail("instructedit was built without CUDA (nvcc was not found or IE_CUDA=OFF)"); }
}  // namespace
bool built() { return false; }
int device_count() { return 0; }
std::string device_name(int) { no_cuda(); }
int device_capability(int) { no_cuda(); }
const char* built_archs() { return ""; }
void* malloc(size_t, int) { no_cuda(); }
void free(void*, size_t, int) noexcept {}
AllocStats alloc_stats(int) noexcept { return {0, 0, 0, 0}; }
void reset_peak(int) noexcept {}
void empty_cache(int) noexcept {}
void copy_h2d(void*, const void*, size_t, int) { no_cuda(); }
void copy_d2h(void*, const void*, size_t, int) { no_cuda(); }
void copy_d2d(void*, const void*, size_t, int) { no_cuda(); }
void memset_zero(void*, size_t, int) { no_cuda(); }
void synchronize(int) { no_cuda(); }
void fill_u32(void*, uint32_t, int64_t, int) { no_cuda(); }
void fill_u16(void*, uint16_t, int64_t, int) { no_cuda(); }
}  // namespace ie::cuda
