// Fill kernels: constant tensors on the GPU without a host round trip.
#include <cuda_runtime.h>

#include <cstdint>

#include "ie/cuda.h"
#include "ie/error.h"

namespace ie::cuda {
namespace {
template <typename T>
__global__ void fill_kernel(T* dst, T value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

template <typename T>
void launch_fill(void* dst, T value, int64_t n, int device) {
  if (n == 0) return;
  if (cudaSetDevice(device) != cudaSuccess) fail("CUDA error in cudaSetDevice");
  int blocks = int((n + 255) / 256 < 65535 ? (n + 255) / 256 : 65535);
  fill_kernel<T><<<blocks, 256>>>(static_cast<T*>(dst), value, n);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("CUDA error launching fill: ", cudaGetErrorString(e));
}
}  // namespace

void fill_u32(void* dst, uint32_t bits, int64_t n, int device) { launch_fill<uint32_t>(dst, bits, n, device); }
void fill_u16(void* dst, uint16_t bits, int64_t n, int device) { launch_fill<uint16_t>(dst, bits, n, device); }

}  // namespace ie::cuda
