// Timestep embedding: one thread per (n, k < half) writes sin and cos; the odd-dim pad column is
// written by the k == 0 thread. The float32 steps mirror diffusers (and the CPU kernel):
//   expo = (neg_log · float(k)) / denom;  freq = exp(expo);  arg = t · freq   (each rounded to float)
// exp, sin and cos are evaluated in double and rounded once, so freq is the correctly rounded
// float of exp(expo) (what glibc's expf gives) and sin/cos are good to half an ulp of the float
// argument, even for t ≈ 1000. The kernel is tiny (N·dim/2 threads): double costs nothing here.
#include "cuda/common.cuh"
#include "cuda/timestep_embedding.h"

namespace ie::cuda {
namespace {

template <typename T>
__global__ void temb_kernel(const T* __restrict__ t, T* __restrict__ out, int64_t N, int64_t dim, bool flip,
                            float neg_log, float denom) {
  const int64_t half = dim / 2, n_total = N * half;
  IE_GRID_STRIDE(i, n_total) {
    int64_t n = i / half, k = i - n * half;
    float expo = __fdiv_rn(__fmul_rn(neg_log, float(k)), denom);
    float freq = float(exp(double(expo)));
    float arg = __fmul_rn(to_f(t[n]), freq);
    T* row = out + n * dim;
    T* s_part = flip ? row + half : row;
    T* c_part = flip ? row : row + half;
    s_part[k] = from_f<T>(float(sin(double(arg))));
    c_part[k] = from_f<T>(float(cos(double(arg))));
    if (k == 0 && (dim & 1)) row[dim - 1] = from_f<T>(0.0f);  // diffusers pads odd dims with a zero column
  }
}

}  // namespace

void timestep_embedding(DType dt, const void* t, void* out, int64_t N, int64_t dim, bool flip_sin_to_cos,
                        float neg_log, float denom, int device) {
  const int64_t half = dim / 2;
  if (N <= 0 || half <= 0) return;
  dispatch_float(dt, "timestepEmbedding", [&](auto tag) {
    using T = decltype(tag);
    temb_kernel<T><<<grid_for(N * half, 256, device), 256, 0, stream(device)>>>(
        static_cast<const T*>(t), static_cast<T*>(out), N, dim, flip_sin_to_cos, neg_log, denom);
    check_launch("timestep_embedding");
  });
}

}  // namespace ie::cuda
