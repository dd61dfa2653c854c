// Host memory for tensors: 64-byte aligned, with a cache of freed blocks. Model-sized work
// allocates and frees the same sizes every step; fresh pages from the OS cost a page fault per
// 4 KiB (tens of ms per 256 MiB), so freed blocks are kept and reused for requests of the same size class. The cache holds at most INSTRUCTEDIT_CPU_CACHE_MB (default 4096) MiB.
#pragma once
#include <cstddef>

namespace ie {

void* cpu_alloc(size_t bytes);            // throws ie::Error when out of memory
void cpu_free(void* p, size_t bytes) noexcept;  // bytes: the size given to cpu_alloc
// Returns cached blocks to the OS.
void cpu_empty_cache() noexcept;
struct CpuAllocStats {
  size_t in_use, cached, peak_in_use;
};
CpuAllocStats cpu_alloc_stats() noexcept;
// Starts a new peak measurement: peak_in_use = in_use now.
void cpu_reset_peak() noexcept;

}  // namespace ie
