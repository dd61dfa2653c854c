// CUDA runtime wrapper: devices, the per-device stream, the caching allocator and copies.
// Errors become ie::Error, never aborts.
//
// CUDA graph capture (cuda/graph.h): while a thread captures on device d, stream(d) on that thread
// returns the graph's private capture stream, and its allocations and frees on d use the graph's
// private pool (detail::GraphPool below). Other threads keep the device's stream and the general
// cache, so the JS thread can create tensors (and even run host copies) while a model captures.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/graph.h"
#include "ie/cuda.h"
#include "ie/error.h"

#ifndef IE_CUDA_ARCHS
#define IE_CUDA_ARCHS "?"
#endif

namespace ie::cuda {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  fail("CUDA error in ", what, ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("CUDA error launching ", kernel, ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

void allow_dynamic_smem_raw(const void* kernel, size_t bytes, int device, const char* what) {
  if (bytes <= (size_t(48) << 10)) return;  // the default limit
  IE_CHECK(bytes <= max_smem_optin(device), what, ": the kernel needs ", bytes, " bytes of shared memory per block, cuda:",
           device, " allows ", max_smem_optin(device));
  static std::mutex mu;
  static auto* set = new std::map<std::pair<const void*, int>, size_t>();  // lives until exit
  std::lock_guard<std::mutex> lk(mu);
  size_t& have = (*set)[{kernel, device}];
  if (have >= bytes) return;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), what);
  have = bytes;
}

namespace {

constexpr int kMaxDevices = 64;

void set_device(int device) {
  IE_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  // cudaSetDevice is cheap but not free; threads keep their current device.
  thread_local int current = -1;
  if (current != device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    current = device;
  }
}

struct DeviceState {
  std::once_flag init;
  cudaStream_t stream = nullptr;
  int sms = 0;
  int smem_optin = 0;
  // caching allocator
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block (the general cache)
  // Blocks owned by a CUDA graph's private pool (in use by a tensor, or in the pool's free list):
  // a graph bakes their addresses in, so while it lives they never go to the general cache.
  std::unordered_map<void*, detail::GraphPool*> owned;
  // cached: free blocks held from the driver, the general cache's and the graph pools' free lists.
  size_t in_use = 0, cached = 0, peak = 0;
};

DeviceState& state(int device) {
  static DeviceState* states = new DeviceState[kMaxDevices];  // lives until exit
  DeviceState& s = states[device];
  std::call_once(s.init, [&] {
    set_device(device);
    check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&s.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
          "cudaDeviceGetAttribute");
  });
  return s;
}

// Size classes: 512 B steps below 1 MiB, 2 MiB steps above (big activations vary a little
// between steps; coarse classes let them reuse each other's blocks).
size_t round_size(size_t bytes) {
  if (bytes < (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  return (bytes + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
}

void release_cached(DeviceState& s) {  // with s.mu held; never while this thread captures
  size_t released = 0;
  for (auto& kv : s.free_blocks) {
    cudaFree(kv.second);
    released += kv.first;
  }
  s.free_blocks.clear();
  s.cached -= released;  // the graph pools' free blocks stay (and stay counted)
}

// The capture this thread is recording, if any (set by Graph::begin_capture, cleared by its end).
struct ThreadCapture {
  int device = -1;
  detail::GraphPool* pool = nullptr;
  cudaStream_t stream = nullptr;
};
thread_local ThreadCapture t_capture;

bool capturing_on(int device) { return t_capture.pool != nullptr && t_capture.device == device; }

}  // namespace

namespace detail {

// A graph's private memory: blocks its capture allocated or freed. Free ones are reused only by
// the same capture (the graph keeps the capture's stream order, so reuse inside it is safe).
struct GraphPool {
  int device = 0;
  std::multimap<size_t, void*> free_blocks;
  size_t bytes = 0;  // all blocks the pool owns (free or held by a tensor)
};

GraphPool* pool_create(int device) {
  IE_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  state(device);
  auto* p = new GraphPool;
  p->device = device;
  return p;
}

void pool_release(GraphPool* pool, bool sync) noexcept {
  if (!pool) return;
  DeviceState& s = state(pool->device);
  // Replays launched on the device's stream may still run: wait for them (stream order would
  // already protect the blocks' next users, who launch later on that stream; this is belt and braces).
  // Never from a capturing thread (any device): a synchronising call there would invalidate its capture.
  if (sync && t_capture.pool == nullptr) {
    if (cudaStreamSynchronize(s.stream) != cudaSuccess) cudaGetLastError();
  }
  std::lock_guard<std::mutex> lk(s.mu);
  for (auto& kv : pool->free_blocks) s.free_blocks.emplace(kv.first, kv.second);  // stays counted in cached
  for (auto it = s.owned.begin(); it != s.owned.end();) {
    if (it->second == pool) it = s.owned.erase(it);  // still held by a tensor: freed to the general cache later
    else ++it;
  }
  delete pool;
}

size_t pool_bytes(const GraphPool* pool) noexcept {
  if (!pool) return 0;
  DeviceState& s = state(pool->device);
  std::lock_guard<std::mutex> lk(s.mu);
  return pool->bytes;
}

void set_thread_capture(int device, GraphPool* pool, void* capture_stream) noexcept {
  if (!pool) {
    t_capture = ThreadCapture{};
    return;
  }
  t_capture.device = device;
  t_capture.pool = pool;
  t_capture.stream = static_cast<cudaStream_t>(capture_stream);
}

GraphPool* thread_capture_pool() noexcept { return t_capture.pool; }

void* device_stream(int device) {
  set_device(device);
  return state(device).stream;
}

}  // namespace detail

bool thread_capturing() noexcept { return t_capture.pool != nullptr; }

cudaStream_t stream(int device) {
  set_device(device);
  if (capturing_on(device)) return t_capture.stream;  // recorded into the graph, run by its replays
  return state(device).stream;
}
int sm_count(int device) { return state(device).sms; }
size_t max_smem_optin(int device) { return size_t(state(device).smem_optin); }

bool built() { return true; }
const char* built_archs() { return IE_CUDA_ARCHS; }

int device_count() {
  // Asked on every CUDA allocation (Tensor::empty), so ask the driver once: the count cannot change
  // within a process. (This also keeps driver queries out of a capturing thread.)
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the "no driver" error
      return 0;
    }
    return n;
  }();
  return count;
}

std::string device_name(int index) {
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  return p.name;
}

int device_capability(int index) {
  int major = 0, minor = 0;
  check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index), "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index), "cudaDeviceGetAttribute");
  return major * 10 + minor;
}

