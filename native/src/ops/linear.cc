// matmul and linear.
#include <algorithm>

#include "cpu/gemm.h"
#include "cpu/linear.h"
#include "cuda/cast.h"
#include "cuda/gemm.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {

inline const void* at(const Tensor& t, int64_t elems) {
  return static_cast<const char*>(t.raw()) + elems * int64_t(dtype_size(t.dtype()));
}
inline void* at_mut(const Tensor& t, int64_t elems) {
  return static_cast<char*>(t.raw()) + elems * int64_t(dtype_size(t.dtype()));
}

struct MatmulDims {
  int64_t batch, M, N, K;
  bool a_batched, b_batched;
  Shape out;
};

MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb, const char* op) {
  require_float(a, op, "a");
  require_float(b, op, "b");
  require_same_device(a, b, op, "b");
  require_same_dtype(a, b, op, "b");
  IE_CHECK(a.ndim() >= 2 && a.ndim() <= 3, op, ": a must be 2-D [M, K] or 3-D [batch, M, K], got ", a.desc());
  IE_CHECK(b.ndim() >= 2 && b.ndim() <= 3, op, ": b must be 2-D [K, N] or 3-D [batch, K, N], got ", b.desc());
  MatmulDims d;
  int64_t am = a.size(-2), ak = a.size(-1), bk = b.size(-2), bn = b.size(-1);
  d.M = ta ? ak : am;
  d.K = ta ? am : ak;
  int64_t kb = tb ? bn : bk;
  d.N = tb ? bk : bn;
  IE_CHECK(d.K == kb, op, ": inner dimensions differ: a ", shape_str(a.shape()), (ta ? " (transposed)" : ""),
           " has K=", d.K, ", b ", shape_str(b.shape()), (tb ? " (transposed)" : ""), " has K=", kb);
  d.a_batched = a.ndim() == 3;
  d.b_batched = b.ndim() == 3;
  d.batch = d.a_batched ? a.size(0) : d.b_batched ? b.size(0) : 1;
  IE_CHECK(!(d.a_batched && d.b_batched) || a.size(0) == b.size(0), op, ": batch sizes differ: a ",
           shape_str(a.shape()), ", b ", shape_str(b.shape()));
  d.out = (d.a_batched || d.b_batched) ? Shape{d.batch, d.M, d.N} : Shape{d.M, d.N};
  return d;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  MatmulDims d = matmul_dims(a, b, ta, tb, "matmul");
  Tensor y = Tensor::empty(d.out, a.dtype(), a.device());
  if (is_cuda(a)) {
    IE_IF_CUDA(launch(a.device(), [=] {
      cuda::gemm(a.dtype(), ta, tb, d.M, d.N, d.K, 1.f, a.raw(), a.size(-1), d.a_batched ? d.M * d.K : 0, b.raw(),
                 b.size(-1), d.b_batched ? d.K * d.N : 0, 0.f, y.raw(), d.N, d.M * d.N, d.batch, a.device().index);
    }));
    return y;
  }
  launch(a.device(), [=] {
    int64_t lda = a.size(-1), ldb = b.size(-1);
    cpu::sgemm_batched(ta, tb, d.M, d.N, d.K, 1.f, a.data<float>(), lda, d.a_batched ? d.M * d.K : 0,
                       b.data<float>(), ldb, d.b_batched ? d.K * d.N : 0, 0.f, y.data<float>(), d.N, d.M * d.N,
                       d.batch);
  });
  return y;
}

