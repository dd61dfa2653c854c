// FMA peak probe: kChains independent accumulators hide the FMA latency (4 cycles x 2 pipes needs
// at least 8 in flight), so the loop runs at the FMA units' throughput.
#include "cpu/peak.h"

#include <immintrin.h>
#include <time.h>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int kChains = 12;

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Named accumulators (not an array) so they stay in registers; the empty asm keeps the compiler
// from folding the chains.
#define IE_PEAK_CHAINS(V, FMA, SET1, ADD, BARRIER)                                            \
  V c0 = SET1(0.f), c1 = SET1(1.f), c2 = SET1(2.f), c3 = SET1(3.f), c4 = SET1(4.f), c5 = SET1(5.f); \
  V c6 = SET1(6.f), c7 = SET1(7.f), c8 = SET1(8.f), c9 = SET1(9.f), c10 = SET1(10.f), c11 = SET1(11.f); \
  const V m = SET1(0.999999f), a = SET1(1e-7f);                                               \
  for (int64_t it = 0; it < iters; ++it) {                                                    \
    c0 = FMA(c0, m, a); c1 = FMA(c1, m, a); c2 = FMA(c2, m, a); c3 = FMA(c3, m, a);           \
    c4 = FMA(c4, m, a); c5 = FMA(c5, m, a); c6 = FMA(c6, m, a); c7 = FMA(c7, m, a);           \
    c8 = FMA(c8, m, a); c9 = FMA(c9, m, a); c10 = FMA(c10, m, a); c11 = FMA(c11, m, a);       \
    BARRIER;                                                                                  \
  }                                                                                           \
  V s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                    \
  s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));

#if defined(__AVX512F__)
constexpr int kWidth = 16;
float chains(int64_t iters) {
  IE_PEAK_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps,
                 __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5)))
  return _mm512_reduce_add_ps(s);
}
#elif defined(__AVX2__)
constexpr int kWidth = 8;
float chains(int64_t iters) {
  IE_PEAK_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps,
                 __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5)))
  float out[8], t = 0;
  _mm256_storeu_ps(out, s);
  for (float v : out) t += v;
  return t;
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
