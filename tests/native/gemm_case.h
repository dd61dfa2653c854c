// One cuda::gemm test case, shared by test_cuda_gemm.cc and test_cuda_gemm_backends.cc: the case
// (transposes, sizes, alpha/beta, padded leading dims, strided batches, bias, float32 C), its host
// data and float64 reference (inputs rounded to the dtype; C's padding filled with a sentinel), the
// launch on the device's stream, and the check of C (the M x N windows against the reference, the
// padding untouched). CUDA builds only (it calls ie::cuda::gemm).
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "cuda/gemm.h"
#include "cuda_helpers.h"
#include "harness.h"
#include "ie/stream.h"
#include "reference/gemm.h"

namespace iet::gpu {

struct GemmCase {
  bool tA, tB;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad = 0;  // extra columns on every leading dimension
  int64_t batch = 1, stride_pad = 0;
  ie::cuda::GemmBias bias = ie::cuda::GemmBias::None;
  bool c_f32 = false;
  bool ld8 = false;  // A's and B's leading dims rounded up to a multiple of 8 before + pad
};

// The cases both files run, per transpose pair: tiny, odd sizes, padded leading dims, accumulation
// into C, whole tiles, strided batches, each bias mode.
inline std::vector<GemmCase> base_gemm_cases() {
  using ie::cuda::GemmBias;
  std::vector<GemmCase> cs;
  for (bool tA : {false, true})
    for (bool tB : {false, true}) {
      cs.push_back({tA, tB, 1, 1, 1, 1.f, 0.f});
      cs.push_back({tA, tB, 7, 33, 13, 1.f, 0.f});
      cs.push_back({tA, tB, 130, 65, 257, 0.5f, 0.f, 3});           // padded leading dims
      cs.push_back({tA, tB, 33, 130, 40, 1.f, 1.f});                // accumulate into C
      cs.push_back({tA, tB, 128, 128, 64, 2.f, -0.5f, 8});          // whole tiles, aligned rows
      cs.push_back({tA, tB, 65, 7, 9, 1.f, 0.f, 1, 3, 5});          // strided batch
      cs.push_back({tA, tB, 20, 300, 33, 1.f, 1.f, 0, 2, 0, GemmBias::PerColumn});
      cs.push_back({tA, tB, 140, 17, 5, 1.f, 0.f, 2, 1, 0, GemmBias::PerRow});
    }
  return cs;
}

// "[tag] cuda::gemm float16 tA=... ": the case in failure messages; tag names the backend or kernel.
inline std::string describe(const GemmCase& c, ie::DType dt, const std::string& tag) {
  char what[320];
  std::snprintf(what, sizeof what,
                "[%s] cuda::gemm %s%s tA=%d tB=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld ld8=%d batch=%lld "
                "stride_pad=%lld bias=%d",
                tag.c_str(), ie::dtype_name(dt), c.c_f32 ? "->float32" : "", int(c.tA), int(c.tB), (long long)c.M,
                (long long)c.N, (long long)c.K, double(c.alpha), double(c.beta), (long long)c.pad, int(c.ld8),
                (long long)c.batch, (long long)c.stride_pad, int(c.bias));
  return what;
}

inline constexpr float kSentinel = 1234.f;  // in C's padding columns: must survive untouched

struct Prepared {
  GemmCase c;
  ie::DType dt, ct;
  int64_t lda, ldb, ldc, sA, sB, sC;
  std::vector<float> A, B, C, bias;
  std::vector<double> ref;  // the M x N windows of every batch item, in order
};

inline Prepared prepare(const GemmCase& c, ie::DType dt, uint64_t seed) {
  Prepared p;
  p.c = c;
  p.dt = dt;
  p.ct = c.c_f32 ? ie::DType::F32 : dt;
  auto up = [&](int64_t x) { return c.ld8 ? (x + 7) / 8 * 8 : x; };
  p.lda = up(c.tA ? c.M : c.K) + c.pad;
  p.ldb = up(c.tB ? c.K : c.N) + c.pad;
  p.ldc = c.N + c.pad;
  const int64_t rowsA = c.tA ? c.K : c.M, rowsB = c.tB ? c.N : c.K;
  p.sA = rowsA * p.lda + c.stride_pad;
  p.sB = rowsB * p.ldb + c.stride_pad;
  p.sC = c.M * p.ldc + c.stride_pad;
  p.A = iet::randn(size_t(p.sA * c.batch + 1), seed);
  p.B = iet::randn(size_t(p.sB * c.batch + 1), seed + 1);
  p.C = c.beta == 0.f ? iet::poisoned(size_t(p.sC * c.batch + 1)) : iet::randn(size_t(p.sC * c.batch + 1), seed + 2);
  const int64_t nbias = c.bias == ie::cuda::GemmBias::PerRow ? c.M : c.N;
  p.bias = iet::randn(size_t(nbias > 0 ? nbias : 1), seed + 3);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = c.N; j < p.ldc; ++j) p.C[size_t(b * p.sC + i * p.ldc + j)] = kSentinel;
  const std::vector<double> Ad = rounded_f64(p.A, dt), Bd = rounded_f64(p.B, dt), Cd = rounded_f64(p.C, p.ct),
                            bd = rounded_f64(p.bias, dt);
  p.ref = iet::ref::gemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, Ad, p.lda, p.sA, Bd, p.ldb, p.sB, c.beta, Cd, p.ldc, p.sC,
                         c.batch, c.bias == ie::cuda::GemmBias::PerColumn ? &bd : nullptr,
                         c.bias == ie::cuda::GemmBias::PerRow ? &bd : nullptr);
  return p;
}

