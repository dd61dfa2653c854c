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
void* malloc(size_t, int) { no_cuda(); }
void free(void*, int) noexcept {}
void copy_h2d(void*, const void*, size_t, int) { no_cuda(); }
void copy_d2h(void*, const void*, size_t, int) { no_cuda(); }
void copy_d2d(void*, const void*, size_t, int) { no_cuda(); }
void memset_zero(void*, size_t, int) { no_cuda(); }
void synchronize(int) { no_cuda(); }
void fill_u32(void*, uint32_t, int64_t, int) { no_cuda(); }
void fill_u16(void*, uint16_t, int64_t, int) { no_cuda(); }
}  // namespace ie::cuda
