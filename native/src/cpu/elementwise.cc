#include "cpu/elementwise.h"

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kGrain = 1 << 14;

// Shape and per-input strides after dropping size-1 dims and merging neighbours that every input
// walks contiguously (stride_outer == stride_inner · size_inner). Same-shape contiguous inputs
// become one dim; a per-channel operand becomes [.., C, HW] with strides (.., 1, 0).
struct View {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t st[2][kMaxDims];
};

View coalesce(const int64_t* shape, int ndim, const int64_t* s0, const int64_t* s1) {
  View v;
  const int64_t* in[2] = {s0, s1};
  const int nin = s1 ? 2 : 1;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (v.nd > 0) {
      int p = v.nd - 1;
      bool merge = true;
      for (int k = 0; k < nin; ++k) merge = merge && v.st[k][p] == in[k][d] * shape[d];
      if (merge) {
        v.shape[p] *= shape[d];
        for (int k = 0; k < nin; ++k) v.st[k][p] = in[k][d];
        continue;
      }
    }
    v.shape[v.nd] = shape[d];
    for (int k = 0; k < nin; ++k) v.st[k][v.nd] = in[k][d];
    if (nin == 1) v.st[1][v.nd] = 0;
    ++v.nd;
  }
  if (v.nd == 0) {  // a single element
    v.nd = 1;
    v.shape[0] = 1;
    v.st[0][0] = v.st[1][0] = 0;
  }
  return v;
}

// Walks the contiguous output in parallel chunks of flat indices and calls
// row(out_offset, in0_offset, in1_offset, len) on runs along the innermost dim.
template <class Row>
void for_each_run(const View& v, Row row) {
  int64_t total = 1;
  for (int d = 0; d < v.nd; ++d) total *= v.shape[d];
  const int64_t L = v.shape[v.nd - 1];
  parallel_for(total, kGrain, [&](int64_t b, int64_t e) {
    int64_t idx[kMaxDims];
    int64_t r = b / L, col = b % L;
    int64_t o0 = 0, o1 = 0;
    for (int d = v.nd - 2; d >= 0; --d) {
      idx[d] = r % v.shape[d];
      r /= v.shape[d];
      o0 += idx[d] * v.st[0][d];
      o1 += idx[d] * v.st[1][d];
    }
    int64_t pos = b;
    while (pos < e) {
      int64_t len = L - col < e - pos ? L - col : e - pos;
      row(pos, o0 + col * v.st[0][v.nd - 1], o1 + col * v.st[1][v.nd - 1], len);
      pos += len;
      col = 0;
      for (int d = v.nd - 2; d >= 0; --d) {  // odometer over the outer dims
        o0 += v.st[0][d];
        o1 += v.st[1][d];
        if (++idx[d] < v.shape[d]) break;
        o0 -= v.st[0][d] * v.shape[d];
        o1 -= v.st[1][d] * v.shape[d];
        idx[d] = 0;
      }
    }
  });
}

template <BinaryOp OP>
inline float apply(float a, float b) {
  if (OP == BinaryOp::Add) return a + b;
  if (OP == BinaryOp::Sub) return a - b;
  if (OP == BinaryOp::Mul) return a * b;
  return a / b;
}

// One run with the stride patterns that matter specialised, so each loop vectorises.
template <BinaryOp OP>
void binary_run(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = apply<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = apply<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = apply<OP>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = apply<OP>(a[i * sa], b[i * sb]);
  }
}

template <BinaryOp OP>
void binary_impl(const float* a, const int64_t* as, const float* b, const int64_t* bs, float* y,
                 const int64_t* shape, int ndim) {
  View v = coalesce(shape, ndim, as, bs);
  const int64_t sa = v.st[0][v.nd - 1], sb = v.st[1][v.nd - 1];
  for_each_run(v, [&](int64_t out, int64_t oa, int64_t ob, int64_t len) {
    binary_run<OP>(a + oa, sa, b + ob, sb, y + out, len);
  });
}

// Σ of n contiguous floats in double: 8 independent lanes, then a fixed-order combine.
double sum_run(const float* p, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(p[i + j]);
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += double(p[i]);
  return s;
}

}  // namespace

void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                    float* y, const int64_t* shape, int ndim) {
  switch (op) {
    case BinaryOp::Add: return binary_impl<BinaryOp::Add>(a, a_strides, b, b_strides, y, shape, ndim);
    case BinaryOp::Sub: return binary_impl<BinaryOp::Sub>(a, a_strides, b, b_strides, y, shape, ndim);
    case BinaryOp::Mul: return binary_impl<BinaryOp::Mul>(a, a_strides, b, b_strides, y, shape, ndim);
    case BinaryOp::Div: return binary_impl<BinaryOp::Div>(a, a_strides, b, b_strides, y, shape, ndim);
  }
}

void affine(const float* x, float alpha, float beta, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = alpha * x[i] + beta;
  });
}

