#include "ie/device_memory.h"

#include <cstring>

#include "ie/allocator.h"
#include "ie/cuda.h"

namespace ie {

int64_t memory_in_use(Device d) noexcept {
  return int64_t(d.is_cpu() ? cpu_alloc_stats().in_use : cuda::alloc_stats(d.index).in_use);
}
int64_t memory_peak(Device d) noexcept {
  return int64_t(d.is_cpu() ? cpu_alloc_stats().peak_in_use : cuda::alloc_stats(d.index).peak_in_use);
}
void memory_reset_peak(Device d) noexcept {
  if (d.is_cpu()) cpu_reset_peak();
  else cuda::reset_peak(d.index);
}
void memory_zero(void* p, size_t bytes, Device d) {
  if (d.is_cpu()) std::memset(p, 0, bytes);
  else cuda::memset_zero(p, bytes, d.index);
}

}  // namespace ie
