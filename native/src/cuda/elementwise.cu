// Elementwise kernels with NumPy broadcasting (see elementwise.h).
//
// The host first coalesces the broadcast description as the CPU path does (size-1 dims dropped,
// neighbours every input walks contiguously merged), then picks one of:
//  - same shape: y[i] = a[i] ∘ b[i];
//  - one side full (contiguous over the output) and the other a "vector" (at most one dim with a
//    non-zero stride, e.g. a per-channel [1, C, 1, 1] or trailing [C] operand, or a scalar): its
//    index is (i / inner) % size;
//  - general: the output index is decomposed over up to 8 dims into both input offsets.
// One thread per output element in a grid-stride loop. A faster version would vectorise the
// same-shape path (128-bit loads) and replace the 64-bit divisions by precomputed fast divmods.
#include "cuda/common.cuh"
#include "cuda/elementwise.h"

namespace ie::cuda {
namespace {

constexpr int kDims = 8;
constexpr int kThreads = 256;

// Coalesced dims, right-aligned: the innermost dim is at kDims − 1, the outermost used one at
// kDims − nd; unused slots hold size 1 and stride 0.
struct View {
  int nd;
  int64_t shape[kDims];
  int64_t st[2][kDims];
};

// Same merging as cpu/elementwise.cc's coalesce; s1 may be null (one input).
View coalesce(const int64_t* shape, int ndim, const int64_t* s0, const int64_t* s1) {
  int64_t sh[kDims], st0[kDims], st1[kDims];
  int nd = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int64_t a = s0[d], b = s1 ? s1[d] : 0;
    if (nd > 0) {
      const int p = nd - 1;
      if (st0[p] == a * shape[d] && st1[p] == b * shape[d]) {
        sh[p] *= shape[d];
        st0[p] = a;
        st1[p] = b;
        continue;
      }
    }
    sh[nd] = shape[d];
    st0[nd] = a;
    st1[nd] = b;
    ++nd;
  }
  if (nd == 0) {  // a single element
    nd = 1;
    sh[0] = 1;
    st0[0] = st1[0] = 0;
  }
  View v;
  v.nd = nd;
  for (int k = 0; k < kDims; ++k) {
    v.shape[k] = 1;
    v.st[0][k] = v.st[1][k] = 0;
  }
  for (int d = 0; d < nd; ++d) {
    const int k = kDims - nd + d;
    v.shape[k] = sh[d];
    v.st[0][k] = st0[d];
    v.st[1][k] = st1[d];
  }
  return v;
}

int64_t view_numel(const View& v) {
  int64_t n = 1;
  for (int k = kDims - v.nd; k < kDims; ++k) n *= v.shape[k];
  return n;
}

// Input `which` walks the output contiguously (strides are the output's contiguous strides).
bool is_full(const View& v, int which) {
  int64_t s = 1;
  for (int k = kDims - 1; k >= kDims - v.nd; --k) {
    if (v.shape[k] != 1 && v.st[which][k] != s) return false;
    s *= v.shape[k];
  }
  return true;
}

// Input `which` has at most one dim with a non-zero stride, and that stride is 1: its element for
// output i is (i / inner) % size.
bool is_vector(const View& v, int which, int64_t* inner, int64_t* size) {
  int found = -1;
  for (int k = kDims - v.nd; k < kDims; ++k) {
    if (v.st[which][k] == 0) continue;
    if (found >= 0 || v.st[which][k] != 1) return false;
    found = k;
  }
  *inner = 1;
  *size = 1;
  if (found < 0) return true;  // a scalar
  for (int k = found + 1; k < kDims; ++k) *inner *= v.shape[k];
  *size = v.shape[found];
  return true;
}

__device__ __forceinline__ void offsets(const View& v, int64_t i, int64_t& o0, int64_t& o1) {
  o0 = 0;
  o1 = 0;
#pragma unroll
  for (int k = kDims - 1; k >= 0; --k) {
    if (k < kDims - v.nd) break;
    const int64_t s = v.shape[k];
    const int64_t idx = i % s;
    i /= s;
    o0 += idx * v.st[0][k];
    o1 += idx * v.st[1][k];
  }
}

enum Mode : int { kSame = 0, kVecB = 1, kVecA = 2, kGeneral = 3 };

template <int OP>
__device__ __forceinline__ float apply(float a, float b) {
  if (OP == 0) return a + b;
  if (OP == 1) return a - b;
  if (OP == 2) return a * b;
  return a / b;
}

template <int OP, typename T, int MODE>
__global__ void binary_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t n, View v,
                              int64_t inner, int64_t size) {
  IE_GRID_STRIDE(i, n) {
    int64_t ia, ib;
    if (MODE == kSame) {
      ia = i;
      ib = i;
    } else if (MODE == kVecB) {
      ia = i;
      ib = (i / inner) % size;
    } else if (MODE == kVecA) {
      ia = (i / inner) % size;
      ib = i;
    } else {
      offsets(v, i, ia, ib);
    }
    y[i] = from_f<T>(apply<OP>(to_f(a[ia]), to_f(b[ib])));
  }
}

