// The GPU GEMM group against float64 references: cuda::gemm directly (transposes, padded leading
// dimensions, strided batches, alpha/beta, bias epilogues, float32 C from float16/bfloat16), and
// the ops matmul, linear, conv2d with their backwards on CUDA, in float32, float16 and bfloat16.
// Skipped without a GPU.
//
// Tolerances (relative error ||out - ref|| / ||ref||): float32 1e-5 (exact float32 FMAs, no TF32);
// float16 1e-2 and bfloat16 2e-2, with the reference computed from the inputs rounded to the
// dtype (the remaining error is float32 accumulation plus one rounding of the output: 2^-11 for
// float16, 2^-8 for bfloat16, with headroom for gradients that accumulate in the storage type
// across batch items or GradInto).
// Sizes include 1, 7, 13, 33, 65, 130, 257: not multiples of the tiles (64/128 float32, 128×128×32
// tensor-core tiles), so every tile edge and the zero padding of partial tiles are exercised.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "harness.h"

#if defined(IE_WITH_CUDA)  // calls the kernels' entry points directly
#include "cuda/conv2d.h"
#include "cuda/gemm.h"
#include "harness.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;

const ie::Device kGpu{ie::DeviceType::CUDA, 0};
const DType kDtypes[] = {DType::F32, DType::F16, DType::BF16};

double tol(DType dt) { return dt == DType::F32 ? 1e-5 : dt == DType::F16 ? 1e-2 : 2e-2; }

float round_to(float v, DType dt) {
  if (dt == DType::F16) return ie::f16_to_float(ie::float_to_f16(v));
  if (dt == DType::BF16) return ie::bf16_to_float(ie::float_to_bf16(v));
  return v;
}
// The values the GPU sees once v is stored as dt, in float64.
std::vector<double> rounded(const std::vector<float>& v, DType dt) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = round_to(v[i], dt);
  return r;
}

Tensor upload(const std::vector<float>& v, const Shape& shape, DType dt) {
  if (dt == DType::F32) return ie::ops::from_host(v.data(), v.size() * 4, shape, dt, kGpu);
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = dt == DType::F16 ? ie::float_to_f16(v[i]) : ie::float_to_bf16(v[i]);
  return ie::ops::from_host(h.data(), h.size() * 2, shape, dt, kGpu);
}

std::vector<float> download(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  if (v.empty()) return v;
  if (t.dtype() == DType::F32) {
    ie::ops::copy_to_host(t, v.data());
    return v;
  }
  std::vector<uint16_t> h(v.size());
  ie::ops::copy_to_host(t, h.data());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = t.dtype() == DType::F16 ? ie::f16_to_float(h[i]) : ie::bf16_to_float(h[i]);
  return v;
}

// Best effort against unwritten outputs: a NaN-filled block of the output's size is freed just
// before the op, and the caching allocator hands that block to the op's output of the same size,
// so an element the kernel does not write reads back as NaN (rel_error then reports +inf).
void poison_next(const Shape& shape, DType dt) {
  int64_t n = ie::shape_numel(shape);
  if (n > 0) upload(iet::poisoned(size_t(n)), shape, dt);
}

std::string shape_s(const Shape& s) { return ie::shape_str(s); }

// ---- cuda::gemm directly ------------------------------------------------------------------------

struct GemmCase {
  bool tA, tB;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad = 0;                 // extra columns on every leading dimension
  int64_t batch = 1, stride_pad = 0;
  ie::cuda::GemmBias bias = ie::cuda::GemmBias::None;
  bool c_f32 = false;
};

constexpr float kSentinel = 1234.f;  // in C's padding: must survive untouched (exact in f16/bf16? see below)

