// 2-D convolution as GEMM. Output channels are GEMM rows, output pixels GEMM columns:
//   forward          y_n[K, PQ]   = w[K, CRS] · col_n[CRS, PQ]
//   backward input   dcol[CRS,PQ] = wᵀ · dy_n, then col2im adds dcol back onto dx_n
//   backward weight  dw[K, CRS]  += dy_n · col_nᵀ
// A 1x1 stride-1 unpadded conv needs no im2col: x_n itself is col_n. Otherwise col is built for a
// band of output columns at a time: a band of output rows of one image when images are large, or
// several whole images when they are small (so each GEMM is wide enough to amortise packing the
// weights). The scratch stays around kColBudget floats.
#include "cpu/conv2d.h"

#include <cstdlib>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/scratch.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kColBudget = int64_t(1) << 22;  // floats (16 MiB)
constexpr int64_t kMinBandCols = 512;              // GEMM width worth packing the weights for

thread_local Scratch t_col, t_tmp;

bool pointwise(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// A band of GEMM columns: images [n0, n1), output rows [p0, p1) of each.
struct Band {
  int64_t n0, n1, p0, p1;
};

// Bands cover the batch in order; plan_bands gives the band size, next_band walks them.
struct BandPlan {
  int64_t rows;    // output rows per band (< P: one image per band)
  int64_t images;  // images per band (rows == P)
  int64_t max_cols;
};
BandPlan plan_bands(const Conv2dShape& s) {
  const int64_t CRS = s.C * s.R * s.S, PQ = s.P * s.Q;
  int64_t cols = CRS > 0 ? kColBudget / CRS : PQ * s.N;
  if (cols < kMinBandCols) cols = kMinBandCols;
  BandPlan b;
  if (PQ >= cols) {
    b.images = 1;
    b.rows = cols / s.Q > 0 ? cols / s.Q : 1;
  } else {
    b.rows = s.P;
    b.images = cols / PQ < s.N ? cols / PQ : s.N;
  }
  b.max_cols = b.images * b.rows * s.Q;
  return b;
}
bool next_band(const Conv2dShape& s, const BandPlan& plan, Band* b) {
  if (b->n1 == 0 && b->p1 == 0) {  // first
    *b = {0, plan.images < s.N ? plan.images : s.N, 0, plan.rows < s.P ? plan.rows : s.P};
    return s.N > 0 && s.P > 0;
  }
  if (b->p1 < s.P) {
    b->p0 = b->p1;
    b->p1 = b->p0 + plan.rows < s.P ? b->p0 + plan.rows : s.P;
    return true;
  }
  if (b->n1 >= s.N) return false;
  b->n0 = b->n1;
  b->n1 = b->n0 + plan.images < s.N ? b->n0 + plan.images : s.N;
  b->p0 = 0;
  b->p1 = plan.rows < s.P ? plan.rows : s.P;
  return true;
}
inline int64_t band_cols(const Conv2dShape& s, const Band& b) { return (b.n1 - b.n0) * (b.p1 - b.p0) * s.Q; }

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

// col[(c*R + r)*S + si][(p - p0)*Q + q] = x[c][p*sh - ph + r][q*sw - pw + si] (0 outside), for
// one image; col rows are ld apart.
void im2col(const Conv2dShape& s, const float* x, int64_t p0, int64_t p1, float* col, int64_t ld) {
  const int64_t RS = s.R * s.S;
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
void col2im_add(const Conv2dShape& s, const float* col, int64_t ld, int64_t p0, int64_t p1, float* dx) {
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

// im2col of every image of a band, side by side.
void im2col_band(const Conv2dShape& s, const float* x, const Band& b, float* col) {
  const int64_t ld = band_cols(s, b), seg = (b.p1 - b.p0) * s.Q;
  for (int64_t n = b.n0; n < b.n1; ++n) im2col(s, x + n * s.C * s.H * s.W, b.p0, b.p1, col + (n - b.n0) * seg, ld);
}

// The band's [rows, cols] window of a per-image [rows, PQ] tensor t (y or dy): either a view into
// t (one image) or, for several images, a copy side by side in `tmp`. Returns it and its ld.
const float* gather_band(const Conv2dShape& s, const float* t, int64_t rows, const Band& b, float* tmp,
                         int64_t* ld) {
  const int64_t PQ = s.P * s.Q;
  if (b.n1 - b.n0 == 1) {
    *ld = PQ;
    return t + b.n0 * rows * PQ + b.p0 * s.Q;
  }
  const int64_t cols = band_cols(s, b);
  parallel_for(rows * (b.n1 - b.n0), 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t r = i % rows, n = b.n0 + i / rows;
      std::memcpy(tmp + r * cols + (n - b.n0) * PQ, t + (n * rows + r) * PQ, size_t(PQ) * sizeof(float));
    }
  });
  *ld = cols;
  return tmp;
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
  const int64_t PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
  if (s.N <= 0 || s.K <= 0 || PQ <= 0) return;
  if (pointwise(s)) {
    sgemm_batched(false, false, s.K, PQ, s.C, 1.f, w, s.C, 0, x, PQ, s.C * PQ, 0.f, y, PQ, s.K * PQ, s.N);
  } else {
    const BandPlan plan = plan_bands(s);
    float* col = t_col.get(size_t(CRS * plan.max_cols));
    float* out = plan.images > 1 ? t_tmp.get(size_t(s.K * plan.max_cols)) : nullptr;
    for (Band band{0, 0, 0, 0}; next_band(s, plan, &band);) {
      const int64_t cols = band_cols(s, band);
      im2col_band(s, x, band, col);
      if (band.n1 - band.n0 == 1) {
        sgemm(false, false, s.K, cols, CRS, 1.f, w, CRS, col, cols, 0.f, y + band.n0 * s.K * PQ + band.p0 * s.Q, PQ);
      } else {
        // Several whole images: GEMM into [K, images * PQ], then scatter to each image's y.
        sgemm(false, false, s.K, cols, CRS, 1.f, w, CRS, col, cols, 0.f, out, cols);
        parallel_for(s.K * (band.n1 - band.n0), 16, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            int64_t k = i % s.K, n = band.n0 + i / s.K;
            std::memcpy(y + (n * s.K + k) * PQ, out + k * cols + (n - band.n0) * PQ, size_t(PQ) * sizeof(float));
          }
        });
      }
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
  const BandPlan plan = plan_bands(s);
  float* col = t_col.get(size_t(CRS * plan.max_cols));
  float* tmp = plan.images > 1 ? t_tmp.get(size_t(s.K * plan.max_cols)) : nullptr;
  for (Band band{0, 0, 0, 0}; next_band(s, plan, &band);) {
    const int64_t cols = band_cols(s, band), seg = (band.p1 - band.p0) * s.Q;
    int64_t ld;
    const float* g = gather_band(s, dy, s.K, band, tmp, &ld);
    sgemm(true, false, CRS, cols, s.K, 1.f, w, CRS, g, ld, 0.f, col, cols);
    for (int64_t n = band.n0; n < band.n1; ++n)
      col2im_add(s, col + (n - band.n0) * seg, cols, band.p0, band.p1, dx + n * s.C * HW);
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
      const BandPlan plan = plan_bands(s);
      float* col = t_col.get(size_t(CRS * plan.max_cols));
      float* tmp = plan.images > 1 ? t_tmp.get(size_t(s.K * plan.max_cols)) : nullptr;
      for (Band band{0, 0, 0, 0}; next_band(s, plan, &band); beta = 1.f) {
        const int64_t cols = band_cols(s, band);
        int64_t ld;
        const float* g = gather_band(s, dy, s.K, band, tmp, &ld);
        im2col_band(s, x, band, col);
        sgemm(false, true, s.K, CRS, cols, 1.f, g, ld, col, cols, beta, dw, CRS);
      }
    }
  }
  if (db) {
    parallel_for(s.K, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        float total = accumulate ? db[k] : 0.f;
        for (int64_t n = 0; n < s.N; ++n) {
          const float* d = dy + (n * s.K + k) * PQ;
          // 8 partial sums: vectorisable and more accurate than one running sum.
          float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t j = 0;
          for (; j + 8 <= PQ; j += 8)
            for (int u = 0; u < 8; ++u) part[u] += d[j + u];
          for (; j < PQ; ++j) part[0] += d[j];
          total += ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        }
        db[k] = total;
      }
    });
  }
}

}  // namespace ie::cpu::IE_ISA
