// CUDA runtime wrapper: memory and devices. Errors become ie::Error, never aborts.
#include <cuda_runtime.h>

#include "ie/cuda.h"
#include "ie/error.h"

namespace ie::cuda {
namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}
void set_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }
}  // namespace

bool built() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name(int index) {
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  return p.name;
}

void* malloc(size_t bytes, int device) {
  set_device(device);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("out of GPU memory allocating ", bytes, " bytes on cuda:", device);
  }
  check(e, "cudaMalloc");
  return p;
}

void free(void* p, int device) noexcept {
  if (!p) return;
  cudaSetDevice(device);
  cudaFree(p);
}

void copy_h2d(void* dst, const void* src, size_t n, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
}
void copy_d2h(void* dst, const void* src, size_t n, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
}
void copy_d2d(void* dst, const void* src, size_t n, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice), "cudaMemcpy (device to device)");
}
void memset_zero(void* dst, size_t n, int device) {
  set_device(device);
  check(cudaMemset(dst, 0, n), "cudaMemset");
}
void synchronize(int device) {
  set_device(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace ie::cuda