void run_gemm_case(const GemmCase& c, DType dt, uint64_t seed) {
  const DType ct = c.c_f32 ? DType::F32 : dt;
  const int64_t lda = (c.tA ? c.M : c.K) + c.pad, ldb = (c.tB ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
  const int64_t rowsA = c.tA ? c.K : c.M, rowsB = c.tB ? c.N : c.K;
  const int64_t sA = rowsA * lda + c.stride_pad, sB = rowsB * ldb + c.stride_pad, sC = c.M * ldc + c.stride_pad;
  std::vector<float> A = iet::randn(size_t(sA * c.batch + 1), seed);
  std::vector<float> B = iet::randn(size_t(sB * c.batch + 1), seed + 1);
  std::vector<float> C = c.beta == 0.f ? iet::poisoned(size_t(sC * c.batch + 1))
                                       : iet::randn(size_t(sC * c.batch + 1), seed + 2);
  const int64_t nbias = c.bias == ie::cuda::GemmBias::PerRow ? c.M : c.N;
  std::vector<float> bias = iet::randn(size_t(nbias > 0 ? nbias : 1), seed + 3);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = c.N; j < ldc; ++j) C[size_t(b * sC + i * ldc + j)] = kSentinel;
  const std::vector<double> Ad = rounded(A, dt), Bd = rounded(B, dt), Cd = rounded(C, ct), bd = rounded(bias, dt);
  auto at = [](const std::vector<double>& X, bool trans, int64_t ld, int64_t base, int64_t i, int64_t j) {
    return trans ? X[size_t(base + j * ld + i)] : X[size_t(base + i * ld + j)];
  };
  std::vector<double> ref;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k) s += at(Ad, c.tA, lda, b * sA, i, k) * at(Bd, c.tB, ldb, b * sB, k, j);
        double v = double(c.alpha) * s + (c.beta == 0.f ? 0.0 : double(c.beta) * Cd[size_t(b * sC + i * ldc + j)]);
        if (c.bias == ie::cuda::GemmBias::PerColumn) v += bd[size_t(j)];
        if (c.bias == ie::cuda::GemmBias::PerRow) v += bd[size_t(i)];
        ref.push_back(v);
      }
  Tensor tA = upload(A, {int64_t(A.size())}, dt), tB = upload(B, {int64_t(B.size())}, dt);
  Tensor tC = upload(C, {int64_t(C.size())}, ct), tbias = upload(bias, {int64_t(bias.size())}, dt);
  GemmCase cc = c;
  ie::stream_for(kGpu).enqueue([=] {
    ie::cuda::GemmEpilogue epi;
    epi.bias = cc.bias == ie::cuda::GemmBias::None ? nullptr : tbias.raw();
    epi.bias_mode = cc.bias;
    epi.c_f32 = cc.c_f32;
    ie::cuda::gemm(dt, cc.tA, cc.tB, cc.M, cc.N, cc.K, cc.alpha, tA.raw(), lda, sA, tB.raw(), ldb, sB, cc.beta,
                   tC.raw(), ldc, sC, cc.batch, kGpu.index, epi);
  });
  std::vector<float> outC = download(tC);
  std::vector<float> out;
  bool pad_ok = true;
  const float sentinel = round_to(kSentinel, ct);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < c.N; ++j) out.push_back(outC[size_t(b * sC + i * ldc + j)]);
      for (int64_t j = c.N; j < ldc; ++j) pad_ok &= outC[size_t(b * sC + i * ldc + j)] == sentinel;
    }
  char what[256];
  std::snprintf(what, sizeof what, "cuda::gemm %s%s tA=%d tB=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld batch=%lld bias=%d",
                ie::dtype_name(dt), c.c_f32 ? "->float32" : "", int(c.tA), int(c.tB), (long long)c.M, (long long)c.N,
                (long long)c.K, double(c.alpha), double(c.beta), (long long)c.pad, (long long)c.batch, int(c.bias));
  IE_EXPECT_REL(iet::rel_error(out, ref), tol(dt), what);
  IE_EXPECT(pad_ok, std::string("C outside the M x N window untouched: ") + what);
}

// ---- matmul reference ---------------------------------------------------------------------------

struct MM {
  bool ta, tb;
  int64_t batch, M, N, K;
  bool a_b, b_b;  // a / b batched (3-D)
};

std::string describe(const MM& m, DType dt) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s ta=%d tb=%d batch=%lld M=%lld N=%lld K=%lld a%s b%s", ie::dtype_name(dt),
                int(m.ta), int(m.tb), (long long)m.batch, (long long)m.M, (long long)m.N, (long long)m.K,
                m.a_b ? "[batched]" : "[shared]", m.b_b ? "[batched]" : "[shared]");
  return buf;
}

