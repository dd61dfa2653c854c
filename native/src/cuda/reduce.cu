// Deterministic reductions (see reduce.h).
//
// reduce_sum, permute-free: the dims are merged as on the CPU (size-1 dims dropped, neighbours of
// the same kind merged, so kept and reduced runs alternate), then
//  - innermost dim reduced ("rows"): each output is summed by one warp (≤ 1024 terms) or one block
//    of 256 threads; thread t adds terms t, t + width, … in order, then a fixed shuffle tree;
//  - innermost dim kept ("columns"): a block of 32 columns × 16 row lanes owns 32 consecutive
//    outputs; lane k adds reduced rows k, k + 16, … (coalesced: a warp reads 32 consecutive
//    elements), then the 16 lane sums are added in order.
// The terms of each output are added in an order fixed by the shapes alone. A faster version would
// split long reductions over several blocks (a second fixed-order pass over the partials) when
// there are few outputs, and use fast divmods for the offsets.
//
// Sums of squares: per-block double partials (grid-stride over a fixed number of blocks that
// depends on n only), then one block adds them in order.
#include "cuda/common.cuh"
#include "cuda/reduce.h"

namespace ie::cuda {
namespace {

constexpr int kDims = 8;

// Up to 8 dims, right-aligned (innermost at kDims − 1); unused slots have size 1, stride 0.
struct Dims {
  int n;
  int64_t size[kDims];
  int64_t stride[kDims];
};

Dims make_dims(const int64_t* size, const int64_t* stride, int n) {
  Dims d;
  d.n = n;
  for (int k = 0; k < kDims; ++k) {
    d.size[k] = 1;
    d.stride[k] = 0;
  }
  for (int i = 0; i < n; ++i) {
    d.size[kDims - n + i] = size[i];
    d.stride[kDims - n + i] = stride[i];
  }
  return d;
}

// Offset of flat index i (row-major over d's sizes) through d's strides.
__device__ __forceinline__ int64_t dims_offset(const Dims& d, int64_t i) {
  if (d.n == 0) return 0;
  if (d.n == 1) return i * d.stride[kDims - 1];
  int64_t off = 0;
#pragma unroll
  for (int k = kDims - 1; k >= 0; --k) {
    if (k < kDims - d.n) break;
    const int64_t s = d.size[k];
    off += (i % s) * d.stride[k];
    i /= s;
  }
  return off;
}

constexpr int kThreads = 256;
constexpr int kWarpMaxTerms = 1024;  // up to this many terms per output: one warp per output
constexpr int kColLanes = 16;        // row lanes of the column kernel (block 32 × 16)

// Innermost dim reduced. WARP: one warp per output; else one block (kThreads) per output.
template <typename T, bool WARP>
__global__ void reduce_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outputs, int64_t R, Dims kd,
                                   Dims rd, float scale) {
  __shared__ float scratch[32];
  const int lane = WARP ? int(threadIdx.x & 31) : int(threadIdx.x);
  const int width = WARP ? 32 : int(blockDim.x);
  const int64_t per_block = WARP ? int64_t(blockDim.x >> 5) : 1;
  const int64_t first = WARP ? int64_t(blockIdx.x) * per_block + (threadIdx.x >> 5) : int64_t(blockIdx.x);
  const int64_t step = int64_t(gridDim.x) * per_block;
  // o is uniform across a warp (WARP) or the block (else), so the shuffles / barriers are safe.
  for (int64_t o = first; o < outputs; o += step) {
    const int64_t base = dims_offset(kd, o);
    float acc = 0.f;
    for (int64_t r = lane; r < R; r += width) acc += to_f(x[base + dims_offset(rd, r)]);
    const float s = WARP ? warp_sum(acc) : block_sum(acc, scratch);
    if (lane == 0) y[o] = from_f<T>(s * scale);
  }
}

// Innermost dim kept (size Lk, stride 1); ko: the other kept dims (outer), rows = outputs / Lk.
template <typename T>
__global__ void reduce_cols_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t Lk, int64_t R,
                                   Dims ko, Dims rd, float scale) {
  __shared__ float part[kColLanes][33];
  const int64_t col_blocks = (Lk + 31) / 32;
  const int64_t tiles = rows * col_blocks;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {  // uniform over the block
    const int64_t row = t / col_blocks;
    const int64_t c = (t % col_blocks) * 32 + threadIdx.x;
    const int64_t base = dims_offset(ko, row);
    float acc = 0.f;
    if (c < Lk)
      for (int64_t r = threadIdx.y; r < R; r += kColLanes) acc += to_f(x[base + c + dims_offset(rd, r)]);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < Lk) {
      float s = 0.f;
      for (int k = 0; k < kColLanes; ++k) s += part[k][threadIdx.x];
      y[row * Lk + c] = from_f<T>(s * scale);
    }
    __syncthreads();  // part is reused by the next tile
  }
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Block-wide double sum (blockDim.x a multiple of 32); every thread gets it; synchronises.
__device__ __forceinline__ double block_sum_d(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.0;
  return warp_sum_d(v);
}

constexpr int64_t kSqChunk = 2048;  // elements per stage-1 block at least
constexpr int64_t kSqMaxChunks = 1024;

