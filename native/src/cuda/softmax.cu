// Row softmax: a warp per row for rows up to kWarpMaxN, else a block of kBlock threads per row.
// Three passes over the row (max, Σexp, write), re-reading x from L1/L2; float32 throughout.
// A faster version would keep short rows in registers (one read) and vectorise the loads.
#include "cuda/common.cuh"
#include "cuda/softmax.h"

namespace ie::cuda {
namespace {

constexpr int kWarpMaxN = 1024;
constexpr int kWarpsPerBlock = 4;  // warp-per-row kernel: 128 threads, 4 rows per block
constexpr int kBlock = 256;        // block-per-row kernel

template <typename T>
__global__ void softmax_warp_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t M, int64_t N) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); row < M; row += warps) {
    const T* xr = x + row * N;
    T* yr = y + row * N;
    float mx = -INFINITY;
    for (int64_t j = lane; j < N; j += 32) mx = fmaxf(mx, to_f(xr[j]));
    mx = warp_max(mx);
    float s = 0.f;
    for (int64_t j = lane; j < N; j += 32) s += expf(to_f(xr[j]) - mx);
    s = warp_sum(s);
    const float inv = 1.f / s;
    for (int64_t j = lane; j < N; j += 32) yr[j] = from_f<T>(expf(to_f(xr[j]) - mx) * inv);
  }
}

template <typename T>
__global__ void softmax_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t M, int64_t N) {
  __shared__ float scratch[32];
  for (int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xr = x + row * N;
    T* yr = y + row * N;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) mx = fmaxf(mx, to_f(xr[j]));
    mx = block_max(mx, scratch);
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) s += expf(to_f(xr[j]) - mx);
    s = block_sum(s, scratch);
    const float inv = 1.f / s;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) yr[j] = from_f<T>(expf(to_f(xr[j]) - mx) * inv);
  }
}

template <typename T>
__global__ void softmax_bwd_warp_kernel(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx,
                                        int64_t M, int64_t N) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); row < M; row += warps) {
    const T* yr = y + row * N;
    const T* dyr = dy + row * N;
    T* dxr = dx + row * N;
    float dot = 0.f;
    for (int64_t j = lane; j < N; j += 32) dot += to_f(yr[j]) * to_f(dyr[j]);
    dot = warp_sum(dot);
    for (int64_t j = lane; j < N; j += 32) dxr[j] = from_f<T>(to_f(yr[j]) * (to_f(dyr[j]) - dot));
  }
}

template <typename T>
__global__ void softmax_bwd_block_kernel(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx,
                                         int64_t M, int64_t N) {
  __shared__ float scratch[32];
  for (int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* yr = y + row * N;
    const T* dyr = dy + row * N;
    T* dxr = dx + row * N;
    float dot = 0.f;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) dot += to_f(yr[j]) * to_f(dyr[j]);
    dot = block_sum(dot, scratch);
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) dxr[j] = from_f<T>(to_f(yr[j]) * (to_f(dyr[j]) - dot));
  }
}

int rows_grid(int64_t blocks_wanted, int device) {
  int64_t cap = int64_t(sm_count(device)) * 32;
  return int(blocks_wanted < 1 ? 1 : blocks_wanted < cap ? blocks_wanted : cap);
}

}  // namespace

void softmax_forward(DType dt, const void* x, void* y, int64_t M, int64_t N, int device) {
  if (M <= 0 || N <= 0) return;
  dispatch_float(dt, "softmax", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    if (N <= kWarpMaxN) {
      softmax_warp_kernel<T><<<rows_grid((M + kWarpsPerBlock - 1) / kWarpsPerBlock, device), 32 * kWarpsPerBlock, 0,
                               st>>>(static_cast<const T*>(x), static_cast<T*>(y), M, N);
    } else {
      softmax_block_kernel<T><<<rows_grid(M, device), kBlock, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                        M, N);
    }
    check_launch("softmax_forward");
  });
}

void softmax_backward(DType dt, const void* y, const void* dy, void* dx, int64_t M, int64_t N, int device) {
  if (M <= 0 || N <= 0) return;
  dispatch_float(dt, "softmaxBackward", [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t st = stream(device);
    if (N <= kWarpMaxN) {
      softmax_bwd_warp_kernel<T><<<rows_grid((M + kWarpsPerBlock - 1) / kWarpsPerBlock, device),
                                   32 * kWarpsPerBlock, 0, st>>>(static_cast<const T*>(y), static_cast<const T*>(dy),
                                                                 static_cast<T*>(dx), M, N);
    } else {
      softmax_bwd_block_kernel<T><<<rows_grid(M, device), kBlock, 0, st>>>(
          static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), M, N);
    }
    check_launch("softmax_backward");
  });
}

}  // namespace ie::cuda