void run_matmul_case(const MM& m, DType dt, uint64_t seed) {
  const std::string what = describe(m, dt);
  const Shape a2 = m.ta ? Shape{m.K, m.M} : Shape{m.M, m.K}, b2 = m.tb ? Shape{m.N, m.K} : Shape{m.K, m.N};
  Shape as = a2, bs = b2;
  if (m.a_b) as.insert(as.begin(), m.batch);
  if (m.b_b) bs.insert(bs.begin(), m.batch);
  const bool out3 = m.a_b || m.b_b;
  const Shape ys = out3 ? Shape{m.batch, m.M, m.N} : Shape{m.M, m.N};
  std::vector<float> a = iet::randn(size_t(ie::shape_numel(as)), seed), b = iet::randn(size_t(ie::shape_numel(bs)), seed + 1);
  std::vector<float> g = iet::randn(size_t(ie::shape_numel(ys)), seed + 2);
  const std::vector<double> ad = rounded(a, dt), bd = rounded(b, dt), gd = rounded(g, dt);
  const int64_t MK = m.M * m.K, KN = m.K * m.N, MN = m.M * m.N;
  auto ia = [&](int64_t i, int64_t r, int64_t k) {  // index of op(A)_i[r, k]
    return size_t((m.a_b ? i * MK : 0) + (m.ta ? k * m.M + r : r * m.K + k));
  };
  auto ib = [&](int64_t i, int64_t k, int64_t n) {  // index of op(B)_i[k, n]
    return size_t((m.b_b ? i * KN : 0) + (m.tb ? n * m.K + k : k * m.N + n));
  };
  std::vector<double> y(size_t(ie::shape_numel(ys)), 0.0), da(a.size(), 0.0), db(b.size(), 0.0);
  for (int64_t i = 0; i < m.batch; ++i)
    for (int64_t r = 0; r < m.M; ++r)
      for (int64_t n = 0; n < m.N; ++n) {
        const size_t yi = size_t((out3 ? i * MN : 0) + r * m.N + n);
        double s = 0;
        for (int64_t k = 0; k < m.K; ++k) {
          s += ad[ia(i, r, k)] * bd[ib(i, k, n)];
          da[ia(i, r, k)] += gd[yi] * bd[ib(i, k, n)];
          db[ib(i, k, n)] += ad[ia(i, r, k)] * gd[yi];
        }
        y[yi] = s;
      }
  Tensor ta = upload(a, as, dt), tb = upload(b, bs, dt), tg = upload(g, ys, dt);
  poison_next(ys, dt);
  Tensor ty = ie::ops::matmul(ta, tb, m.ta, m.tb);
  IE_EXPECT(ty.dtype() == dt && ty.shape() == ys, "matmul output " + ty.desc() + " " + what);
  IE_EXPECT_REL(iet::rel_error(download(ty), y), tol(dt), "matmul " + what);
  ie::ops::MatmulGrads gr = ie::ops::matmul_backward(ta, tb, tg, m.ta, m.tb);
  IE_EXPECT_REL(iet::rel_error(download(gr.da), da), tol(dt), "matmulBackward da " + what);
  IE_EXPECT_REL(iet::rel_error(download(gr.db), db), tol(dt), "matmulBackward db " + what);
}

// ---- linear reference ---------------------------------------------------------------------------

