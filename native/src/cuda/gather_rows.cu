#include "cuda/common.cuh"
#include "cuda/gather_rows.h"

namespace ie::cuda {
namespace {
// One block per output row; threads stride over the row (coalesced reads and writes).
template <typename T>
__global__ void gather_rows_kernel(const T* x, const int32_t* idx, T* y, int64_t n, int64_t width) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const T* src = x + int64_t(idx[r]) * width;
    T* dst = y + r * width;
    for (int64_t d = threadIdx.x; d < width; d += blockDim.x) dst[d] = src[d];
  }
}
}  // namespace

void gather_rows(DType dt, const void* x, const int32_t* idx, void* y, int64_t n, int64_t width, int device) {
  if (n == 0 || width == 0) return;
  cudaStream_t st = stream(device);
  int blocks = int(n < 65535 ? n : 65535);
  int threads = width >= 256 ? 256 : width >= 128 ? 128 : 64;
  dispatch_float(dt, "gatherRows", [&](auto tag) {
    using T = decltype(tag);
    gather_rows_kernel<T><<<blocks, threads, 0, st>>>(static_cast<const T*>(x), idx, static_cast<T*>(y), n, width);
  });
  check_launch("gather_rows");
}

}  // namespace ie::cuda
