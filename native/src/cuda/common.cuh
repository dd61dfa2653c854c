// What every CUDA kernel file needs: the device's stream, launch checks, float16/bfloat16 loads and
// stores with float32 compute, dtype dispatch, grid sizing and block reductions.
//
// Kernel entry points (declared in native/src/cuda/<kernel>.h, plain C++) take raw device pointers,
// the element type as ie::DType and the device index; they enqueue on the device's stream and
// return at once. They are called from ops' launch closures, i.e. on the device's ie::Stream thread.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ie/dtype.h"
#include "ie/error.h"

namespace ie::cuda {

// The device's stream, with the device made current on the calling thread.
cudaStream_t stream(int device);
int sm_count(int device);
// The most dynamic shared memory one block may opt in to on this device (bytes): 227 KB on
// H100, 163 KB on A100, 99 KB on sm_86/sm_89 consumer GPUs (which run the sm_80 build).
size_t max_smem_optin(int device);

// Throws ie::Error naming the kernel if the launch failed (bad configuration, or an earlier
// asynchronous fault that left the context unusable).
void check_launch(const char* kernel);
void check(cudaError_t e, const char* what);

// Lets `kernel` use `bytes` of dynamic shared memory (above the 48 KB default) on `device`. The
// attribute is set once per kernel, device and size (remembered), so calls after the first touch no
// CUDA API: safe inside a CUDA graph capture, where the first (eager) run has already set it.
void allow_dynamic_smem_raw(const void* kernel, size_t bytes, int device, const char* what);
template <typename K>
void allow_dynamic_smem(K* kernel, size_t bytes, int device, const char* what) {
  allow_dynamic_smem_raw(reinterpret_cast<const void*>(kernel), bytes, device, what);
}

// ---- element types: storage T, compute float ----
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Calls f(T{}) with T the storage type of dt (float, __half or __nv_bfloat16).
template <typename F>
void dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32: f(float{}); return;
    case DType::F16: f(__half{}); return;
    case DType::BF16: f(__nv_bfloat16{}); return;
    default: fail(op, ": no CUDA kernel for ", dtype_name(dt));
  }
}

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, never more than needed.
inline int grid_for(int64_t n, int threads, int device) {
  int64_t want = (n + threads - 1) / threads;
  int64_t cap = int64_t(sm_count(device)) * 16;
  return int(want < 1 ? 1 : want < cap ? want : cap);
}

#define IE_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
// `scratch` is 32 floats of shared memory; the call synchronises the block.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace ie::cuda
