// conv2d forward/backward on the GPU: im2col / col2im kernels around cuda::gemm (see conv2d.h).
#include <atomic>

#include "cuda/common.cuh"
#include "cuda/conv2d.h"
#include "cuda/gemm.h"

namespace ie::cuda {
namespace {

std::atomic<int64_t> g_budget{kConvScratchBudget};

bool pointwise(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Chunks of GEMM columns: `images` whole images at a time (rows == P), or one image in bands of
// `rows` output rows (images == 1, rows < P). cols() = columns of the biggest chunk.
struct Plan {
  int64_t images, rows, Q;
  int64_t cols() const { return images * rows * Q; }
};
Plan make_plan(const Conv2dShape& s, int64_t bytes_per_col) {
  const int64_t PQ = s.P * s.Q;
  int64_t cols = bytes_per_col > 0 ? g_budget.load() / bytes_per_col : PQ * s.N;
  if (cols < s.Q) cols = s.Q;  // at least one output row
  Plan p{1, s.P, s.Q};
  if (PQ <= cols) {
    p.images = cols / PQ < s.N ? cols / PQ : s.N;
    if (p.images < 1) p.images = 1;
  } else {
    p.rows = cols / s.Q;
    if (p.rows < 1) p.rows = 1;
    if (p.rows > s.P) p.rows = s.P;
  }
  return p;
}

// Calls f(n0, nb, p0, p1) for each chunk in order.
template <typename F>
void each_chunk(const Conv2dShape& s, const Plan& plan, F&& f) {
  for (int64_t n0 = 0; n0 < s.N; n0 += plan.images) {
    const int64_t nb = plan.images < s.N - n0 ? plan.images : s.N - n0;
    for (int64_t p0 = 0; p0 < s.P; p0 += plan.rows) f(n0, nb, p0, p0 + plan.rows < s.P ? p0 + plan.rows : s.P);
  }
}

inline const void* at(const void* p, int64_t elems, size_t esize) {
  return static_cast<const char*>(p) + elems * int64_t(esize);
}
inline void* at(void* p, int64_t elems, size_t esize) { return static_cast<char*>(p) + elems * int64_t(esize); }

// col[img * img_stride + row * ld + j] = x[n0 + img][c][h][w] (0 in the padding), for img < nb,
// row = (c·R + r)·S + si < CRS, j = (p − p0)·Q + q < cols, h = p·sh − ph + r, w = q·sw − pw + si.
template <typename T>
__global__ void im2col_kernel(Conv2dShape s, const T* __restrict__ x, int64_t n0, int64_t nb, int64_t p0,
                              int64_t cols, T* __restrict__ col, int64_t ld, int64_t img_stride) {
  const int64_t RS = s.R * s.S, CRS = s.C * RS;
  const int64_t total = nb * CRS * cols;
  IE_GRID_STRIDE(i, total) {
    const int64_t j = i % cols, t = i / cols;
    const int64_t row = t % CRS, img = t / CRS;
    const int64_t p = p0 + j / s.Q, q = j % s.Q;
    const int64_t c = row / RS, r = row % RS / s.S, si = row % s.S;
    const int64_t h = p * s.stride_h - s.pad_h + r, w = q * s.stride_w - s.pad_w + si;
    T v = from_f<T>(0.f);
    if (h >= 0 && h < s.H && w >= 0 && w < s.W) v = x[(((n0 + img) * s.C + c) * s.H + h) * s.W + w];
    col[img * img_stride + row * ld + j] = v;
  }
}

// The adjoint of im2col as a gather: each dx pixel (img, c, h, w) with h in [h0, h1) sums the
// float32 dcol entries of the taps that read it (output rows p in [p0, p1)); dcol is
// [nb][CRS][cols]. Overwrites dx, or adds to it with accumulate (row bands of one image).
template <typename T>
__global__ void col2im_kernel(Conv2dShape s, const float* __restrict__ dcol, int64_t n0, int64_t nb, int64_t p0,
                              int64_t p1, int64_t cols, int64_t h0, int64_t h1, T* __restrict__ dx, bool accumulate) {
  const int64_t CRS = s.C * s.R * s.S, hn = h1 - h0;
  const int64_t total = nb * s.C * hn * s.W;
  IE_GRID_STRIDE(i, total) {
    const int64_t w = i % s.W, t1 = i / s.W;
    const int64_t h = h0 + t1 % hn, t2 = t1 / hn;
    const int64_t c = t2 % s.C, img = t2 / s.C;
    const float* base = dcol + img * CRS * cols;
    float sum = 0.f;
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t hp = h + s.pad_h - r;  // = p * stride_h
      if (hp < 0 || hp % s.stride_h != 0) continue;
      const int64_t p = hp / s.stride_h;
      if (p < p0 || p >= p1) continue;
      for (int64_t si = 0; si < s.S; ++si) {
        const int64_t wq = w + s.pad_w - si;  // = q * stride_w
        if (wq < 0 || wq % s.stride_w != 0) continue;
        const int64_t q = wq / s.stride_w;
        if (q >= s.Q) continue;
        sum += base[((c * s.R + r) * s.S + si) * cols + (p - p0) * s.Q + q];
      }
    }
    T* d = dx + (((n0 + img) * s.C + c) * s.H + h) * s.W + w;
    *d = from_f<T>(accumulate ? to_f(*d) + sum : sum);
  }
}

// out[k][img·PQ + j] = dy[n0 + img][k][j]: dy of nb images side by side, [K, nb·PQ].
template <typename T>
__global__ void gather_dy_kernel(const T* __restrict__ dy, int64_t K, int64_t PQ, int64_t n0, int64_t nb,
                                 T* __restrict__ out) {
  const int64_t tot = nb * PQ, total = K * tot;
  IE_GRID_STRIDE(i, total) {
    const int64_t k = i / tot, rem = i % tot;
    const int64_t img = rem / PQ, j = rem % PQ;
    out[i] = dy[((n0 + img) * K + k) * PQ + j];
  }
}

// db[k] = Σ_n Σ_pq dy[n][k][pq] (+ db[k] with accumulate): one block per channel, fixed order.
template <typename T>
__global__ void __launch_bounds__(256) bias_grad_kernel(const T* __restrict__ dy, int64_t N, int64_t K, int64_t PQ,
                                                        float* db, bool accumulate) {
  __shared__ float scratch[32];
  const int64_t per = N * PQ;
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
      const int64_t n = i / PQ, j = i % PQ;
      sum += to_f(dy[(n * K + k) * PQ + j]);
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) db[k] = accumulate ? db[k] + sum : sum;
  }
}