void run_linear_case(const Shape& xs, int64_t N, DType dt, uint64_t seed) {
  const int64_t K = xs.back(), M = ie::shape_numel(xs) / (K > 0 ? K : 1);
  Shape ys = xs;
  ys.back() = N;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s x%s N=%lld (M=%lld K=%lld)", ie::dtype_name(dt), shape_s(xs).c_str(), (long long)N,
                (long long)M, (long long)K);
  const std::string what = buf;
  std::vector<float> x = iet::randn(size_t(M * K), seed), w = iet::randn(size_t(N * K), seed + 1, 0.3f);
  std::vector<float> b = iet::randn(size_t(N), seed + 2), dy = iet::randn(size_t(M * N), seed + 3);
  const std::vector<double> xd = rounded(x, dt), wd = rounded(w, dt), bd = rounded(b, dt), dyd = rounded(dy, dt);
  std::vector<double> y0(size_t(M * N), 0.0), dx(size_t(M * K), 0.0), dw(size_t(N * K), 0.0), db(size_t(N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const double g = dyd[size_t(m * N + n)];
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        s += xd[size_t(m * K + k)] * wd[size_t(n * K + k)];
        dx[size_t(m * K + k)] += g * wd[size_t(n * K + k)];
        dw[size_t(n * K + k)] += g * xd[size_t(m * K + k)];
      }
      y0[size_t(m * N + n)] = s;
      db[size_t(n)] += g;
    }
  Tensor tx = upload(x, xs, dt), tw = upload(w, {N, K}, dt), tb = upload(b, {N}, dt), tdy = upload(dy, ys, dt);
  for (bool bias : {true, false}) {
    std::vector<double> y(y0);
    if (bias)
      for (size_t i = 0; i < y.size(); ++i) y[i] += bd[i % size_t(N)];
    poison_next(ys, dt);
    Tensor ty = ie::ops::linear(tx, tw, bias ? &tb : nullptr);
    IE_EXPECT(ty.dtype() == dt && ty.shape() == ys, "linear output " + ty.desc() + " " + what);
    IE_EXPECT_REL(iet::rel_error(download(ty), y), tol(dt), std::string("linear ") + (bias ? "bias " : "") + what);
  }
  // New gradient tensors.
  for (bool has_bias : {true, false}) {
    poison_next(xs, dt);
    ie::ops::LinearGrads g = ie::ops::linear_backward(tx, tw, tdy, has_bias);
    IE_EXPECT_REL(iet::rel_error(download(g.dx), dx), tol(dt), "linearBackward dx " + what);
    IE_EXPECT_REL(iet::rel_error(download(g.dw), dw), tol(dt), "linearBackward dw " + what);
    if (has_bias) IE_EXPECT_REL(iet::rel_error(download(g.db), db), tol(dt), "linearBackward db " + what);
    IE_EXPECT(has_bias == g.db.defined(), "linearBackward db defined iff has_bias " + what);
  }
  // GradInto: NaN destinations overwritten (beta = 0 must not read them), random ones added to.
  for (bool accumulate : {false, true}) {
    std::vector<float> dw0 = accumulate ? iet::randn(size_t(N * K), seed + 5) : iet::poisoned(size_t(N * K));
    std::vector<float> db0 = accumulate ? iet::randn(size_t(N), seed + 6) : iet::poisoned(size_t(N));
    std::vector<double> dw_want(dw), db_want(db);
    if (accumulate) {
      // destinations are float32 (parameter gradients are float32 on the GPU): no rounding
      const std::vector<double> dw0d = iet::to_double(dw0), db0d = iet::to_double(db0);
      for (size_t i = 0; i < dw_want.size(); ++i) dw_want[i] += dw0d[i];
      for (size_t i = 0; i < db_want.size(); ++i) db_want[i] += db0d[i];
    }
    ie::ops::GradInto into{upload(dw0, {N, K}, DType::F32), upload(db0, {N}, DType::F32), accumulate};
    ie::ops::LinearGrads g = ie::ops::linear_backward(tx, tw, tdy, true, &into);
    const std::string acc = accumulate ? "accumulate " : "overwrite ";
    IE_EXPECT(g.dw.raw() == into.dw.raw() && g.db.raw() == into.db.raw(), "GradInto tensors returned " + what);
    IE_EXPECT_REL(iet::rel_error(download(into.dw), dw_want), tol(dt), "linearBackward GradInto dw " + acc + what);
    IE_EXPECT_REL(iet::rel_error(download(into.db), db_want), tol(dt), "linearBackward GradInto db " + acc + what);
  }
}

// ---- conv2d reference (from test_conv2d.cc) -----------------------------------------------------

using ie::cpu::Conv2dShape;

Conv2dShape make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t sh, int64_t sw,
                 int64_t ph, int64_t pw) {
  Conv2dShape s{N, C, H, W, K, R, S, sh, sw, ph, pw, 0, 0};
  s.P = (H + 2 * ph - R) / sh + 1;
  s.Q = (W + 2 * pw - S) / sw + 1;
  return s;
}

