// Random fills. Uniforms are bit-identical to the CPU's (integer Philox, exact scaling; the affine
// map is rounded operation by operation). Normals use the device's logf/sinf/cosf, which can
// differ from glibc's by a few ulp: values agree with the CPU to ~1e-6 relative, not bit for bit.
// A faster version would let each thread write both elements of a Box-Muller pair.
#include "cuda/common.cuh"
#include "cuda/random.h"
#include "ie/half.h"
#include "ie/philox.h"

namespace ie::cuda {
namespace {

struct F32Out {
  using T = float;
  static __device__ __forceinline__ float put(float v) { return v; }
};
struct F16Out {
  using T = uint16_t;
  static __device__ __forceinline__ uint16_t put(float v) { return float_to_f16(v); }
};
struct BF16Out {
  using T = uint16_t;
  static __device__ __forceinline__ uint16_t put(float v) { return float_to_bf16(v); }
};

template <class O>
__global__ void randn_kernel(typename O::T* __restrict__ out, int64_t n, uint64_t seed, uint64_t offset, float mean,
                             float std) {
  IE_GRID_STRIDE(i, n) {
    const uint64_t j = offset + uint64_t(i);
    float z0, z1;
    philox_normal_pair(seed, j >> 1, &z0, &z1);
    out[i] = O::put(__fadd_rn(mean, __fmul_rn(std, (j & 1) ? z1 : z0)));
  }
}

template <class O>
__global__ void rand_kernel(typename O::T* __restrict__ out, int64_t n, uint64_t seed, uint64_t offset, float lo,
                            float hi) {
  const float span = __fsub_rn(hi, lo);
  IE_GRID_STRIDE(i, n) out[i] = O::put(__fadd_rn(lo, __fmul_rn(span, philox_uniform(seed, offset + uint64_t(i)))));
}

template <class O>
void launch_randn(void* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std, int device) {
  randn_kernel<O><<<grid_for(n, 256, device), 256, 0, stream(device)>>>(static_cast<typename O::T*>(out), n, seed,
                                                                         offset, mean, std);
  check_launch("randn");
}
template <class O>
void launch_rand(void* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi, int device) {
  rand_kernel<O><<<grid_for(n, 256, device), 256, 0, stream(device)>>>(static_cast<typename O::T*>(out), n, seed,
                                                                        offset, lo, hi);
  check_launch("rand");
}

}  // namespace

void fill_randn(void* out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std, DType dt, int device) {
  if (n <= 0) return;
  switch (dt) {
    case DType::F32: return launch_randn<F32Out>(out, n, seed, offset, mean, std, device);
    case DType::F16: return launch_randn<F16Out>(out, n, seed, offset, mean, std, device);
    case DType::BF16: return launch_randn<BF16Out>(out, n, seed, offset, mean, std, device);
    default: fail("randn: dtype must be a float type, got ", dtype_name(dt));
  }
}

void fill_rand(void* out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi, DType dt, int device) {
  if (n <= 0) return;
  switch (dt) {
    case DType::F32: return launch_rand<F32Out>(out, n, seed, offset, lo, hi, device);
    case DType::F16: return launch_rand<F16Out>(out, n, seed, offset, lo, hi, device);
    case DType::BF16: return launch_rand<BF16Out>(out, n, seed, offset, lo, hi, device);
    default: fail("rand: dtype must be a float type, got ", dtype_name(dt));
  }
}

}  // namespace ie::cuda
