// Guidance: elementwise over [3B, ...] → [B, ...] and back, in the CPU's (diffusers') operation
// order with separately rounded float operations (no FMA contraction).
#include "cuda/common.cuh"
#include "cuda/guidance.h"

namespace ie::cuda {
namespace {

template <typename T>
__global__ void guidance_kernel(const T* __restrict__ eps, T* __restrict__ out, int64_t n, float s_text,
                                float s_image) {
  IE_GRID_STRIDE(k, n) {
    const float t = to_f(eps[k]), i = to_f(eps[n + k]), u = to_f(eps[2 * n + k]);
    const float a = __fadd_rn(u, __fmul_rn(s_text, __fsub_rn(t, i)));
    out[k] = from_f<T>(__fadd_rn(a, __fmul_rn(s_image, __fsub_rn(i, u))));
  }
}

template <typename T>
__global__ void guidance_backward_kernel(const T* __restrict__ dy, T* __restrict__ deps, int64_t n, float s_text,
                                         float ci, float cu) {
  IE_GRID_STRIDE(k, n) {
    const float g = to_f(dy[k]);
    deps[k] = from_f<T>(s_text * g);
    deps[n + k] = from_f<T>(ci * g);
    deps[2 * n + k] = from_f<T>(cu * g);
  }
}

}  // namespace

void pix2pix_guidance(DType dt, const void* eps, void* out, int64_t n, float s_text, float s_image, int device) {
  if (n <= 0) return;
  dispatch_float(dt, "pix2pixGuidance", [&](auto tag) {
    using T = decltype(tag);
    guidance_kernel<T><<<grid_for(n, 256, device), 256, 0, stream(device)>>>(static_cast<const T*>(eps),
                                                                             static_cast<T*>(out), n, s_text, s_image);
    check_launch("pix2pix_guidance");
  });
}

void pix2pix_guidance_backward(DType dt, const void* dy, void* deps, int64_t n, float s_text, float s_image,
                               int device) {
  if (n <= 0) return;
  const float ci = s_image - s_text, cu = 1.0f - s_image;  // as cpu/guidance.cc (host float arithmetic)
  dispatch_float(dt, "pix2pixGuidanceBackward", [&](auto tag) {
    using T = decltype(tag);
    guidance_backward_kernel<T><<<grid_for(n, 256, device), 256, 0, stream(device)>>>(
        static_cast<const T*>(dy), static_cast<T*>(deps), n, s_text, ci, cu);
    check_launch("pix2pix_guidance_backward");
  });
}

}  // namespace ie::cuda