// Device buffers of a prepared case (C fresh from the host data).
struct Buffers {
  ie::Tensor A, B, C, bias;
};
inline Buffers buffers(const Prepared& p) {
  return Buffers{upload1(p.A, p.dt), upload1(p.B, p.dt), upload1(p.C, p.ct), upload1(p.bias, p.dt)};
}

// Enqueues the GEMM of p on buffers b (on the device's ie::Stream thread, like the ops do).
inline void enqueue_gemm(const Prepared& p, const Buffers& b) {
  const Prepared* pp = &p;  // p outlives the call: every caller syncs (download) before returning
  Buffers bb = b;
  ie::stream_for(kGpu).enqueue([pp, bb] {
    const GemmCase& c = pp->c;
    ie::cuda::GemmEpilogue epi;
    epi.bias = c.bias == ie::cuda::GemmBias::None ? nullptr : bb.bias.raw();
    epi.bias_mode = c.bias;
    epi.c_f32 = c.c_f32;
    ie::cuda::gemm(pp->dt, c.tA, c.tB, c.M, c.N, c.K, c.alpha, bb.A.raw(), pp->lda, pp->sA, bb.B.raw(), pp->ldb,
                   pp->sB, c.beta, bb.C.raw(), pp->ldc, pp->sC, c.batch, kGpu.index, epi);
  });
}

// Reads C back and checks the M x N windows against the reference and the padding untouched.
inline void check_c(const Prepared& p, const ie::Tensor& C, const std::string& what) {
  const std::vector<float> outC = download(C);
  std::vector<float> out;
  bool pad_ok = true;
  const float sentinel = round_to(kSentinel, p.ct);
  for (int64_t b = 0; b < p.c.batch; ++b)
    for (int64_t i = 0; i < p.c.M; ++i) {
      for (int64_t j = 0; j < p.c.N; ++j) out.push_back(outC[size_t(b * p.sC + i * p.ldc + j)]);
      for (int64_t j = p.c.N; j < p.ldc; ++j) pad_ok &= outC[size_t(b * p.sC + i * p.ldc + j)] == sentinel;
    }
  IE_EXPECT_REL(iet::rel_error(out, p.ref), tol(p.dt), what);
  IE_EXPECT(pad_ok, std::string("C outside the M x N window untouched: ") + what);
}

}  // namespace iet::gpu
