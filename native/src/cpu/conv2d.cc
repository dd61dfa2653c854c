// 2-D convolution as GEMM. Output channels are GEMM rows, output pixels GEMM columns:
//   forward          y_n[K, PQ]   = w[K, CRS] · col_n[CRS, PQ]
//   backward input   dcol[CRS,PQ] = wᵀ · dy_n, then col2im adds dcol back onto dx_n
//   backward weight  dw[K, CRS]  += dy_n · col_nᵀ
// A 1x1 stride-1 unpadded conv needs no im2col: x_n itself is col_n. Otherwise col_n is built for
// a band of output rows at a time so the scratch stays around kColBudget floats (it is reused
// from L2/L3 by the GEMM instead of streaming a whole-image im2col through memory).
#include "cpu/conv2d.h"

#include <cstdlib>
#include <cstring>

#include "cpu/gemm.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kColBudget = int64_t(1) << 20;  // floats (4 MiB)

struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = (n * sizeof(float) + 63) & ~size_t(63);
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      cap = bytes / sizeof(float);
    }
    return p;
  }
};
thread_local Scratch t_col;

bool pointwise(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Output rows per im2col band.
int64_t band_rows(const Conv2dShape& s) {
  int64_t per_row = s.C * s.R * s.S * s.Q;
  int64_t rows = per_row > 0 ? kColBudget / per_row : s.P;
  if (rows < 1) rows = 1;
  return rows < s.P ? rows : s.P;
}

// Output columns q whose input column q*stride - pad + si lies inside [0, W): [*lo, *hi).
inline void valid_q(const Conv2dShape& s, int64_t si, int64_t* lo, int64_t* hi) {
  int64_t off = si - s.pad_w;  // input column = q * stride_w + off
  int64_t a = off >= 0 ? 0 : (-off + s.stride_w - 1) / s.stride_w;
  int64_t b = s.W - off <= 0 ? 0 : (s.W - off + s.stride_w - 1) / s.stride_w;
  if (b > s.Q) b = s.Q;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

// col[(c*R + r)*S + si][(p - p0)*Q + q] = x[c][p*sh - ph + r][q*sw - pw + si] (0 outside).
void im2col(const Conv2dShape& s, const float* x, int64_t p0, int64_t p1, float* col) {
  const int64_t ld = (p1 - p0) * s.Q, RS = s.R * s.S;
  parallel_for(s.C * RS, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t row = i0; row < i1; ++row) {
      int64_t c = row / RS, r = row % RS / s.S, si = row % s.S;
      int64_t qlo, qhi;
      valid_q(s, si, &qlo, &qhi);
      const int64_t off = si - s.pad_w;
      for (int64_t p = p0; p < p1; ++p) {
        float* d = col + row * ld + (p - p0) * s.Q;
        int64_t h = p * s.stride_h - s.pad_h + r;
        if (h < 0 || h >= s.H) {
          for (int64_t q = 0; q < s.Q; ++q) d[q] = 0.f;
          continue;
        }
        const float* src = x + (c * s.H + h) * s.W + off;
        for (int64_t q = 0; q < qlo; ++q) d[q] = 0.f;
        if (s.stride_w == 1)
          for (int64_t q = qlo; q < qhi; ++q) d[q] = src[q];
        else
          for (int64_t q = qlo; q < qhi; ++q) d[q] = src[q * s.stride_w];
        for (int64_t q = qhi; q < s.Q; ++q) d[q] = 0.f;
      }
    }
  });
}

// The adjoint of im2col: dx[c][h][w] += col[...] for every (r, si, p, q) that reads (h, w).
// Parallel over channels, each of which owns its dx plane.
void col2im_add(const Conv2dShape& s, const float* col, int64_t p0, int64_t p1, float* dx) {
  const int64_t ld = (p1 - p0) * s.Q;
  parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t si = 0; si < s.S; ++si) {
          const float* src = col + ((c * s.R + r) * s.S + si) * ld;
          int64_t qlo, qhi;
          valid_q(s, si, &qlo, &qhi);
          const int64_t off = si - s.pad_w;
          for (int64_t p = p0; p < p1; ++p) {
            int64_t h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            float* d = dx + (c * s.H + h) * s.W + off;
            const float* v = src + (p - p0) * s.Q;
            if (s.stride_w == 1)
              for (int64_t q = qlo; q < qhi; ++q) d[q] += v[q];
            else
              for (int64_t q = qlo; q < qhi; ++q) d[q * s.stride_w] += v[q];
          }
        }
  });
}

