#include "ie/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "ie/error.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define IE_X86 1
#endif

namespace ie {

const char* cpu_path_name(CpuPath p) {
  switch (p) {
    case CpuPath::Generic: return "generic";
    case CpuPath::AVX2: return "avx2";
    case CpuPath::AVX512: return "avx512";
  }
  return "?";
}

bool cpu_path_from_name(const char* n, CpuPath* out) {
  if (!std::strcmp(n, "generic")) *out = CpuPath::Generic;
  else if (!std::strcmp(n, "avx2")) *out = CpuPath::AVX2;
  else if (!std::strcmp(n, "avx512")) *out = CpuPath::AVX512;
  else return false;
  return true;
}

#ifdef IE_X86
static uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}
#endif

CpuPath cpu_path_detected() {
  static const CpuPath detected = [] {
#ifdef IE_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuPath::Generic;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(osxsave && avx && fma && f16c)) return CpuPath::Generic;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return CpuPath::Generic;  // OS saves XMM and YMM
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CpuPath::Generic;
    bool avx2 = b & (1u << 5);
    if (!avx2) return CpuPath::Generic;
    bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // opmask, ZMM_Hi256, Hi16_ZMM
    if (avx512f && avx512dq && avx512bw && avx512vl && zmm_os) return CpuPath::AVX512;
    return CpuPath::AVX2;
#else
    return CpuPath::Generic;
#endif
  }();
  return detected;
}

static std::atomic<int> g_path{-1};

CpuPath cpu_path() {
  int p = g_path.load(std::memory_order_relaxed);
  if (p >= 0) return CpuPath(p);
  CpuPath best = cpu_path_detected();
  if (const char* env = std::getenv("INSTRUCTEDIT_CPU")) {
    CpuPath want;
    // An unknown or unsupported value falls back to the best path; the binding validates the
    // variable at load and reports it (a kernel call cannot throw for it).
    if (cpu_path_from_name(env, &want) && int(want) <= int(best)) best = want;
  }
  g_path.store(int(best));
  return best;
}

void set_cpu_path(CpuPath p) {
  CpuPath best = cpu_path_detected();
  IE_CHECK(int(p) <= int(best), "set_cpu_path: this CPU does not support the '", cpu_path_name(p),
           "' path (best available: '", cpu_path_name(best), "')");
  g_path.store(int(p));
}

}  // namespace ie
