// Timing for the CPU GEMM and conv2d kernels (not a test). Build with -DIE_BUILD_BENCH=ON:
//   ./build/ie_bench_cpu [gemm|conv|peak]...   (all when none given)
// Reports the best of several repetitions: other processes share the machine.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/conv2d.h"
#include "cpu/gemm.h"
#include "cpu/peak.h"
#include "cpu/random.h"
#include "ie/cpu_features.h"
#include "ie/parallel.h"

namespace {

template <typename F>
double best_seconds(F&& f, int reps, double min_total = 0.3) {
  f();  // warm-up: packing buffers, page faults
  double best = 1e30, total = 0;
  for (int r = 0; r < reps || total < min_total; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = dt < best ? dt : best;
    total += dt;
    if (r > 200) break;
  }
  return best;
}

std::vector<float> randn(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  ie::cpu::fill_randn(v.data(), int64_t(n), seed, 0, 0.f, 1.f);
  return v;
}

double g_peak[3] = {0, 0, 0};  // by thread count

void bench_peak() {
  for (int t : {1, 2}) {
    ie::set_num_threads(t);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
      double g = ie::cpu::fma_peak_gflops(t, 0.3);
      best = g > best ? g : best;
    }
    g_peak[t] = best;
    std::printf("fma peak  threads=%d  %.1f GFLOP/s\n", t, best);
  }
  ie::set_num_threads(0);
}

void bench_gemm() {
  struct S { int64_t M, N, K; bool tA, tB; };
  const S shapes[] = {{256, 256, 256, 0, 0},    {512, 512, 512, 0, 0},   {1024, 1024, 1024, 0, 0},
                      {2048, 2048, 2048, 0, 0}, {2048, 2048, 2048, 0, 1}, {2048, 2048, 2048, 1, 0},
                      {4096, 4096, 4096, 0, 0},
                      // attention / linear-like shapes
                      {4096, 4096, 40, 0, 1},   {4096, 40, 4096, 0, 0},  {4096, 77, 40, 0, 1},
                      {12288, 320, 320, 0, 1},  {3, 1280, 320, 0, 1},    {77, 768, 768, 0, 1}};
  for (const S& s : shapes) {
    std::vector<float> A = randn(size_t(s.M * s.K), 1), B = randn(size_t(s.K * s.N), 2), C(size_t(s.M * s.N));
    for (int t : {1, 2}) {
      if (s.M * s.N * s.K > (int64_t(1) << 34) / 2 && t == 1) continue;
      ie::set_num_threads(t);
      double sec = best_seconds([&] {
        ie::cpu::sgemm(s.tA, s.tB, s.M, s.N, s.K, 1.f, A.data(), s.tA ? s.M : s.K, B.data(), s.tB ? s.K : s.N, 0.f,
                       C.data(), s.N);
      }, 3);
      double gf = 2.0 * s.M * s.N * s.K / sec * 1e-9;
      std::printf("sgemm %c%c M=%-5lld N=%-5lld K=%-5lld threads=%d  %8.3f ms  %7.1f GFLOP/s", s.tA ? 'T' : 'N',
                  s.tB ? 'T' : 'N', (long long)s.M, (long long)s.N, (long long)s.K, t, sec * 1e3, gf);
      if (g_peak[t] > 0) std::printf("  (%.0f%% of peak)", 100 * gf / g_peak[t]);
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  ie::set_num_threads(0);
}

void bench_conv() {
  struct S { int64_t N, C, H, W, K, R, stride, pad; };
  const S shapes[] = {{3, 320, 64, 64, 320, 3, 1, 1},   {3, 640, 32, 32, 640, 3, 1, 1},
                      {3, 1280, 16, 16, 1280, 3, 1, 1}, {3, 1280, 8, 8, 1280, 3, 1, 1},
                      {3, 320, 64, 64, 320, 1, 1, 0},   {3, 320, 64, 64, 320, 3, 2, 1},
                      {3, 640, 32, 32, 1280, 1, 1, 0}};
  for (const S& c : shapes) {
    ie::cpu::Conv2dShape s{c.N, c.C, c.H, c.W, c.K, c.R, c.R, c.stride, c.stride, c.pad, c.pad, 0, 0};
    s.P = (c.H + 2 * c.pad - c.R) / c.stride + 1;
    s.Q = (c.W + 2 * c.pad - c.R) / c.stride + 1;
    std::vector<float> x = randn(size_t(c.N * c.C * c.H * c.W), 3), w = randn(size_t(c.K * c.C * c.R * c.R), 4);
    std::vector<float> b = randn(size_t(c.K), 5), y(size_t(c.N * c.K * s.P * s.Q)), dy = randn(y.size(), 6);
    std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
    double flops = 2.0 * c.N * c.K * s.P * s.Q * c.C * c.R * c.R;
    double tf = best_seconds([&] { ie::cpu::conv2d_forward(s, x.data(), w.data(), b.data(), y.data()); }, 3);
    double ti = best_seconds([&] { ie::cpu::conv2d_backward_input(s, dy.data(), w.data(), dx.data()); }, 3);
    double tw = best_seconds(
        [&] { ie::cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), db.data(), false); }, 3);
    std::printf("conv N=%lld C=%-4lld %lldx%lld K=%-4lld %lldx%lld s%lld p%lld threads=%d  fwd %7.2f ms (%5.0f GF/s)  "
                "bwd_in %7.2f ms (%5.0f)  bwd_w %7.2f ms (%5.0f)\n",
                (long long)c.N, (long long)c.C, (long long)c.H, (long long)c.W, (long long)c.K, (long long)c.R,
                (long long)c.R, (long long)c.stride, (long long)c.pad, ie::num_threads(), tf * 1e3,
                flops / tf * 1e-9, ti * 1e3, flops / ti * 1e-9, tw * 1e3, flops / tw * 1e-9);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto want = [&](const char* what) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; ++i)
      if (!std::strcmp(argv[i], what)) return true;
    return false;
  };
  std::printf("cpu path: %s, threads: %d\n", ie::cpu_path_name(ie::cpu_path()), ie::num_threads());
  if (want("peak") || want("gemm")) bench_peak();
  if (want("gemm")) bench_gemm();
  if (want("conv")) bench_conv();
}