// Calls f(x_index, w_index, y_index) for every tap that reads inside x.
template <typename F>
void each_tap(const Conv2dShape& s, F&& f) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q)
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t r = 0; r < s.R; ++r) {
              int64_t h = p * s.stride_h - s.pad_h + r;
              if (h < 0 || h >= s.H) continue;
              for (int64_t si = 0; si < s.S; ++si) {
                int64_t w = q * s.stride_w - s.pad_w + si;
                if (w < 0 || w >= s.W) continue;
                f(size_t(((n * s.C + c) * s.H + h) * s.W + w), size_t(((k * s.C + c) * s.R + r) * s.S + si),
                  size_t(((n * s.K + k) * s.P + p) * s.Q + q));
              }
            }
}

std::string describe(const Conv2dShape& s, DType dt) {
  char buf[220];
  std::snprintf(buf, sizeof buf, "%s N=%lld C=%lld H=%lld W=%lld K=%lld R=%lld S=%lld stride=%lld,%lld pad=%lld,%lld",
                ie::dtype_name(dt), (long long)s.N, (long long)s.C, (long long)s.H, (long long)s.W, (long long)s.K,
                (long long)s.R, (long long)s.S, (long long)s.stride_h, (long long)s.stride_w, (long long)s.pad_h,
                (long long)s.pad_w);
  return buf;
}

void run_conv_case(const Conv2dShape& s, DType dt, uint64_t seed, const std::string& note = "") {
  const std::string what = describe(s, dt) + note;
  const Shape xs{s.N, s.C, s.H, s.W}, ws{s.K, s.C, s.R, s.S}, ys{s.N, s.K, s.P, s.Q};
  const size_t nx = size_t(ie::shape_numel(xs)), nw = size_t(ie::shape_numel(ws)), ny = size_t(ie::shape_numel(ys));
  std::vector<float> x = iet::randn(nx, seed), w = iet::randn(nw, seed + 1, 0.3f), b = iet::randn(size_t(s.K), seed + 2);
  std::vector<float> dy = iet::randn(ny, seed + 3);
  const std::vector<double> xd = rounded(x, dt), wd = rounded(w, dt), bd = rounded(b, dt), dyd = rounded(dy, dt);
  std::vector<double> y0(ny, 0.0), dx(nx, 0.0), dw(nw, 0.0), db(size_t(s.K), 0.0);
  each_tap(s, [&](size_t xi, size_t wi, size_t yi) {
    y0[yi] += xd[xi] * wd[wi];
    dx[xi] += dyd[yi] * wd[wi];
    dw[wi] += dyd[yi] * xd[xi];
  });
  for (size_t i = 0; i < ny; ++i) db[i / size_t(s.P * s.Q) % size_t(s.K)] += dyd[i];

  Tensor tx = upload(x, xs, dt), tw = upload(w, ws, dt), tb = upload(b, {s.K}, dt), tdy = upload(dy, ys, dt);
  ie::ops::Conv2dParams p;
  p.stride_h = s.stride_h;
  p.stride_w = s.stride_w;
  p.pad_h = s.pad_h;
  p.pad_w = s.pad_w;
  for (bool bias : {true, false}) {
    std::vector<double> y(y0);
    if (bias)
      for (size_t i = 0; i < ny; ++i) y[i] += bd[i / size_t(s.P * s.Q) % size_t(s.K)];
    poison_next(ys, dt);
    Tensor ty = ie::ops::conv2d(tx, tw, bias ? &tb : nullptr, p);
    IE_EXPECT(ty.dtype() == dt && ty.shape() == ys, "conv2d output " + ty.desc() + " " + what);
    IE_EXPECT_REL(iet::rel_error(download(ty), y), tol(dt), std::string("conv2d ") + (bias ? "bias " : "") + what);
  }
  for (bool has_bias : {true, false}) {
    poison_next(xs, dt);
    ie::ops::Conv2dGrads g = ie::ops::conv2d_backward(tdy, tx, tw, has_bias, p);
    IE_EXPECT_REL(iet::rel_error(download(g.dx), dx), tol(dt), "conv2dBackward dx " + what);
    IE_EXPECT_REL(iet::rel_error(download(g.dw), dw), tol(dt), "conv2dBackward dw " + what);
    if (has_bias) IE_EXPECT_REL(iet::rel_error(download(g.db), db), tol(dt), "conv2dBackward db " + what);
  }
  for (bool accumulate : {false, true}) {
    std::vector<float> dw0 = accumulate ? iet::randn(nw, seed + 5) : iet::poisoned(nw);
    std::vector<float> db0 = accumulate ? iet::randn(size_t(s.K), seed + 6) : iet::poisoned(size_t(s.K));
    std::vector<double> dw_want(dw), db_want(db);
    if (accumulate) {
      // destinations are float32 (parameter gradients are float32 on the GPU): no rounding
      const std::vector<double> dw0d = iet::to_double(dw0), db0d = iet::to_double(db0);
      for (size_t i = 0; i < nw; ++i) dw_want[i] += dw0d[i];
      for (size_t i = 0; i < db_want.size(); ++i) db_want[i] += db0d[i];
    }
    ie::ops::GradInto into{upload(dw0, ws, DType::F32), upload(db0, {s.K}, DType::F32), accumulate};
    ie::ops::conv2d_backward(tdy, tx, tw, true, p, &into);
    const std::string acc = accumulate ? "accumulate " : "overwrite ";
    IE_EXPECT_REL(iet::rel_error(download(into.dw), dw_want), tol(dt), "conv2dBackward GradInto dw " + acc + what);
    IE_EXPECT_REL(iet::rel_error(download(into.db), db_want), tol(dt), "conv2dBackward GradInto db " + acc + what);
  }
}

}  // namespace

