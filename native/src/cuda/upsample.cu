// Nearest upsampling: forward is a gather per output element; backward a gather per input pixel
// over the output rows/columns that read it. The source index of an output row is non-decreasing,
// so input row h is read by output rows [first(h), first(h+1)), found by binary search.
// A faster ×2 forward would write two output rows of float2/half2 pairs per thread.
#include "cuda/common.cuh"
#include "cuda/upsample.h"

namespace ie::cuda {
namespace {

constexpr int kThreads = 256;

// PyTorch's nearest source index, as native/src/cpu/upsample.cc computes it (in float).
__device__ __forceinline__ int64_t nearest_src(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = __fdiv_rn(float(in), float(out));
  int64_t s = int64_t(floorf(__fmul_rn(float(dst), scale)));
  return s < in - 1 ? s : in - 1;
}

// The first output index whose source is >= h (out when none): outputs [first(h), first(h+1)) read h.
__device__ __forceinline__ int64_t first_reader(int64_t h, int64_t in, int64_t out) {
  int64_t lo = 0, hi = out;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (nearest_src(mid, in, out) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

template <typename T>
__global__ void up_fwd_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t NC, int64_t H, int64_t W, int64_t OH,
                              int64_t OW) {
  const int64_t n = NC * OH * OW;
  IE_GRID_STRIDE(i, n) {
    int64_t ow = i % OW, r = i / OW, oh = r % OH, nc = r / OH;
    y[i] = x[(nc * H + nearest_src(oh, H, OH)) * W + nearest_src(ow, W, OW)];
  }
}

template <typename T>
__global__ void up_bwd_kernel(const T* __restrict__ dy, T* __restrict__ dx, int64_t NC, int64_t H, int64_t W,
                              int64_t OH, int64_t OW) {
  const int64_t n = NC * H * W;
  const bool twice = OH == 2 * H && OW == 2 * W;
  IE_GRID_STRIDE(i, n) {
    int64_t w = i % W, r = i / W, h = r % H, nc = r / H;
    float acc;
    if (twice) {
      // the CPU's ×2 order: (d0[2w] + d0[2w+1]) + (d1[2w] + d1[2w+1])
      const T* d0 = dy + (nc * OH + 2 * h) * OW + 2 * w;
      const T* d1 = d0 + OW;
      acc = (to_f(d0[0]) + to_f(d0[1])) + (to_f(d1[0]) + to_f(d1[1]));
    } else {
      int64_t hb = first_reader(h, H, OH), he = first_reader(h + 1, H, OH);
      int64_t wb = first_reader(w, W, OW), we = first_reader(w + 1, W, OW);
      acc = 0.f;  // rows then columns in increasing order, as the CPU kernel adds them
      for (int64_t oh = hb; oh < he; ++oh) {
        const T* dr = dy + (nc * OH + oh) * OW;
        for (int64_t ow = wb; ow < we; ++ow) acc += to_f(dr[ow]);
      }
    }
    dx[i] = from_f<T>(acc);
  }
}

}  // namespace

void upsample_nearest_forward(DType dt, const void* x, void* y, int64_t NC, int64_t H, int64_t W, int64_t OH,
                              int64_t OW, int device) {
  const int64_t n = NC * OH * OW;
  if (n <= 0 || H <= 0 || W <= 0) return;
  dispatch_float(dt, "upsampleNearest", [&](auto tag) {
    using T = decltype(tag);
    up_fwd_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<const T*>(x), static_cast<T*>(y), NC, H, W, OH, OW);
    check_launch("upsample_nearest_forward");
  });
}

void upsample_nearest_backward(DType dt, const void* dy, void* dx, int64_t NC, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, int device) {
  const int64_t n = NC * H * W;
  if (n <= 0) return;
  dispatch_float(dt, "upsampleNearestBackward", [&](auto tag) {
    using T = decltype(tag);
    up_bwd_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<const T*>(dy), static_cast<T*>(dx), NC, H, W, OH, OW);
    check_launch("upsample_nearest_backward");
  });
}

}  // namespace ie::cuda