void fill_zero(float* p, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) { std::memset(p + b, 0, size_t(e - b) * sizeof(float)); });
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
  if (s.N <= 0 || s.K <= 0 || PQ <= 0) return;
  if (pointwise(s)) {
    sgemm_batched(false, false, s.K, PQ, s.C, 1.f, w, s.C, 0, x, PQ, s.C * PQ, 0.f, y, PQ, s.K * PQ, s.N);
  } else {
    const int64_t rows = band_rows(s);
    float* col = t_col.get(size_t(CRS * rows * s.Q));
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t p0 = 0; p0 < s.P; p0 += rows) {
        int64_t p1 = p0 + rows < s.P ? p0 + rows : s.P, cols = (p1 - p0) * s.Q;
        im2col(s, x + n * s.C * s.H * s.W, p0, p1, col);
        sgemm(false, false, s.K, cols, CRS, 1.f, w, CRS, col, cols, 0.f, y + n * s.K * PQ + p0 * s.Q, PQ);
      }
  }
  if (b) {
    parallel_for(s.N * s.K, 1 + (1 << 14) / PQ, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float* yi = y + i * PQ;
        float bias = b[i % s.K];
        for (int64_t j = 0; j < PQ; ++j) yi[j] += bias;
      }
    });
  }
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S, HW = s.H * s.W;
  if (s.N <= 0 || s.C <= 0 || HW <= 0) return;
  if (pointwise(s)) {
    sgemm_batched(true, false, s.C, HW, s.K, 1.f, w, s.C, 0, dy, PQ, s.K * PQ, 0.f, dx, HW, s.C * HW, s.N);
    return;
  }
  fill_zero(dx, s.N * s.C * HW);
  if (PQ <= 0) return;
  const int64_t rows = band_rows(s);
  float* col = t_col.get(size_t(CRS * rows * s.Q));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t p0 = 0; p0 < s.P; p0 += rows) {
      int64_t p1 = p0 + rows < s.P ? p0 + rows : s.P, cols = (p1 - p0) * s.Q;
      sgemm(true, false, CRS, cols, s.K, 1.f, w, CRS, dy + n * s.K * PQ + p0 * s.Q, PQ, 0.f, col, cols);
      col2im_add(s, col, p0, p1, dx + n * s.C * HW);
    }
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, float* db,
                            bool accumulate) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S, HW = s.H * s.W;
  if (s.K <= 0) return;
  if (CRS > 0) {
    // Every GEMM after the first adds on top.
    float beta = accumulate ? 1.f : 0.f;
    if (s.N <= 0 || PQ <= 0) {
      if (!accumulate) fill_zero(dw, s.K * CRS);
    } else if (pointwise(s)) {
      for (int64_t n = 0; n < s.N; ++n, beta = 1.f)
        sgemm(false, true, s.K, s.C, PQ, 1.f, dy + n * s.K * PQ, PQ, x + n * s.C * HW, HW, beta, dw, s.C);
    } else {
      const int64_t rows = band_rows(s);
      float* col = t_col.get(size_t(CRS * rows * s.Q));
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t p0 = 0; p0 < s.P; p0 += rows, beta = 1.f) {
          int64_t p1 = p0 + rows < s.P ? p0 + rows : s.P, cols = (p1 - p0) * s.Q;
          im2col(s, x + n * s.C * HW, p0, p1, col);
          sgemm(false, true, s.K, CRS, cols, 1.f, dy + n * s.K * PQ + p0 * s.Q, PQ, col, cols, beta, dw, CRS);
        }
    }
  }
  if (db) {
    parallel_for(s.K, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        float total = accumulate ? db[k] : 0.f;
        for (int64_t n = 0; n < s.N; ++n) {
          const float* d = dy + (n * s.K + k) * PQ;
          float sum = 0.f;
          for (int64_t j = 0; j < PQ; ++j) sum += d[j];
          total += sum;
        }
        db[k] = total;
      }
    });
  }
}

}  // namespace ie::cpu::IE_ISA