template <int OP, typename T>
void launch_binary(const T* a, const T* b, T* y, int64_t n, const View& v, int mode, int64_t inner, int64_t size,
                   int device) {
  const int grid = grid_for(n, kThreads, device);
  cudaStream_t st = stream(device);
  switch (mode) {
    case kSame: binary_kernel<OP, T, kSame><<<grid, kThreads, 0, st>>>(a, b, y, n, v, inner, size); break;
    case kVecB: binary_kernel<OP, T, kVecB><<<grid, kThreads, 0, st>>>(a, b, y, n, v, inner, size); break;
    case kVecA: binary_kernel<OP, T, kVecA><<<grid, kThreads, 0, st>>>(a, b, y, n, v, inner, size); break;
    default: binary_kernel<OP, T, kGeneral><<<grid, kThreads, 0, st>>>(a, b, y, n, v, inner, size); break;
  }
  check_launch("binary");
}

template <typename T>
__global__ void affine_kernel(const T* __restrict__ x, float alpha, float beta, T* __restrict__ y, int64_t n) {
  IE_GRID_STRIDE(i, n) y[i] = from_f<T>(alpha * to_f(x[i]) + beta);
}

template <typename T, int MODE>
__global__ void bcopy_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, float scale, View v, int64_t inner,
                             int64_t size) {
  IE_GRID_STRIDE(i, n) {
    int64_t ix, unused;
    if (MODE == kSame) {
      ix = i;
    } else if (MODE == kVecB) {
      ix = (i / inner) % size;
    } else {
      offsets(v, i, ix, unused);
    }
    y[i] = from_f<T>(scale * to_f(x[ix]));
  }
}

template <typename T>
__global__ void add_inplace_kernel(T* __restrict__ d, const T* __restrict__ s, int64_t n) {
  IE_GRID_STRIDE(i, n) d[i] = from_f<T>(to_f(d[i]) + to_f(s[i]));
}

}  // namespace

void binary(int op, DType dt, const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* y,
            const int64_t* shape, int ndim, int device) {
  IE_CHECK(ndim >= 0 && ndim <= kDims, "binary: at most ", kDims, " dimensions are supported");
  View v = coalesce(shape, ndim, a_strides, b_strides);
  const int64_t n = view_numel(v);
  if (n == 0) return;
  int mode = kGeneral;
  int64_t inner = 1, size = 1;
  if (v.nd == 1 && v.st[0][kDims - 1] == 1 && v.st[1][kDims - 1] == 1) mode = kSame;
  else if (is_full(v, 0) && is_vector(v, 1, &inner, &size)) mode = kVecB;
  else if (is_full(v, 1) && is_vector(v, 0, &inner, &size)) mode = kVecA;
  dispatch_float(dt, "binary", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a);
    const T* pb = static_cast<const T*>(b);
    T* py = static_cast<T*>(y);
    switch (op) {
      case 0: launch_binary<0, T>(pa, pb, py, n, v, mode, inner, size, device); break;
      case 1: launch_binary<1, T>(pa, pb, py, n, v, mode, inner, size, device); break;
      case 2: launch_binary<2, T>(pa, pb, py, n, v, mode, inner, size, device); break;
      case 3: launch_binary<3, T>(pa, pb, py, n, v, mode, inner, size, device); break;
      default: fail("binary: unknown op ", op);
    }
  });
}

void affine(DType dt, const void* x, float alpha, float beta, void* y, int64_t n, int device) {
  if (n <= 0) return;
  dispatch_float(dt, "scale", [&](auto tag) {
    using T = decltype(tag);
    affine_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<const T*>(x), alpha, beta, static_cast<T*>(y), n);
    check_launch("affine");
  });
}

void broadcast_copy(DType dt, const void* x, const int64_t* x_strides, void* y, const int64_t* shape, int ndim,
                    float scale, int device) {
  IE_CHECK(ndim >= 0 && ndim <= kDims, "broadcast_copy: at most ", kDims, " dimensions are supported");
  View v = coalesce(shape, ndim, x_strides, nullptr);
  const int64_t n = view_numel(v);
  if (n == 0) return;
  int mode = kGeneral;
  int64_t inner = 1, size = 1;
  if (v.nd == 1 && v.st[0][kDims - 1] == 1) mode = kSame;
  else if (is_vector(v, 0, &inner, &size)) mode = kVecB;
  dispatch_float(dt, "broadcast_copy", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    const int grid = grid_for(n, kThreads, device);
    cudaStream_t st = stream(device);
    if (mode == kSame) bcopy_kernel<T, kSame><<<grid, kThreads, 0, st>>>(px, py, n, scale, v, inner, size);
    else if (mode == kVecB) bcopy_kernel<T, kVecB><<<grid, kThreads, 0, st>>>(px, py, n, scale, v, inner, size);
    else bcopy_kernel<T, kGeneral><<<grid, kThreads, 0, st>>>(px, py, n, scale, v, inner, size);
    check_launch("broadcast_copy");
  });
}

void add_inplace(DType dt, void* dst, const void* src, int64_t n, int device) {
  if (n <= 0) return;
  dispatch_float(dt, "assign", [&](auto tag) {
    using T = decltype(tag);
    add_inplace_kernel<T><<<grid_for(n, kThreads, device), kThreads, 0, stream(device)>>>(
        static_cast<T*>(dst), static_cast<const T*>(src), n);
    check_launch("assign");
  });
}

}  // namespace ie::cuda
