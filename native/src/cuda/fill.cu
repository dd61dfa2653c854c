// Fill kernels: constant tensors on the GPU without a host round trip.
#include "cuda/common.cuh"
#include "ie/cuda.h"

namespace ie::cuda {
namespace {
template <typename T>
__global__ void fill_kernel(T* dst, T value, int64_t n) {
  IE_GRID_STRIDE(i, n) dst[i] = value;
}

template <typename T>
void launch_fill(void* dst, T value, int64_t n, int device) {
  if (n == 0) return;
  cudaStream_t st = stream(device);
  fill_kernel<T><<<grid_for(n, 256, device), 256, 0, st>>>(static_cast<T*>(dst), value, n);
  check_launch("fill");
}
}  // namespace

void fill_u32(void* dst, uint32_t bits, int64_t n, int device) { launch_fill<uint32_t>(dst, bits, n, device); }
void fill_u16(void* dst, uint16_t bits, int64_t n, int device) { launch_fill<uint16_t>(dst, bits, n, device); }

}  // namespace ie::cuda
