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
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "harness.h"

#if defined(IE_WITH_CUDA)  // calls the kernels' entry points directly
#include "cuda/conv2d.h"
#include "cuda/cublas_loader.h"
#include "cuda/gemm.h"
#include "cuda_helpers.h"
#include "gemm_case.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"
#include "reference/conv2d.h"
#include "reference/gemm.h"

using namespace iet::gpu;

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;

std::string shape_s(const Shape& s) { return ie::shape_str(s); }

// ---- cuda::gemm directly ------------------------------------------------------------------------

// One case through cuda::gemm with the kernel the environment selects (gemm_case.h).
void run_gemm_case(const GemmCase& c, DType dt, uint64_t seed) {
  const char* kern = std::getenv("INSTRUCTEDIT_GEMM_KERNEL");
  const Prepared p = prepare(c, dt, seed);
  Buffers b = buffers(p);
  enqueue_gemm(p, b);
  check_c(p, b.C, describe(c, dt, std::string("kernel=") + (kern && *kern ? kern : "default")));
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
  const std::vector<double> ad = rounded_f64(a, dt), bd = rounded_f64(b, dt), gd = rounded_f64(g, dt);
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
  const std::vector<double> xd = rounded_f64(x, dt), wd = rounded_f64(w, dt), bd = rounded_f64(b, dt), dyd = rounded_f64(dy, dt);
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

// ---- conv2d (float64 reference: reference/conv2d.h) ----------------------------------------------

using ie::cpu::Conv2dShape;
using iet::ref::conv_shape;

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
  const std::vector<double> xd = rounded_f64(x, dt), wd = rounded_f64(w, dt), bd = rounded_f64(b, dt), dyd = rounded_f64(dy, dt);
  const std::vector<double> y0 = iet::ref::conv2d_forward(s, xd.data(), wd.data(), nullptr);
  std::vector<double> dx, dw, db;
  iet::ref::conv2d_backward(s, xd, wd, dyd, dx, dw, db);

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
  std::vector<GemmCase> cases = base_gemm_cases();
  cases.push_back({false, false, 9, 11, 0, 1.f, 0.f});                 // K == 0: C = 0
  cases.push_back({false, true, 9, 11, 0, 1.f, 0.5f, 0, 1, 0, GemmBias::PerColumn});  // K == 0: 0.5 C + bias
  // Enough 128×128 tiles (>= the SM count, 132 on H100/H200) for the float32 128×128 kernel; the
  // smaller cases above take its 64×64 variant.
  cases.push_back({false, false, 300, 520, 33, 1.f, 0.f, 0, 10});      // 15 tiles × 10 matrices
  cases.push_back({true, true, 1100, 2000, 9, 1.f, 1.f, 1});           // 144 tiles, transposed, padded
  cases.push_back({true, false, 1100, 2000, 9, 1.f, 0.f, 0, 1, 0, GemmBias::PerRow});
  cases.push_back({false, true, 1100, 2000, 9, 1.f, 0.f, 0, 1, 0, GemmBias::PerColumn});
  uint64_t seed = 1000;
  for (DType dt : kFloatTypes)
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

// float16/bfloat16: both of our kernels on the same cases (cuBLAS off): the mma.sync kernel, taken
// when A/B are 16-byte aligned, lda/ldb/batch strides are multiples of 8 elements and K % 8 == 0
// (ld8 cases below with K % 8 == 0), else the WMMA kernel; and INSTRUCTEDIT_GEMM_KERNEL=wmma, which
// forces WMMA everywhere. Same float64 reference and tolerances as gemm_direct (1e-2 f16, 2e-2 bf16).
namespace {
class GemmKernelScope {
 public:
  explicit GemmKernelScope(const char* kernel) : backend_(ie::cuda::gemm_backend()) {
    ie::stream_for(kGpu).sync();
    const char* e = std::getenv(kVar);
    had_ = e != nullptr;
    if (had_) old_ = e;
    if (kernel) setenv(kVar, kernel, 1);
    else unsetenv(kVar);
    ie::cuda::set_gemm_backend(ie::cuda::GemmBackend::Ours);
  }
  ~GemmKernelScope() {
    try {
      ie::stream_for(kGpu).sync();
    } catch (...) {  // a fault is reported by the next sync of the test itself
    }
    if (had_) setenv(kVar, old_.c_str(), 1);
    else unsetenv(kVar);
    ie::cuda::set_gemm_backend(backend_);
  }
  GemmKernelScope(const GemmKernelScope&) = delete;
  GemmKernelScope& operator=(const GemmKernelScope&) = delete;

 private:
  static constexpr const char* kVar = "INSTRUCTEDIT_GEMM_KERNEL";
  ie::cuda::GemmBackend backend_;
  bool had_ = false;
  std::string old_;
};
}  // namespace

IE_TEST(cuda_gemm, gemm_half_kernels) {
  if (!iet::cuda_device_or_skip()) return;
  using ie::cuda::GemmBias;
  std::vector<GemmCase> cases;
  for (bool tA : {false, true})
    for (bool tB : {false, true}) {
      // fast path (ld8, K % 8 == 0): odd M/N tails inside a 16-byte chunk, K tails inside a 32 k tile
      GemmCase c{tA, tB, 37, 45, 72, 1.f, 0.f};
      c.ld8 = true;
      cases.push_back(c);
      c = GemmCase{tA, tB, 130, 131, 40, 0.5f, 1.f, 8, 3, 16, GemmBias::PerColumn};  // batch 3, strides % 8 == 0
      c.ld8 = true;
      cases.push_back(c);
      c = GemmCase{tA, tB, 257, 129, 136, 1.f, 0.f, 0, 1, 0, GemmBias::PerRow};
      c.ld8 = true;
      cases.push_back(c);
      c = GemmCase{tA, tB, 256, 256, 512, 1.f, 0.f};  // whole tiles, 16 k tiles through the 3 stages
      c.ld8 = true;
      cases.push_back(c);
      c = GemmCase{tA, tB, 9, 17, 8, 1.f, 1.f};  // K = 8: one partial k tile
      c.ld8 = true;
      c.c_f32 = true;
      cases.push_back(c);
      // not the fast path: K % 8 != 0, odd leading dims, odd batch strides
      cases.push_back({tA, tB, 7, 33, 13, 1.f, 0.f});
      cases.push_back({tA, tB, 65, 40, 64, 1.f, 1.f, 1});              // lda/ldb odd
      cases.push_back({tA, tB, 33, 24, 16, 1.f, 0.f, 0, 3, 3});        // batch strides % 8 != 0
    }
  {
    GemmCase c{false, true, 9, 11, 0, 1.f, 0.5f, 0, 1, 0, GemmBias::PerColumn};  // K == 0 (fast path)
    c.ld8 = true;
    cases.push_back(c);
  }
  {
    GemmCase c{false, false, 3, 5, 16, 1.f, 0.f, 0, 70000};  // batch > 65535: gridDim.y loop
    c.ld8 = true;
    cases.push_back(c);
  }
  for (const char* kernel : {static_cast<const char*>(nullptr), "wmma"}) {
    GemmKernelScope scope(kernel);
    uint64_t seed = 5000;
    for (DType dt : {DType::F16, DType::BF16})
      for (const GemmCase& c : cases) run_gemm_case(c, dt, seed += 10);
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
  for (DType dt : kFloatTypes)
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
  for (DType dt : kFloatTypes)
    for (const auto& c : cases) run_linear_case(c.first, c.second, dt, seed += 10);
}

IE_TEST(cuda_gemm, linear_empty_batch) {
  if (!iet::cuda_device_or_skip()) return;
  // M == 0: y is empty; dw and db are zero (K == 0 GEMM / empty column sums) or unchanged. And
  // in_features == 0 (the op once divided numel by it).
  for (DType dt : kFloatTypes) {
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
    // in_features == 0: y = bias (a K == 0 GEMM), dx and dw empty, db = column sums of dy.
    const std::string what0 = std::string(ie::dtype_name(dt)) + " x[2, 0], w[3, 0]";
    Tensor x0 = ie::ops::zeros({2, 0}, dt, kGpu), w0 = ie::ops::zeros({3, 0}, dt, kGpu);
    const std::vector<float> dyv = iet::randn(6, 12);
    Tensor y0 = ie::ops::linear(x0, w0, &b);
    std::vector<double> y0_want(6);
    const std::vector<double> bd = rounded_f64(iet::randn(3, 8), dt);
    for (size_t i = 0; i < 6; ++i) y0_want[i] = bd[i % 3];
    IE_EXPECT(y0.shape() == Shape({2, 3}), "linear output shape " + what0);
    IE_EXPECT_REL(iet::rel_error(download(y0), y0_want), 1e-30, "linear y = bias " + what0);
    ie::ops::LinearGrads g0 = ie::ops::linear_backward(x0, w0, upload(dyv, {2, 3}, dt), true);
    const std::vector<double> dyd = rounded_f64(dyv, dt);
    std::vector<double> db0_want{dyd[0] + dyd[3], dyd[1] + dyd[4], dyd[2] + dyd[5]};
    IE_EXPECT(g0.dx.shape() == Shape({2, 0}) && g0.dw.shape() == Shape({3, 0}), "linearBackward shapes " + what0);
    IE_EXPECT_REL(iet::rel_error(download(g0.db), db0_want), 1e-6, "linearBackward db " + what0);
  }
}

IE_TEST(cuda_gemm, conv2d_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  const Conv2dShape shapes[] = {
      conv_shape(2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1),     // 3x3 same, non-square image
      conv_shape(1, 4, 8, 6, 3, 3, 3, 2, 2, 1, 1),     // 3x3 stride 2 pad 1 (UNet downsample)
      conv_shape(2, 5, 9, 7, 17, 3, 3, 2, 2, 0, 0),    // 3x3 stride 2 pad 0 (VAE downsample)
      conv_shape(3, 17, 5, 6, 19, 1, 1, 1, 1, 0, 0),   // 1x1: plain GEMM path
      conv_shape(2, 130, 3, 5, 7, 1, 1, 1, 1, 0, 0),   // 1x1 with a K-dim over one tile
      conv_shape(2, 6, 7, 5, 4, 1, 1, 2, 2, 0, 0),     // 1x1 stride 2 (im2col path)
      conv_shape(1, 3, 6, 7, 2, 1, 1, 1, 1, 1, 1),     // 1x1 padded
      conv_shape(2, 3, 5, 8, 4, 2, 3, 1, 2, 0, 1),     // non-square kernel, mixed strides
      conv_shape(1, 20, 12, 10, 33, 3, 3, 1, 1, 1, 1),
      conv_shape(2, 33, 9, 11, 130, 3, 3, 1, 1, 1, 1), // GEMM rows and K-dim over one tile
      conv_shape(2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),     // smallest
      conv_shape(1, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2),     // padding wider than needed
      conv_shape(2, 8, 16, 16, 16, 3, 3, 1, 1, 1, 1),  // aligned rows (16-byte vector loads)
  };
  uint64_t seed = 4000;
  for (DType dt : kFloatTypes)
    for (const auto& s : shapes) run_conv_case(s, dt, seed += 10);
}

// A tiny scratch budget forces the paths big shapes take: chunks of whole images with a smaller
// last chunk, and bands of output rows of one image (dx accumulated band by band).
IE_TEST(cuda_gemm, conv2d_chunks_and_bands) {
  if (!iet::cuda_device_or_skip()) return;
  uint64_t seed = 5000;
  for (DType dt : kFloatTypes) {
    // CRS = 36, PQ = 225: 64 KiB of float32 columns hold 2 images (chunks 2 + 1); float16 holds 3.
    ie::cuda::conv2d_set_scratch_budget(64 << 10);
    run_conv_case(conv_shape(3, 4, 15, 15, 6, 3, 3, 1, 1, 1, 1), dt, seed += 10, " (budget 64 KiB: chunks of images)");
    // 8 KiB: bands of a few output rows of one image.
    ie::cuda::conv2d_set_scratch_budget(8 << 10);
    run_conv_case(conv_shape(2, 4, 15, 13, 6, 3, 3, 1, 1, 1, 1), dt, seed += 10, " (budget 8 KiB: row bands)");
    // 2 KiB: bands of 3 (float32) or 6 (float16) output rows at stride 2.
    ie::cuda::conv2d_set_scratch_budget(2 << 10);
    run_conv_case(conv_shape(2, 3, 17, 11, 5, 3, 3, 2, 2, 1, 1), dt, seed += 10, " (budget 2 KiB: row bands, stride 2)");
    // 600 B: one-row bands of a 5x5 kernel at strides 3, 2 (bands' input rows overlap).
    ie::cuda::conv2d_set_scratch_budget(600);
    run_conv_case(conv_shape(2, 3, 9, 9, 2, 5, 5, 3, 2, 2, 1), dt, seed += 10, " (budget 600 B: bands, 5x5 stride 3,2)");
    // 1 byte: one output row per band.
    ie::cuda::conv2d_set_scratch_budget(1);
    run_conv_case(conv_shape(1, 2, 9, 7, 3, 3, 2, 1, 1, 1, 0), dt, seed += 10, " (budget 1 B: one row per band)");
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
