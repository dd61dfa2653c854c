#include "ie/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include "ie/error.h"

namespace ie {
namespace {

// Blocks are rounded up so that slightly different sizes share cache entries.
size_t round_size(size_t bytes) {
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  if (bytes <= (size_t(1) << 20)) return (bytes + 4095) / 4096 * 4096;
  return (bytes + 65535) / 65536 * 65536;
}

size_t cache_limit() {
  static const size_t limit = [] {
    const char* e = std::getenv("INSTRUCTEDIT_CPU_CACHE_MB");
    long mb = e ? std::atol(e) : 4096;
    return size_t(mb < 0 ? 0 : mb) << 20;
  }();
  return limit;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  size_t cached = 0, in_use = 0, peak = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // lives until exit (tensors may be freed during static destruction)
  return *c;
}

}  // namespace

void* cpu_alloc(size_t bytes) {
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    // Exact size class only: cpu_free gets the caller's size back, so a block must be reused
    // for a request of the same class.
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end()) {
      void* p = it->second;
      c.cached -= size;
      c.free_blocks.erase(it);
      c.in_use += size;
      if (c.in_use > c.peak) c.peak = c.in_use;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) {
    cpu_empty_cache();
    p = std::aligned_alloc(64, size);
  }
  IE_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
  std::lock_guard<std::mutex> lk(c.mu);
  c.in_use += size;
  if (c.in_use > c.peak) c.peak = c.in_use;
  return p;
}

void cpu_free(void* p, size_t bytes) noexcept {
  if (!p) return;
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  c.in_use -= size;
  if (size > cache_limit() / 4) {  // one block must not flush the cache
    std::free(p);
    return;
  }
  while (c.cached + size > cache_limit() && !c.free_blocks.empty()) {
    auto big = std::prev(c.free_blocks.end());  // evict the largest first
    c.cached -= big->first;
    std::free(big->second);
    c.free_blocks.erase(big);
  }
  c.free_blocks.emplace(size, p);
  c.cached += size;
}

void cpu_empty_cache() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto& kv : c.free_blocks) std::free(kv.second);
  c.free_blocks.clear();
  c.cached = 0;
}

CpuAllocStats cpu_alloc_stats() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return {c.in_use, c.cached, c.peak};
}

}  // namespace ie

namespace ie {
void cpu_reset_peak() noexcept {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  c.peak = c.in_use;
}
}  // namespace ie
