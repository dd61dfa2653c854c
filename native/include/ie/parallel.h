// A fixed thread pool for data-parallel kernels. parallel_for splits [0, n) into contiguous chunks
// (a fixed partition for a given thread count, so results are reproducible), runs them on the pool
// and the calling thread, and returns when all are done. Nested calls run inline. An exception
// thrown by a chunk is rethrown on the calling thread once all chunks have finished.
#pragma once
#include <cstdint>
#include <utility>

namespace ie {

int num_threads();
// n <= 0 means "the machine's cores". Safe to call between kernels, from any thread.
void set_num_threads(int n);

using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);
void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx);

// fn(begin, end) is called on disjoint chunks covering [0, n); each chunk has at least `grain`
// items (except when n < grain). Template-free core so kernel files compiled for several ISAs
// never share an out-of-line instantiation (see native/src/cpu/README.md).
template <typename F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  auto tramp = [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); };
  parallel_for_raw(n, grain, tramp, static_cast<void*>(&fn));
}

}  // namespace ie