// grid (chunks, ≤ 65535 row slots); block kThreads.
__global__ void sum_sq_rows_kernel(const float* __restrict__ a, const float* __restrict__ t, int64_t rows, int64_t n,
                                   int64_t t_rows, double* __restrict__ partials) {
  __shared__ double scratch[32];
  const int64_t chunks = gridDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {  // uniform over the block
    const float* ar = a + r * n;
    const float* tr = t ? t + (r % t_rows) * n : nullptr;
    double acc = 0.0;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += chunks * blockDim.x) {
      const double d = tr ? double(ar[i]) - double(tr[i]) : double(ar[i]);
      acc += d * d;
    }
    const double s = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) partials[r * chunks + blockIdx.x] = s;
  }
}

__global__ void sum_sq_final_kernel(const double* __restrict__ partials, int64_t chunks, int64_t n, int mode,
                                    float* __restrict__ out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < chunks; i += blockDim.x) acc += partials[i];
  const double s = block_sum_d(acc, scratch);
  if (threadIdx.x == 0) {
    if (mode == int(SumSqOut::SumAndFinite)) {
      out[0] = float(s);
      out[1] = isfinite(s) ? 1.f : 0.f;
    } else {
      out[0] = float(s / double(n));
    }
  }
}

}  // namespace

void reduce_sum(DType dt, const void* x, const int64_t* shape, int ndim, const uint8_t* reduce_dims, void* y,
                float scale, int device) {
  IE_CHECK(ndim >= 0 && ndim <= kDims, "reduce: at most ", kDims, " dimensions are supported");
  int64_t outputs = 1;
  for (int d = 0; d < ndim; ++d)
    if (!reduce_dims[d]) outputs *= shape[d];
  if (outputs == 0) return;
  // merged dims of the contiguous x: size, stride, reduced?
  int nd = 0;
  int64_t sz[kDims], st[kDims];
  bool red[kDims];
  {
    int64_t rs[kDims], stride = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      rs[d] = stride;
      stride *= shape[d];
    }
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] == 1) continue;
      const bool r = reduce_dims[d] != 0;
      if (nd > 0 && red[nd - 1] == r) {
        sz[nd - 1] *= shape[d];
        st[nd - 1] = rs[d];
        continue;
      }
      sz[nd] = shape[d];
      st[nd] = rs[d];
      red[nd] = r;
      ++nd;
    }
  }
  int nk = 0, nr = 0;
  int64_t ksz[kDims], kst[kDims], rsz[kDims], rst[kDims];
  int64_t R = 1;
  for (int d = 0; d < nd; ++d) {
    if (red[d]) {
      rsz[nr] = sz[d];
      rst[nr++] = st[d];
      R *= sz[d];
    } else {
      ksz[nk] = sz[d];
      kst[nk++] = st[d];
    }
  }
  Dims rd = make_dims(rsz, rst, nr);
  cudaStream_t s = stream(device);
  dispatch_float(dt, "reduce", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    T* py = static_cast<T*>(y);
    if (nd == 0 || red[nd - 1]) {
      // Innermost reduced (or a single element: no dims at all, R = 1).
      Dims kd = make_dims(ksz, kst, nk);
      if (R <= kWarpMaxTerms) {
        const int64_t per_block = kThreads / 32;
        int64_t grid = (outputs + per_block - 1) / per_block;
        if (grid > 65536) grid = 65536;
        reduce_rows_kernel<T, true><<<int(grid), kThreads, 0, s>>>(px, py, outputs, R, kd, rd, scale);
      } else {
        const int64_t grid = outputs < 65536 ? outputs : 65536;
        reduce_rows_kernel<T, false><<<int(grid), kThreads, 0, s>>>(px, py, outputs, R, kd, rd, scale);
      }
      check_launch("reduce (rows)");
    } else {
      // Innermost kept: contiguous output columns.
      const int64_t Lk = ksz[nk - 1];
      Dims ko = make_dims(ksz, kst, nk - 1);
      const int64_t rows = outputs / Lk;
      const int64_t tiles = rows * ((Lk + 31) / 32);
      const int64_t grid = tiles < 65536 ? tiles : 65536;
      reduce_cols_kernel<T><<<int(grid), dim3(32, kColLanes), 0, s>>>(px, py, rows, Lk, R, ko, rd, scale);
      check_launch("reduce (columns)");
    }
  });
}

int64_t sum_sq_row_chunks(int64_t n) {
  int64_t c = (n + kSqChunk - 1) / kSqChunk;
  return c < 1 ? 1 : c > kSqMaxChunks ? kSqMaxChunks : c;
}

void sum_sq_rows(const float* a, const float* t, int64_t rows, int64_t n, int64_t t_rows, double* partials,
                 int device) {
  if (rows <= 0) return;
  const int64_t chunks = sum_sq_row_chunks(n);
  const unsigned gy = unsigned(rows < 65535 ? rows : 65535);
  sum_sq_rows_kernel<<<dim3(unsigned(chunks), gy), kThreads, 0, stream(device)>>>(a, t, rows, n, t_rows > 0 ? t_rows : 1,
                                                                                  partials);
  check_launch("sum of squares (partials)");
}

void sum_sq(const float* a, const float* t, int64_t n, double* partials, SumSqOut mode, float* out, int device) {
  sum_sq_rows(a, t, 1, n, 1, partials, device);
  sum_sq_final_kernel<<<1, kThreads, 0, stream(device)>>>(partials, sum_sq_row_chunks(n), n, int(mode), out);
  check_launch("sum of squares (final)");
}

}  // namespace ie::cuda