namespace {

// An allocation on a capturing thread: from the graph's pool, else a general cached block or a new
// one (either then belongs to the pool). Never frees or synchronises (both are illegal while
// capturing); out of memory is an error (the caller's eager fallback can free the cache).
void* capture_malloc(DeviceState& s, size_t size, int device) {  // with s.mu held
  detail::GraphPool* pool = t_capture.pool;
  void* p = nullptr;
  auto it = pool->free_blocks.find(size);
  if (it != pool->free_blocks.end()) {
    p = it->second;
    pool->free_blocks.erase(it);
    s.cached -= size;
    return p;
  }
  auto g = s.free_blocks.find(size);
  if (g != s.free_blocks.end()) {
    p = g->second;
    s.free_blocks.erase(g);
    s.cached -= size;
  } else {
    // cudaMalloc is a "potentially unsafe" call during stream capture: under
    // cudaStreamCaptureModeThreadLocal the capturing thread may not make it (cuda_runtime_api.h,
    // cudaThreadExchangeStreamCaptureMode). The allocation itself is fine for the graph (the pool
    // keeps it for the graph's lifetime; the graph only bakes in its address), so relax this
    // thread's mode for this one call and restore it (the documented push-pop pattern).
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaError_t me = cudaThreadExchangeStreamCaptureMode(&mode);
    cudaError_t e = me == cudaSuccess ? cudaMalloc(&p, size) : me;
    if (me == cudaSuccess) cudaThreadExchangeStreamCaptureMode(&mode);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      fail("out of GPU memory allocating ", size, " bytes on cuda:", device, " while capturing a CUDA graph (",
           s.in_use >> 20, " MiB in use by tensors, ", s.cached >> 20, " MiB cached; the cache cannot be freed "
           "during a capture)");
    }
    check(e, "cudaMalloc (during CUDA graph capture)");
  }
  s.owned[p] = pool;
  pool->bytes += size;
  return p;
}

}  // namespace

