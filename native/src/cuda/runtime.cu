// CUDA runtime wrapper: devices, the per-device stream, the caching allocator and copies.
// Errors become ie::Error, never aborts.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "cuda/common.cuh"
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
  // caching allocator
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  size_t in_use = 0, cached = 0, peak = 0;
};

DeviceState& state(int device) {
  static DeviceState* states = new DeviceState[kMaxDevices];  // lives until exit
  DeviceState& s = states[device];
  std::call_once(s.init, [&] {
    set_device(device);
    check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  });
  return s;
}

// Size classes: 512 B steps below 1 MiB, 2 MiB steps above (big activations vary a little
// between steps; coarse classes let them reuse each other's blocks).
size_t round_size(size_t bytes) {
  if (bytes < (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  return (bytes + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
}

void release_cached(DeviceState& s) {  // with s.mu held
  for (auto& kv : s.free_blocks) cudaFree(kv.second);
  s.free_blocks.clear();
  s.cached = 0;
}

}  // namespace

cudaStream_t stream(int device) {
  set_device(device);
  return state(device).stream;
}
int sm_count(int device) { return state(device).sms; }

bool built() { return true; }
const char* built_archs() { return IE_CUDA_ARCHS; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the "no driver" error
    return 0;
  }
  return n;
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

void* malloc(size_t bytes, int device) {
  set_device(device);
  DeviceState& s = state(device);
  size_t size = round_size(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> lk(s.mu);
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
  s.free_blocks.emplace(size, p);
  s.cached += size;
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
  try {
    set_device(device);
    DeviceState& s = state(device);
    cudaStreamSynchronize(s.stream);  // queued work may still use a freed block
    std::lock_guard<std::mutex> lk(s.mu);
    release_cached(s);
  } catch (...) {
  }
}

void copy_h2d(void* dst, const void* src, size_t n, int device) {
  cudaStream_t st = stream(device);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync (host to device)");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize (host to device copy)");
}
void copy_d2h(void* dst, const void* src, size_t n, int device) {
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
void synchronize(int device) { check(cudaStreamSynchronize(stream(device)), "cudaStreamSynchronize (a kernel failed)"); }

}  // namespace ie::cuda