int grid_cap(int64_t blocks, int device) {
  const int64_t cap = int64_t(sm_count(device)) * 16;
  return int(blocks < 1 ? 1 : blocks < cap ? blocks : cap);
}

}  // namespace

void conv2d_set_scratch_budget(int64_t bytes) { g_budget.store(bytes > 0 ? bytes : kConvScratchBudget); }

ConvScratch conv2d_scratch(DType dt, const Conv2dShape& s, ConvPass pass) {
  ConvScratch r;
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
  const int64_t e = int64_t(dtype_size(dt));
  if (s.N <= 0 || PQ <= 0 || s.K <= 0 || CRS <= 0 || pointwise(s)) return r;
  switch (pass) {
    case ConvPass::Forward: {
      Plan p = make_plan(s, CRS * e);
      r.col_bytes = CRS * p.cols() * e;
      break;
    }
    case ConvPass::BackwardInput: {
      Plan p = make_plan(s, CRS * 4);
      r.col_bytes = CRS * p.cols() * 4;
      break;
    }
    case ConvPass::BackwardWeight: {
      Plan p = make_plan(s, (CRS + s.K) * e);
      r.col_bytes = CRS * p.cols() * e;
      if (p.images > 1) r.gather_bytes = s.K * p.cols() * e;
      break;
    }
  }
  return r;
}