MatmulGrads matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dy, bool ta, bool tb) {
  MatmulDims d = matmul_dims(a, b, ta, tb, "matmulBackward");
  require_float(dy, "matmulBackward", "dy");
  require_same_device(a, dy, "matmulBackward", "dy");
  require_same_dtype(a, dy, "matmulBackward", "dy");
  require_shape(dy, d.out, "matmulBackward", "dy");
  Tensor da = Tensor::empty(a.shape(), a.dtype(), a.device());
  Tensor db = Tensor::empty(b.shape(), a.dtype(), a.device());
  if (is_cuda(a)) {
    // A shared (2-D) operand's gradient sums over the batch: for float16/bfloat16 it is accumulated
    // in a float32 buffer (one rounding at the end, not one per batch item).
    const bool half = a.dtype() != DType::F32 && d.batch > 1;
    Tensor acc_a = half && !d.a_batched ? Tensor::empty(a.shape(), DType::F32, a.device()) : Tensor();
    Tensor acc_b = half && !d.b_batched ? Tensor::empty(b.shape(), DType::F32, a.device()) : Tensor();
    IE_IF_CUDA(launch(a.device(), [=] {
      const DType dt = a.dtype();
      const int dev = a.device().index;
      const int64_t lda = a.size(-1), ldb = b.size(-1);
      const int64_t sa = a.size(-2) * lda, sb = b.size(-2) * ldb, sg = d.M * d.N;
      // As the CPU branch below: dop(A) = G·op(B)ᵀ, dop(B) = op(A)ᵀ·G. A batched operand's gradient
      // is one batched GEMM; a shared (2-D) operand's sums over the batch: one GEMM per item with
      // beta = 1 after the first.
      // dA_i (+)= ..., items [i0, i0 + n) (n > 1 only when a is batched).
      cuda::GemmEpilogue f32c;
      f32c.c_f32 = true;
      auto grad_a = [&](int64_t i0, int64_t n, float beta) {
        const void* Bi = at(b, d.b_batched ? i0 * sb : 0);
        const void* Gi = at(dy, i0 * sg);
        void* dA = acc_a.defined() ? acc_a.raw() : at_mut(da, d.a_batched ? i0 * sa : 0);
        const cuda::GemmEpilogue epi = acc_a.defined() ? f32c : cuda::GemmEpilogue{};
        const int64_t sB = d.b_batched ? sb : 0;
        if (!ta) cuda::gemm(dt, false, !tb, d.M, d.K, d.N, 1.f, Gi, d.N, sg, Bi, ldb, sB, beta, dA, lda, sa, n, dev, epi);
        else cuda::gemm(dt, tb, true, d.K, d.M, d.N, 1.f, Bi, ldb, sB, Gi, d.N, sg, beta, dA, lda, sa, n, dev, epi);
      };
      auto grad_b = [&](int64_t i0, int64_t n, float beta) {
        const void* Ai = at(a, d.a_batched ? i0 * sa : 0);
        const void* Gi = at(dy, i0 * sg);
        void* dB = acc_b.defined() ? acc_b.raw() : at_mut(db, d.b_batched ? i0 * sb : 0);
        const cuda::GemmEpilogue epi = acc_b.defined() ? f32c : cuda::GemmEpilogue{};
        const int64_t sA = d.a_batched ? sa : 0;
        if (!tb) cuda::gemm(dt, !ta, false, d.K, d.N, d.M, 1.f, Ai, lda, sA, Gi, d.N, sg, beta, dB, ldb, sb, n, dev, epi);
        else cuda::gemm(dt, true, ta, d.N, d.K, d.M, 1.f, Gi, d.N, sg, Ai, lda, sA, beta, dB, ldb, sb, n, dev, epi);
      };
      if (d.a_batched) grad_a(0, d.batch, 0.f);
      else if (d.batch <= 0) cuda::zero(dt, da.raw(), da.numel(), dev);
      else
        for (int64_t i = 0; i < d.batch; ++i) grad_a(i, 1, i > 0 ? 1.f : 0.f);
      if (acc_a.defined()) cuda::cast(DType::F32, dt, acc_a.raw(), da.raw(), da.numel(), dev);
      if (d.b_batched) grad_b(0, d.batch, 0.f);
      else if (d.batch <= 0) cuda::zero(dt, db.raw(), db.numel(), dev);
      else
        for (int64_t i = 0; i < d.batch; ++i) grad_b(i, 1, i > 0 ? 1.f : 0.f);
      if (acc_b.defined()) cuda::cast(DType::F32, dt, acc_b.raw(), db.raw(), db.numel(), dev);
    }));
    return {da, db};
  }
  launch(a.device(), [=] {
    const float* A = a.data<float>();
    const float* B = b.data<float>();
    const float* G = dy.data<float>();
    int64_t lda = a.size(-1), ldb = b.size(-1);
    int64_t sa = a.size(-2) * lda, sb = b.size(-2) * ldb, sg = d.M * d.N;
    // Y = op(A)·op(B). dop(A) = G·op(B)ᵀ, dop(B) = op(A)ᵀ·G; a transposed operand gets the transpose.
    // A shared (2-D) operand sums its gradient over the batch: beta = 1 after the first item, and
    // an empty batch (no item writes it) gives zeros, as on CUDA.
    if (d.batch <= 0) {
      std::fill_n(da.data<float>(), da.numel(), 0.f);
      std::fill_n(db.data<float>(), db.numel(), 0.f);
    }
    for (int64_t i = 0; i < d.batch; ++i) {
      const float* Ai = A + (d.a_batched ? i * sa : 0);
      const float* Bi = B + (d.b_batched ? i * sb : 0);
      const float* Gi = G + i * sg;
      float* dA = da.data<float>() + (d.a_batched ? i * sa : 0);
      float* dB = db.data<float>() + (d.b_batched ? i * sb : 0);
      float beta_a = (!d.a_batched && i > 0) ? 1.f : 0.f;
      float beta_b = (!d.b_batched && i > 0) ? 1.f : 0.f;
      if (!ta) cpu::sgemm(false, !tb, d.M, d.K, d.N, 1.f, Gi, d.N, Bi, ldb, beta_a, dA, lda);   // [M,K]
      else cpu::sgemm(tb, true, d.K, d.M, d.N, 1.f, Bi, ldb, Gi, d.N, beta_a, dA, lda);         // [K,M] = op(B)·Gᵀ
      if (!tb) cpu::sgemm(!ta, false, d.K, d.N, d.M, 1.f, Ai, lda, Gi, d.N, beta_b, dB, ldb);   // [K,N]
      else cpu::sgemm(true, ta, d.N, d.K, d.M, 1.f, Gi, d.N, Ai, lda, beta_b, dB, ldb);         // [N,K] = Gᵀ·op(A)
    }
  });
  return {da, db};
}

