// Tensor memory of a device, whichever allocator serves it (host: cpu_alloc, GPU: the CUDA caching
// allocator). Models record each pass's peak with these.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie {

int64_t memory_in_use(Device device) noexcept;
int64_t memory_peak(Device device) noexcept;
void memory_reset_peak(Device device) noexcept;
// Fills the bytes with zero on the device, in stream order (call from a stream task or before the
// tensor is shared).
void memory_zero(void* p, size_t bytes, Device device);

}  // namespace ie