void broadcast_copy(const float* x, const int64_t* x_strides, float* y, const int64_t* shape, int ndim, float scale) {
  View v = coalesce(shape, ndim, x_strides, nullptr);
  const int64_t sx = v.st[0][v.nd - 1];
  for_each_run(v, [&](int64_t out, int64_t ox, int64_t, int64_t len) {
    const float* p = x + ox;
    float* q = y + out;
    if (sx == 1) {
      for (int64_t i = 0; i < len; ++i) q[i] = scale * p[i];
    } else if (sx == 0) {
      const float val = scale * p[0];
      for (int64_t i = 0; i < len; ++i) q[i] = val;
    } else {
      for (int64_t i = 0; i < len; ++i) q[i] = scale * p[i * sx];
    }
  });
}

// Each output's terms are summed in one fixed order whatever the thread count: the dims are
// merged into alternating kept / reduced runs, then either
//  - the innermost dim is reduced: each output sums contiguous runs (8-lane double sums), or
//  - the innermost dim is kept: blocks of contiguous outputs accumulate whole rows in double.
void reduce_sum(const float* x, const int64_t* shape, int ndim, const uint8_t* reduce_dims, float* y, float scale) {
  int64_t total = 1, outputs = 1;
  for (int d = 0; d < ndim; ++d) {
    total *= shape[d];
    if (!reduce_dims[d]) outputs *= shape[d];
  }
  if (outputs == 0) return;
  if (total == 0) {
    for (int64_t i = 0; i < outputs; ++i) y[i] = 0.0f;
    return;
  }
  // merged dims (contiguous x): size, stride, reduced?
  int nd = 0;
  int64_t sz[kMaxDims], st[kMaxDims];
  bool red[kMaxDims];
  {
    int64_t stride = 1;
    int64_t rs[kMaxDims];
    for (int d = ndim - 1; d >= 0; --d) {
      rs[d] = stride;
      stride *= shape[d];
    }
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] == 1) continue;
      bool r = reduce_dims[d] != 0;
      if (nd > 0 && red[nd - 1] == r) {  // x is contiguous, so same-kind neighbours merge
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
  if (nd == 0) {
    y[0] = scale * x[0];
    return;
  }
  // split into kept dims (output order) and reduced dims
  int nk = 0, nr = 0;
  int64_t ksz[kMaxDims], kst[kMaxDims], rsz[kMaxDims], rst[kMaxDims];
  for (int d = 0; d < nd; ++d) {
    if (red[d]) {
      rsz[nr] = sz[d];
      rst[nr++] = st[d];
    } else {
      ksz[nk] = sz[d];
      kst[nk++] = st[d];
    }
  }
  const int64_t per_output = total / outputs;

  if (red[nd - 1]) {
    // innermost reduced dim is contiguous: sums over runs of length Lr at offsets of the others
    const int64_t Lr = rsz[nr - 1];
    const int nro = nr - 1;
    const int64_t runs = per_output / Lr;
    int64_t grain = kGrain / per_output;
    parallel_for(outputs, grain > 0 ? grain : 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        int64_t base = 0, rem = o;
        for (int d = nk - 1; d >= 0; --d) {
          base += (rem % ksz[d]) * kst[d];
          rem /= ksz[d];
        }
        double s = 0;
        int64_t idx[kMaxDims] = {0};
        int64_t off = 0;
        for (int64_t r = 0; r < runs; ++r) {
          s += sum_run(x + base + off, Lr);
          for (int d = nro - 1; d >= 0; --d) {
            off += rst[d];
            if (++idx[d] < rsz[d]) break;
            off -= rst[d] * rsz[d];
            idx[d] = 0;
          }
        }
        y[o] = float(s * double(scale));
      }
    });
  } else {
    // innermost kept dim: contiguous output rows of Lk; blocks of kBlock columns accumulate rows
    constexpr int64_t kBlock = 256;
    const int64_t Lk = ksz[nk - 1];
    const int64_t col_blocks = (Lk + kBlock - 1) / kBlock;
    const int64_t rows = outputs / Lk;
    int64_t grain = kGrain / (per_output * kBlock);
    parallel_for(rows * col_blocks, grain > 0 ? grain : 1, [&](int64_t b, int64_t e) {
      double acc[kBlock];
      for (int64_t task = b; task < e; ++task) {
        int64_t row = task / col_blocks, c0 = (task % col_blocks) * kBlock;
        int64_t n = Lk - c0 < kBlock ? Lk - c0 : kBlock;
        int64_t base = c0, rem = row;
        for (int d = nk - 2; d >= 0; --d) {
          base += (rem % ksz[d]) * kst[d];
          rem /= ksz[d];
        }
        for (int64_t j = 0; j < n; ++j) acc[j] = 0;
        int64_t idx[kMaxDims] = {0};
        int64_t off = 0;
        for (int64_t r = 0; r < per_output; ++r) {
          const float* p = x + base + off;
          for (int64_t j = 0; j < n; ++j) acc[j] += double(p[j]);
          for (int d = nr - 1; d >= 0; --d) {
            off += rst[d];
            if (++idx[d] < rsz[d]) break;
            off -= rst[d] * rsz[d];
            idx[d] = 0;
          }
        }
        float* out = y + row * Lk + c0;
        for (int64_t j = 0; j < n; ++j) out[j] = float(acc[j] * double(scale));
      }
    });
  }
}

}  // namespace ie::cpu::IE_ISA