IE_TEST(cuda_gemm, gemm_direct) {
  if (!iet::cuda_device_or_skip()) return;
  using ie::cuda::GemmBias;
  std::vector<GemmCase> cases;
  for (bool tA : {false, true})
    for (bool tB : {false, true}) {
      cases.push_back({tA, tB, 1, 1, 1, 1.f, 0.f});
      cases.push_back({tA, tB, 7, 33, 13, 1.f, 0.f});
      cases.push_back({tA, tB, 130, 65, 257, 0.5f, 0.f, 3});           // padded leading dims
      cases.push_back({tA, tB, 33, 130, 40, 1.f, 1.f});                // accumulate into C
      cases.push_back({tA, tB, 128, 128, 64, 2.f, -0.5f, 8});          // whole tiles, aligned rows
      cases.push_back({tA, tB, 65, 7, 9, 1.f, 0.f, 1, 3, 5});          // strided batch
      cases.push_back({tA, tB, 20, 300, 33, 1.f, 1.f, 0, 2, 0, GemmBias::PerColumn});
      cases.push_back({tA, tB, 140, 17, 5, 1.f, 0.f, 2, 1, 0, GemmBias::PerRow});
    }
  cases.push_back({false, false, 9, 11, 0, 1.f, 0.f});                 // K == 0: C = 0
  cases.push_back({false, true, 9, 11, 0, 1.f, 0.5f, 0, 1, 0, GemmBias::PerColumn});  // K == 0: 0.5 C + bias
  // Enough 128×128 tiles (>= the SM count, 132 on H100/H200) for the float32 128×128 kernel; the
  // smaller cases above take its 64×64 variant.
  cases.push_back({false, false, 300, 520, 33, 1.f, 0.f, 0, 10});      // 15 tiles × 10 matrices
  cases.push_back({true, true, 1100, 2000, 9, 1.f, 1.f, 1});           // 144 tiles, transposed, padded
  cases.push_back({true, false, 1100, 2000, 9, 1.f, 0.f, 0, 1, 0, GemmBias::PerRow});
  cases.push_back({false, true, 1100, 2000, 9, 1.f, 0.f, 0, 1, 0, GemmBias::PerColumn});
  uint64_t seed = 1000;
  for (DType dt : kDtypes)
    for (const GemmCase& c : cases) run_gemm_case(c, dt, seed += 10);
  // float32 C from float16/bfloat16 operands (conv2d's backward column buffer).
  for (DType dt : {DType::F16, DType::BF16})
    for (bool tA : {false, true}) {
      GemmCase c{tA, false, 77, 45, 130, 1.f, 0.f};
      c.c_f32 = true;
      run_gemm_case(c, dt, seed += 10);
      c.beta = 1.f;
      c.batch = 2;
      run_gemm_case(c, dt, seed += 10);
    }
}

