// FMA peak probe: kChains independent accumulators hide the FMA latency (4 cycles x 2 pipes needs
// at least 8 in flight), so the loop runs at the FMA units' throughput.
#include "cpu/peak.h"

#include <immintrin.h>
#include <time.h>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int kChains = 16;

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

#if defined(__AVX512F__)
constexpr int kWidth = 16;
float chains(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));  // keep the loop
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}
#elif defined(__AVX2__)
constexpr int kWidth = 8;
float chains(int64_t iters) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains / 2; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  // 8 ymm chains (16 registers in all) cover 2 pipes x 4 cycles of latency.
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 8
    for (int i = 0; i < kChains / 2; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
#pragma GCC unroll 8
    for (int i = 0; i < kChains / 2; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
  }
  float out[8], s = 0;
  __m256 t = acc[0];
  for (int i = 1; i < kChains / 2; ++i) t = _mm256_add_ps(t, acc[i]);
  _mm256_storeu_ps(out, t);
  for (float v : out) s += v;
  return s;
}
#else
// Baseline x86-64 has no FMA: a multiply and an add per "FMA", vectorised for SSE.
constexpr int kWidth = 4;
float chains(int64_t iters) {
  float acc[kChains][kWidth];
  for (int i = 0; i < kChains; ++i)
    for (int j = 0; j < kWidth; ++j) acc[i][j] = float(i + j);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < kChains; ++i)
      for (int j = 0; j < kWidth; ++j) acc[i][j] = acc[i][j] * 0.999999f + 1e-7f;
    __asm__ volatile("" : : "r"(&acc[0][0]) : "memory");
  }
  float s = 0;
  for (int i = 0; i < kChains; ++i)
    for (int j = 0; j < kWidth; ++j) s += acc[i][j];
  return s;
}
#endif

}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  if (threads < 1) threads = 1;
  volatile float sink = 0;
  // Calibrate on one short run, then time the real one and keep the best of a few.
  int64_t iters = 1 << 16;
  double t0 = now_s();
  sink = sink + chains(iters);
  double dt = now_s() - t0;
  int64_t per_rep = iters;
  const int reps = 3;
  if (dt > 0) per_rep = int64_t(double(iters) * (seconds / reps) / dt) + 1;
  double best = 0;
  float results[64] = {};
  for (int rep = 0; rep < reps; ++rep) {
    t0 = now_s();
    parallel_for(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        results[i % 64] = chains(per_rep);  // keeps the chains' result alive
      }
    });
    dt = now_s() - t0;
    double gflops = 2.0 * kChains * kWidth * double(per_rep) * threads / dt * 1e-9;
    if (gflops > best) best = gflops;
    sink = sink + results[0];
  }
  return best;
}

}  // namespace ie::cpu::IE_ISA