namespace {
int64_t linear_rows(const Tensor& x, const Tensor& w, const Tensor* bias, const char* op) {
  require_float(x, op, "x");
  require_float(w, op, "weight");
  require_same_device(x, w, op, "weight");
  require_same_dtype(x, w, op, "weight");
  require_rank(w, 2, op, "weight", "[out_features, in_features]");
  IE_CHECK(x.ndim() >= 1, op, ": x must have at least 1 dimension [..., in_features], got ", x.desc());
  IE_CHECK(x.size(-1) == w.size(1), op, ": x has ", x.size(-1), " features in its last dimension but weight ",
           shape_str(w.shape()), " expects ", w.size(1));
  if (bias) {
    require_float(*bias, op, "bias");
    require_same_device(x, *bias, op, "bias");
    require_same_dtype(x, *bias, op, "bias");
    require_shape(*bias, {w.size(0)}, op, "bias");
  }
  int64_t rows = 1;  // not numel / in_features: in_features may be 0
  for (int i = 0; i + 1 < x.ndim(); ++i) rows *= x.size(i);
  return rows;
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias) {
  int64_t M = linear_rows(x, w, bias, "linear");
  Shape out = x.shape();
  out.back() = w.size(0);
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  Tensor b = bias ? *bias : Tensor();
  int64_t K = w.size(1), N = w.size(0);
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      // y[M, N] = x[M, K] · w[N, K]ᵀ + b[N] (bias in the GEMM's epilogue).
      cuda::GemmEpilogue epi;
      epi.bias = b.defined() ? b.raw() : nullptr;
      epi.bias_mode = b.defined() ? cuda::GemmBias::PerColumn : cuda::GemmBias::None;
      cuda::gemm(x.dtype(), false, true, M, N, K, 1.f, x.raw(), K, 0, w.raw(), K, 0, 0.f, y.raw(), N, 0, 1,
                 x.device().index, epi);
    }));
    return y;
  }
  launch(x.device(), [=] {
    cpu::linear_forward(x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr, y.data<float>(),
                        M, K, N);
  });
  return y;
}

LinearGrads linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, bool has_bias,
                            const GradInto* into) {
  int64_t M = linear_rows(x, w, nullptr, "linearBackward");
  require_float(dy, "linearBackward", "dy");
  require_same_device(x, dy, "linearBackward", "dy");
  require_same_dtype(x, dy, "linearBackward", "dy");
  Shape out = x.shape();
  out.back() = w.size(0);
  require_shape(dy, out, "linearBackward", "dy");
  LinearGrads g;
  g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  g.dw = param_grad(into, false, w.shape(), x.device(), "linearBackward");
  if (has_bias) g.db = param_grad(into, true, {w.size(0)}, x.device(), "linearBackward");
  int64_t K = w.size(1), N = w.size(0);
  bool acc = into && into->accumulate;
  LinearGrads r = g;
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      const DType dt = x.dtype();
      const int dev = x.device().index;
      // dx[M, K] = dy[M, N] · w[N, K]; dw[N, K] (+)= dyᵀ · x; db[N] (+)= column sums of dy.
      cuda::gemm(dt, false, false, M, K, N, 1.f, dy.raw(), N, 0, w.raw(), K, 0, 0.f, r.dx.raw(), K, 0, 1, dev);
      cuda::GemmEpilogue f32c;  // parameter gradients are float32 whatever dt is
      f32c.c_f32 = true;
      cuda::gemm(dt, true, false, N, K, M, 1.f, dy.raw(), N, 0, x.raw(), K, 0, acc ? 1.f : 0.f, r.dw.raw(), K, 0, 1,
                 dev, f32c);
      if (r.db.defined()) cuda::column_sums(dt, dy.raw(), M, N, r.db.raw(), acc, dev);
    }));
    return g;
  }
  launch(x.device(), [=] {
    cpu::linear_backward(x.data<float>(), w.data<float>(), dy.data<float>(), r.dx.data<float>(), r.dw.data<float>(),
                         r.db.defined() ? r.db.data<float>() : nullptr, M, K, N, acc);
  });
  return g;
}

}  // namespace ie::ops