void conv2d_forward(DType dt, const Conv2dShape& s, const void* x, const void* w, const void* b, void* y, void* col,
                    int device) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
  if (s.N <= 0 || s.K <= 0 || PQ <= 0) return;
  const size_t e = dtype_size(dt);
  GemmEpilogue epi;
  epi.bias = b;
  epi.bias_mode = b ? GemmBias::PerRow : GemmBias::None;
  if (CRS == 0) {  // no taps: an empty GEMM, y = b (or 0); A and B are not read
    gemm(dt, false, false, s.K, PQ, 0, 1.f, w, 0, 0, x, PQ, 0, 0.f, y, PQ, s.K * PQ, s.N, device, epi);
    return;
  }
  if (pointwise(s)) {
    // y_n[K, PQ] = w[K, C] · x_n[C, HW] (HW == PQ).
    gemm(dt, false, false, s.K, PQ, s.C, 1.f, w, s.C, 0, x, PQ, s.C * PQ, 0.f, y, PQ, s.K * PQ, s.N, device, epi);
    return;
  }
  const Plan plan = make_plan(s, CRS * int64_t(e));
  cudaStream_t st = stream(device);
  each_chunk(s, plan, [&](int64_t n0, int64_t nb, int64_t p0, int64_t p1) {
    const int64_t cols = (p1 - p0) * s.Q;
    dispatch_float(dt, "conv2d", [&](auto t) {
      using T = decltype(t);
      im2col_kernel<T><<<grid_for(nb * CRS * cols, 256, device), 256, 0, st>>>(
          s, static_cast<const T*>(x), n0, nb, p0, cols, static_cast<T*>(col), cols, CRS * cols);
    });
    check_launch("conv2d im2col");
    // y_n[:, p0·Q ..] = w · col_n for the nb images of the chunk (batched, columns PQ apart in y).
    gemm(dt, false, false, s.K, cols, CRS, 1.f, w, CRS, 0, col, cols, CRS * cols, 0.f,
         at(y, n0 * s.K * PQ + p0 * s.Q, e), PQ, s.K * PQ, nb, device, epi);
  });
}

void conv2d_backward_input(DType dt, const Conv2dShape& s, const void* dy, const void* w, void* dx, void* col,
                           int device) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S, HW = s.H * s.W;
  if (s.N <= 0 || s.C <= 0 || HW <= 0) return;
  const size_t e = dtype_size(dt);
  if (pointwise(s)) {
    // dx_n[C, HW] = wᵀ[C, K] · dy_n[K, PQ]; K == 0 gives zeros.
    gemm(dt, true, false, s.C, HW, s.K, 1.f, w, s.C, 0, dy, PQ, s.K * PQ, 0.f, dx, HW, s.C * HW, s.N, device);
    return;
  }
  if (PQ <= 0 || s.K <= 0) {  // no taps: dx = 0
    zero(dt, dx, s.N * s.C * HW, device);
    return;
  }
  const Plan plan = make_plan(s, CRS * 4);
  const bool banded = plan.rows < s.P;
  if (banded) zero(dt, dx, s.N * s.C * HW, device);  // bands add their taps
  cudaStream_t st = stream(device);
  GemmEpilogue f32;
  f32.c_f32 = true;
  each_chunk(s, plan, [&](int64_t n0, int64_t nb, int64_t p0, int64_t p1) {
    const int64_t cols = (p1 - p0) * s.Q;
    // dcol_n[CRS, cols] = wᵀ · dy_n[:, p0·Q ..], float32.
    gemm(dt, true, false, CRS, cols, s.K, 1.f, w, CRS, 0, at(dy, n0 * s.K * PQ + p0 * s.Q, e), PQ, s.K * PQ, 0.f,
         col, cols, CRS * cols, nb, device, f32);
    // Input rows the band's taps can reach.
    int64_t h0 = 0, h1 = s.H;
    if (banded) {
      h0 = p0 * s.stride_h - s.pad_h;
      h1 = (p1 - 1) * s.stride_h - s.pad_h + s.R;
      if (h0 < 0) h0 = 0;
      if (h1 > s.H) h1 = s.H;
    }
    if (h1 <= h0) return;
    const int64_t total = nb * s.C * (h1 - h0) * s.W;
    dispatch_float(dt, "conv2dBackward", [&](auto t) {
      using T = decltype(t);
      col2im_kernel<T><<<grid_for(total, 256, device), 256, 0, st>>>(s, static_cast<const float*>(col), n0, nb, p0,
                                                                      p1, cols, h0, h1, static_cast<T*>(dx), banded);
    });
    check_launch("conv2d col2im");
  });
}