IE_TEST(cuda_gemm, matmul_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 33, 13}, {130, 65, 257}, {33, 130, 7}, {16, 16, 16}};
  struct B {
    int64_t batch;
    bool a_b, b_b;
  };
  const B batches[] = {{1, false, false}, {3, true, true}, {2, true, false}, {3, false, true}};
  uint64_t seed = 2000;
  for (DType dt : kDtypes)
    for (const auto& sz : sizes)
      for (const B& bt : batches)
        for (bool ta : {false, true})
          for (bool tb : {false, true})
            run_matmul_case({ta, tb, bt.batch, sz[0], sz[1], sz[2], bt.a_b, bt.b_b}, dt, seed += 10);
}

IE_TEST(cuda_gemm, linear_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  const std::pair<Shape, int64_t> cases[] = {
      {{1, 1}, 1}, {{7, 13}, 33}, {{130, 257}, 65}, {{300, 64}, 3}, {{64, 128}, 128}, {{2, 5, 40}, 130}, {{1, 320}, 1280},
  };
  uint64_t seed = 3000;
  for (DType dt : kDtypes)
    for (const auto& c : cases) run_linear_case(c.first, c.second, dt, seed += 10);
}

IE_TEST(cuda_gemm, linear_empty_batch) {
  if (!iet::cuda_device_or_skip()) return;
  // M == 0: y is empty; dw and db are zero (K == 0 GEMM / empty column sums) or unchanged.
  for (DType dt : kDtypes) {
    const std::string what = std::string(ie::dtype_name(dt)) + " x[0, 5], w[3, 5]";
    Tensor x = ie::ops::zeros({0, 5}, dt, kGpu), dy = ie::ops::zeros({0, 3}, dt, kGpu);
    Tensor w = upload(iet::randn(15, 7), {3, 5}, dt), b = upload(iet::randn(3, 8), {3}, dt);
    Tensor y = ie::ops::linear(x, w, &b);
    IE_EXPECT(y.shape() == Shape({0, 3}), "linear output shape " + what);
    ie::ops::GradInto into{upload(iet::poisoned(15), {3, 5}, DType::F32), upload(iet::poisoned(3), {3}, DType::F32), false};
    ie::ops::linear_backward(x, w, dy, true, &into);
    std::vector<double> z15(15, 0.0), z3(3, 0.0);
    IE_EXPECT_REL(iet::rel_error(download(into.dw), z15), 1e-30, "linearBackward dw = 0 " + what);
    IE_EXPECT_REL(iet::rel_error(download(into.db), z3), 1e-30, "linearBackward db = 0 " + what);
    std::vector<float> dw0 = iet::randn(15, 9);
    ie::ops::GradInto acc{upload(dw0, {3, 5}, DType::F32), upload(iet::randn(3, 10), {3}, DType::F32), true};
    ie::ops::linear_backward(x, w, dy, true, &acc);
    IE_EXPECT_REL(iet::rel_error(download(acc.dw), iet::to_double(dw0)), 1e-30, "linearBackward accumulate keeps dw " + what);
  }
}

IE_TEST(cuda_gemm, conv2d_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  const Conv2dShape shapes[] = {
      make(2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1),     // 3x3 same, non-square image
      make(1, 4, 8, 6, 3, 3, 3, 2, 2, 1, 1),     // 3x3 stride 2 pad 1 (UNet downsample)
      make(2, 5, 9, 7, 17, 3, 3, 2, 2, 0, 0),    // 3x3 stride 2 pad 0 (VAE downsample)
      make(3, 17, 5, 6, 19, 1, 1, 1, 1, 0, 0),   // 1x1: plain GEMM path
      make(2, 130, 3, 5, 7, 1, 1, 1, 1, 0, 0),   // 1x1 with a K-dim over one tile
      make(2, 6, 7, 5, 4, 1, 1, 2, 2, 0, 0),     // 1x1 stride 2 (im2col path)
      make(1, 3, 6, 7, 2, 1, 1, 1, 1, 1, 1),     // 1x1 padded
      make(2, 3, 5, 8, 4, 2, 3, 1, 2, 0, 1),     // non-square kernel, mixed strides
      make(1, 20, 12, 10, 33, 3, 3, 1, 1, 1, 1),
      make(2, 33, 9, 11, 130, 3, 3, 1, 1, 1, 1), // GEMM rows and K-dim over one tile
      make(2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),     // smallest
      make(1, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2),     // padding wider than needed
      make(2, 8, 16, 16, 16, 3, 3, 1, 1, 1, 1),  // aligned rows (16-byte vector loads)
  };
  uint64_t seed = 4000;
  for (DType dt : kDtypes)
    for (const auto& s : shapes) run_conv_case(s, dt, seed += 10);
}

