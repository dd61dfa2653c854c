// sgemm / sgemm_batched against a float64 reference: all transposes, odd sizes, padded leading
// dimensions, alpha/beta (beta 0 must not read C), K == 0, batches and several thread counts.
#include <cmath>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/gemm.h"

namespace {

struct Case {
  bool tA, tB;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad = 0;  // extra columns on every leading dimension
  int64_t batch = 1, stride_pad = 0;
};

constexpr float kSentinel = 12345.f;  // in C's padding: must survive untouched

void run_case(const Case& c, uint64_t seed) {
  const int64_t lda = (c.tA ? c.M : c.K) + c.pad, ldb = (c.tB ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
  const int64_t rowsA = c.tA ? c.K : c.M, rowsB = c.tB ? c.N : c.K;
  const int64_t sA = rowsA * lda + c.stride_pad, sB = rowsB * ldb + c.stride_pad, sC = c.M * ldc + c.stride_pad;
  std::vector<float> A = iet::randn(size_t(sA * c.batch + 1), seed);
  std::vector<float> B = iet::randn(size_t(sB * c.batch + 1), seed + 1);
  std::vector<float> C = c.beta == 0.f ? iet::poisoned(size_t(sC * c.batch + 1)) : iet::randn(size_t(sC * c.batch + 1), seed + 2);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = c.N; j < ldc; ++j) C[size_t(b * sC + i * ldc + j)] = kSentinel;
  const std::vector<double> ref =
      iet::ref::gemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A, lda, sA, B, ldb, sB, c.beta, C, ldc, sC, c.batch);
  std::vector<float> out_c = C;
  if (c.batch == 1 && c.stride_pad == 0)
    ie::cpu::sgemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, out_c.data(), ldc);
  else
    ie::cpu::sgemm_batched(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A.data(), lda, sA, B.data(), ldb, sB, c.beta,
                           out_c.data(), ldc, sC, c.batch);
  std::vector<float> out;
  bool pad_ok = true;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < c.N; ++j) out.push_back(out_c[size_t(b * sC + i * ldc + j)]);
      for (int64_t j = c.N; j < ldc; ++j) pad_ok &= out_c[size_t(b * sC + i * ldc + j)] == kSentinel;
    }
  char what[200];
  std::snprintf(what, sizeof what, "tA=%d tB=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld batch=%lld threads=%d",
                int(c.tA), int(c.tB), (long long)c.M, (long long)c.N, (long long)c.K, double(c.alpha),
                double(c.beta), (long long)c.pad, (long long)c.batch, ie::num_threads());
  IE_EXPECT_REL(iet::rel_error(out, ref), 1e-5, what);
  IE_EXPECT(pad_ok, std::string("C outside the M x N window untouched: ") + what);
}

}  // namespace

IE_TEST(gemm, transposes_and_odd_sizes) {
  const int64_t sizes[][3] = {{1, 1, 1},   {7, 17, 33},   {33, 7, 100}, {17, 33, 7},   {100, 257, 17},
                              {257, 100, 33}, {1, 257, 100}, {257, 1, 100}, {15, 31, 257}, {29, 65, 300}};
  uint64_t seed = 100;
  iet::for_each_cpu_path([&] {
    for (int t = 0; t < 4; ++t)
      for (auto& s : sizes) run_case({bool(t & 1), bool(t & 2), s[0], s[1], s[2], 1.f, 0.f}, seed += 3);
  });
}

IE_TEST(gemm, alpha_beta_and_leading_dims) {
  uint64_t seed = 500;
  iet::for_each_cpu_path([&] {
    for (int t = 0; t < 4; ++t) {
      run_case({bool(t & 1), bool(t & 2), 37, 45, 51, -0.5f, 1.f, 5}, seed += 3);   // accumulate
      run_case({bool(t & 1), bool(t & 2), 37, 45, 51, 2.f, 0.25f, 3}, seed += 3);   // general beta
      run_case({bool(t & 1), bool(t & 2), 64, 96, 40, 1.5f, 0.f, 19}, seed += 3);   // NaN C, beta 0
      run_case({bool(t & 1), bool(t & 2), 20, 33, 10, 0.f, 0.5f, 2}, seed += 3);    // alpha 0: C = beta C
    }
  });
}

IE_TEST(gemm, k_zero_and_empty) {
  uint64_t seed = 900;
  iet::for_each_cpu_path([&] {
    run_case({false, false, 13, 21, 0, 1.f, 0.f, 2}, seed += 3);  // C = 0 even though it held NaN
    run_case({true, true, 13, 21, 0, 1.f, 0.75f, 2}, seed += 3);  // C = beta C
    run_case({false, true, 0, 21, 5, 1.f, 0.f}, seed += 3);
    run_case({false, true, 13, 0, 5, 1.f, 0.f}, seed += 3);
  });
}

// Sizes that cross every cache block (KC, MC, NC) of every path.
IE_TEST(gemm, multi_block) {
  uint64_t seed = 1200;
  iet::for_each_cpu_path([&] {
    run_case({false, true, 20, 2100, 600, 1.f, 0.5f, 1}, seed += 3);
    run_case({true, false, 350, 70, 530, 1.f, 0.f}, seed += 3);
  });
}

IE_TEST(gemm, thread_counts) {
  uint64_t seed = 1500;
  for (int threads : {1, 2, 3}) {
    ie::set_num_threads(threads);
    iet::for_each_cpu_path([&] {
      for (int t = 0; t < 4; ++t) run_case({bool(t & 1), bool(t & 2), 150, 130, 70, 1.f, 0.f, 1}, seed += 3);
      run_case({false, false, 3, 700, 60, 1.f, 1.f}, seed += 3);    // few rows: split columns
      run_case({false, true, 700, 5, 60, 1.f, 0.f}, seed += 3);     // few columns: split rows
    });
  }
  ie::set_num_threads(0);
}

IE_TEST(gemm, batched_with_strides) {
  uint64_t seed = 1800;
  for (int threads : {1, 2, 3}) {
    ie::set_num_threads(threads);
    iet::for_each_cpu_path([&] {
      for (int t = 0; t < 4; ++t) {
        run_case({bool(t & 1), bool(t & 2), 19, 23, 29, 1.f, 0.f, 2, 5, 7}, seed += 3);
        run_case({bool(t & 1), bool(t & 2), 70, 40, 33, 0.5f, 1.f, 0, 3, 1}, seed += 3);
      }
      run_case({false, true, 65, 77, 40, 1.f, 0.f, 0, 2, 0}, seed += 3);
      run_case({false, false, 5, 9, 0, 1.f, 0.f, 1, 4, 3}, seed += 3);  // K == 0 batched
    });
  }
  ie::set_num_threads(0);
}
