// Measured FP32 FMA throughput of this machine on the active CPU path, in GFLOP/s (an FMA counts
// as 2 flops). Runs independent FMA chains on the widest vectors of the path, on `threads`
// parallel_for chunks, for about `seconds`. Benchmarks report GEMM as a fraction of this.
#pragma once

#include "cpu/dispatch.h"

IE_CPU_DECLARE(double, fma_peak_gflops, (int threads, double seconds))

#ifndef IE_ISA
namespace ie::cpu {
inline double fma_peak_gflops(int threads, double seconds) { IE_CPU_DISPATCH(fma_peak_gflops, threads, seconds) }
}  // namespace ie::cpu
#endif