// A tiny scratch budget forces the paths big shapes take: chunks of whole images with a smaller
// last chunk, and bands of output rows of one image (dx accumulated band by band).
IE_TEST(cuda_gemm, conv2d_chunks_and_bands) {
  if (!iet::cuda_device_or_skip()) return;
  uint64_t seed = 5000;
  for (DType dt : kDtypes) {
    // CRS = 36, PQ = 225: 64 KiB of float32 columns hold 2 images (chunks 2 + 1); float16 holds 3.
    ie::cuda::conv2d_set_scratch_budget(64 << 10);
    run_conv_case(make(3, 4, 15, 15, 6, 3, 3, 1, 1, 1, 1), dt, seed += 10, " (budget 64 KiB: chunks of images)");
    // 8 KiB: bands of a few output rows of one image.
    ie::cuda::conv2d_set_scratch_budget(8 << 10);
    run_conv_case(make(2, 4, 15, 13, 6, 3, 3, 1, 1, 1, 1), dt, seed += 10, " (budget 8 KiB: row bands)");
    // 2 KiB: bands of 3 (float32) or 6 (float16) output rows at stride 2.
    ie::cuda::conv2d_set_scratch_budget(2 << 10);
    run_conv_case(make(2, 3, 17, 11, 5, 3, 3, 2, 2, 1, 1), dt, seed += 10, " (budget 2 KiB: row bands, stride 2)");
    // 600 B: one-row bands of a 5x5 kernel at strides 3, 2 (bands' input rows overlap).
    ie::cuda::conv2d_set_scratch_budget(600);
    run_conv_case(make(2, 3, 9, 9, 2, 5, 5, 3, 2, 2, 1), dt, seed += 10, " (budget 600 B: bands, 5x5 stride 3,2)");
    // 1 byte: one output row per band.
    ie::cuda::conv2d_set_scratch_budget(1);
    run_conv_case(make(1, 2, 9, 7, 3, 3, 2, 1, 1, 1, 0), dt, seed += 10, " (budget 1 B: one row per band)");
    ie::stream_for(kGpu).sync();
    ie::cuda::conv2d_set_scratch_budget(0);
  }
}

IE_TEST(cuda_gemm, validation) {
  if (!iet::cuda_device_or_skip()) return;
  Tensor x = upload(iet::randn(6, 1), {2, 3}, DType::F16), w = upload(iet::randn(12, 2), {4, 3}, DType::F32);
  IE_EXPECT(iet::throws_with([&] { ie::ops::linear(x, w, nullptr); }, "linear: weight is float32 but the other inputs are float16"),
            "linear with mixed dtypes must name the mismatch");
  Tensor w16 = upload(iet::randn(12, 2), {4, 3}, DType::F16), dy16 = upload(iet::randn(8, 3), {2, 4}, DType::F16);
  ie::ops::GradInto into{upload(iet::randn(12, 4), {4, 3}, DType::F16), Tensor(), false};
  IE_EXPECT(iet::throws_with([&] { ie::ops::linear_backward(x, w16, dy16, false, &into); },
                             "weight gradient destination must be float32"),
            "a float16 GradInto must be refused (parameter gradients are float32)");
  ie::ops::LinearGrads lg = ie::ops::linear_backward(x, w16, dy16, false);
  IE_EXPECT(lg.dx.dtype() == DType::F16 && lg.dw.dtype() == DType::F32,
            "float16 linear backward: dx float16, dw float32, got " + lg.dx.desc() + ", " + lg.dw.desc());
  Tensor xi = ie::ops::zeros({2, 3}, DType::I32, kGpu);
  IE_EXPECT(iet::throws_with([&] { ie::ops::matmul(xi, xi, false, true); }, "must be float32, float16 or bfloat16"),
            "int32 matmul on cuda must be refused");
}

#else
IE_TEST(cuda_gemm, built_without_cuda) { iet::cuda_device_or_skip(); }
#endif
