// Per-ISA kernel declaration and run-time dispatch.
//
// Every kernel source in native/src/cpu/*.cc is compiled three times (CMake object libraries
// ie_cpu_generic / ie_cpu_avx2 / ie_cpu_avx512) with -DIE_ISA=<name> and that ISA's -m flags; it
// defines its functions inside `namespace ie::cpu::IE_ISA`. Its header declares them for all three
// with IE_CPU_DECLARE and defines the dispatcher (outside the per-ISA builds) with IE_CPU_DISPATCH.
#pragma once
#include "ie/cpu_features.h"

#define IE_CPU_DECLARE(ret, name, params) \
  namespace ie::cpu::generic {            \
  ret name params;                        \
  }                                       \
  namespace ie::cpu::avx2 {               \
  ret name params;                        \
  }                                       \
  namespace ie::cpu::avx512 {             \
  ret name params;                        \
  }

#define IE_CPU_DISPATCH(name, ...)                                                            \
  switch (::ie::cpu_path()) {                                                                 \
    case ::ie::CpuPath::AVX512: return ::ie::cpu::avx512::name(__VA_ARGS__);                  \
    case ::ie::CpuPath::AVX2: return ::ie::cpu::avx2::name(__VA_ARGS__);                      \
    default: return ::ie::cpu::generic::name(__VA_ARGS__);                                    \
  }