void conv2d_backward_weight(DType dt, const Conv2dShape& s, const void* x, const void* dy, void* dw, void* db,
                            bool accumulate, void* col, void* gather, int device) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S, HW = s.H * s.W;
  if (s.K <= 0) return;
  const size_t e = dtype_size(dt);
  cudaStream_t st = stream(device);
  GemmEpilogue f32c;  // dw is float32 whatever dt is (parameter gradients are float32 on the GPU)
  f32c.c_f32 = true;
  if (CRS > 0) {
    float beta = accumulate ? 1.f : 0.f;  // every GEMM after the first adds on top
    if (s.N <= 0 || PQ <= 0) {
      if (!accumulate) zero(DType::F32, dw, s.K * CRS, device);
    } else if (pointwise(s)) {
      // dw[K, C] += dy_n[K, PQ] · x_n[C, HW]ᵀ, image by image.
      // TODO(perf): many images of few pixels want one GEMM over x and dy gathered side by side.
      for (int64_t n = 0; n < s.N; ++n, beta = 1.f)
        gemm(dt, false, true, s.K, s.C, PQ, 1.f, at(dy, n * s.K * PQ, e), PQ, 0, at(x, n * s.C * HW, e), HW, 0, beta,
             dw, s.C, 0, 1, device, f32c);
    } else {
      const Plan plan = make_plan(s, (CRS + s.K) * int64_t(e));
      each_chunk(s, plan, [&](int64_t n0, int64_t nb, int64_t p0, int64_t p1) {
        const int64_t cols = (p1 - p0) * s.Q, tot = nb * cols;
        // col[CRS, tot]: the chunk's images side by side.
        dispatch_float(dt, "conv2dBackward", [&](auto t) {
          using T = decltype(t);
          im2col_kernel<T><<<grid_for(nb * CRS * cols, 256, device), 256, 0, st>>>(
              s, static_cast<const T*>(x), n0, nb, p0, cols, static_cast<T*>(col), tot, cols);
        });
        check_launch("conv2d im2col (weight gradient)");
        // dy of the chunk as [K, tot]: a view for one image, a gathered copy for several.
        const void* g = at(dy, n0 * s.K * PQ + p0 * s.Q, e);
        int64_t ldg = PQ;
        if (nb > 1) {  // whole images (p0 == 0, cols == PQ)
          dispatch_float(dt, "conv2dBackward", [&](auto t) {
            using T = decltype(t);
            gather_dy_kernel<T><<<grid_for(s.K * tot, 256, device), 256, 0, st>>>(static_cast<const T*>(dy), s.K, PQ,
                                                                                  n0, nb, static_cast<T*>(gather));
          });
          check_launch("conv2d gather dy");
          g = gather;
          ldg = tot;
        }
        // dw[K, CRS] (+)= g[K, tot] · col[CRS, tot]ᵀ
        gemm(dt, false, true, s.K, CRS, tot, 1.f, g, ldg, 0, col, tot, 0, beta, dw, CRS, 0, 1, device, f32c);
        beta = 1.f;
      });
    }
  }
  if (db) {
    dispatch_float(dt, "conv2dBackward", [&](auto t) {
      using T = decltype(t);
      bias_grad_kernel<T><<<grid_cap(s.K, device), 256, 0, st>>>(static_cast<const T*>(dy), s.N > 0 ? s.N : 0, s.K,
                                                                  PQ > 0 ? PQ : 0, static_cast<float*>(db), accumulate);
    });
    check_launch("conv2d bias gradient");
  }
}

}  // namespace ie::cuda
