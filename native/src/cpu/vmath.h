// Vectorisable float math shared by kernel files: exp, sigmoid, normal CDF. Plain branch-free code
// the compiler vectorises for each ISA. Everything has internal linkage inside the ISA namespace,
// so each per-ISA object keeps its own copy (see README.md: no shared inline code).
#pragma once
#ifndef IE_ISA
#error "cpu/vmath.h is for kernel files only (compiled per ISA)"
#endif
#include <cstdint>
#include <cstring>

namespace ie::cpu::IE_ISA {
namespace {

inline float vm_from_bits(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int32_t vm_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i;
}

// e^x, relative error about 1e-7 over the float range; +inf above ln(FLT_MAX), 0 below -104, NaN
// passes through. x = k·ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial
// (truncation < 6e-9), 2^k applied as two factors so k in [-150, 128] needs no special case.
inline float vm_exp(float x) {
  const float hi = 88.72283f, lo = -104.0f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  const float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  float t = xc * 1.44269504f + magic;
  int32_t k = vm_to_bits(t) - vm_to_bits(magic);
  float kf = t - magic;
  float r = xc - kf * 0.693145752f;  // ln2 split: the high part times k is exact
  r = r - kf * 1.42860677e-6f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t k1 = k >> 1, k2 = k - k1;
  float res = p * vm_from_bits((k1 + 127) << 23) * vm_from_bits((k2 + 127) << 23);
  res = x > hi ? __builtin_inff() : res;
  res = x < lo ? 0.0f : res;
  return res;
}

inline float vm_sigmoid(float x) { return 1.0f / (1.0f + vm_exp(-x)); }

// Half of erfc(z) for z >= 0, with small relative error everywhere (so tails stay accurate):
// erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), P a degree-9 Chebyshev fit (fractional error of
// the fit < 1.2e-7; Press et al., Numerical Recipes §6.2).
inline float vm_half_erfc(float z) {
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return 0.5f * t * vm_exp(p - z * z);
}

// Standard normal CDF Φ(x) = (1 + erf(x/√2))/2, accurate relative to Φ (also in the left tail).
inline float vm_norm_cdf(float x) {
  float e = vm_half_erfc((x < 0 ? -x : x) * 0.70710678f);
  return x < 0 ? e : 1.0f - e;
}
// Standard normal density φ(x).
inline float vm_norm_pdf(float x) { return 0.39894228f * vm_exp(-0.5f * x * x); }

}  // namespace
}  // namespace ie::cpu::IE_ISA