void* malloc(size_t bytes, int device) {
  set_device(device);
  DeviceState& s = state(device);
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> lk(s.mu);
  if (capturing_on(device)) {
    void* p = capture_malloc(s, size, device);
    s.in_use += size;
    if (s.in_use > s.peak) s.peak = s.in_use;
    return p;
  }
  auto it = s.free_blocks.find(size);
  void* p = nullptr;
  if (it != s.free_blocks.end()) {
    p = it->second;
    s.free_blocks.erase(it);
    s.cached -= size;
  } else {
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      // Cached blocks of other sizes may be what is missing: give them back and try once more.
      cudaGetLastError();
      check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
      release_cached(s);
      e = cudaMalloc(&p, size);
    }
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      fail("out of GPU memory allocating ", size, " bytes on cuda:", device, " (", s.in_use >> 20,
           " MiB in use by tensors); free tensors (dispose()) or use a smaller batch/image");
    }
    check(e, "cudaMalloc");
  }
  s.in_use += size;
  if (s.in_use > s.peak) s.peak = s.in_use;
  return p;
}

void free(void* p, size_t bytes, int device) noexcept {
  if (!p || device < 0 || device >= kMaxDevices) return;
  DeviceState& s = state(device);
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> lk(s.mu);
  s.in_use -= size;
  s.cached += size;
  if (!s.owned.empty()) {
    auto it = s.owned.find(p);
    if (it != s.owned.end()) {  // a graph's block (from any thread): back to its pool
      it->second->free_blocks.emplace(size, p);
      return;
    }
  }
  if (capturing_on(device)) {
    // Freed during a capture: the recorded work may still use it at replay, so it joins the pool.
    detail::GraphPool* pool = t_capture.pool;
    s.owned[p] = pool;
    pool->bytes += size;
    pool->free_blocks.emplace(size, p);
    return;
  }
  s.free_blocks.emplace(size, p);
}

AllocStats alloc_stats(int device) noexcept {
  if (device < 0 || device >= kMaxDevices || device >= device_count()) return {0, 0, 0, 0};
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lk(s.mu);
  return {s.in_use, s.cached, s.peak, s.in_use + s.cached};
}

void reset_peak(int device) noexcept {
  if (device < 0 || device >= kMaxDevices || device >= device_count()) return;
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lk(s.mu);
  s.peak = s.in_use;
}

void empty_cache(int device) noexcept {
  if (device < 0 || device >= kMaxDevices || device >= device_count()) return;
  if (capturing_on(device)) return;  // cudaFree and a stream sync would invalidate the capture
  try {
    set_device(device);
    DeviceState& s = state(device);
    cudaStreamSynchronize(s.stream);  // queued work may still use a freed block
    std::lock_guard<std::mutex> lk(s.mu);
    release_cached(s);
  } catch (...) {
  }
}

namespace {
// Host copies wait for the stream, which a capture cannot record: say so before CUDA invalidates it.
void refuse_while_capturing(int device, const char* what) {
  if (capturing_on(device))
    fail(what, " during CUDA graph capture on cuda:", device,
         ": it waits for the GPU, which cannot be recorded in a graph (run this pass without graph)");
}
}  // namespace

void copy_h2d(void* dst, const void* src, size_t n, int device) {
  refuse_while_capturing(device, "a host-to-device copy");
  cudaStream_t st = stream(device);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync (host to device)");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize (host to device copy)");
}
void copy_d2h(void* dst, const void* src, size_t n, int device) {
  refuse_while_capturing(device, "a device-to-host copy");
  cudaStream_t st = stream(device);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, st), "cudaMemcpyAsync (device to host)");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize (device to host copy)");
}
void copy_d2d(void* dst, const void* src, size_t n, int device) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream(device)), "cudaMemcpyAsync (device to device)");
}
void memset_zero(void* dst, size_t n, int device) {
  if (n == 0) return;
  check(cudaMemsetAsync(dst, 0, n, stream(device)), "cudaMemsetAsync");
}
void synchronize(int device) {
  refuse_while_capturing(device, "a stream synchronisation");
  check(cudaStreamSynchronize(stream(device)), "cudaStreamSynchronize (a kernel failed)");
}

}  // namespace ie::cuda
