// A thin float-vector layer and a vectorised exp shared by softmax.cc and attention.cc.
// Include only from a kernel file compiled per ISA (IE_ISA defined): everything lives in
// ie::cpu::IE_ISA::simd with internal linkage, so the three builds never share code.
//   avx512: 16 lanes (__m512), avx2: 8 lanes (__m256), generic: 4 lanes of plain C (the compiler
//   turns the short loops into SSE2).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef IE_ISA
#error "softmax_simd.h is for per-ISA kernel files"
#endif

namespace ie::cpu::IE_ISA::simd {
namespace {

// exp(x) = 2^n * e^r with n = round(x / ln2), r = x - n*ln2 (Cody-Waite split of ln2, so r is
// accurate), |r| <= ln2/2 and e^r from its degree-7 Taylor polynomial (truncation < 6e-9).
// Inputs below kExpLo give exactly 0 (that also covers -inf); inputs are capped at kExpHi; NaN
// gives NaN.
// The range keeps 2^n * e^r a normal float: n in [-125, 127].
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;  // few mantissa bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860682030941723e-06f;
constexpr float kExpLo = -86.0f;
constexpr float kExpHi = 88.0f;
constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: x + kRound rounds x to an integer
constexpr float kC2 = 1.f / 2, kC3 = 1.f / 6, kC4 = 1.f / 24, kC5 = 1.f / 120, kC6 = 1.f / 720, kC7 = 1.f / 5040;

inline float scalar_exp(float x) {
  if (!(x >= kExpLo)) return x != x ? x : 0.f;  // NaN stays NaN
  if (x > kExpHi) x = kExpHi;
  float t = x * kLog2e + kRound;
  float n = t - kRound;
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = kC7;
  p = p * r + kC6;
  p = p * r + kC5;
  p = p * r + kC4;
  p = p * r + kC3;
  p = p * r + kC2;
  p = p * r + 1.f;
  p = p * r + 1.f;
  int32_t ti, pi;
  std::memcpy(&ti, &t, 4);
  int32_t ni = ti - 0x4B400000;  // bits of kRound: the low bits of t hold n
  std::memcpy(&pi, &p, 4);
  pi += ni * (1 << 23);
  std::memcpy(&p, &pi, 4);
  return p;
}

#if defined(__AVX512F__)

constexpr int W = 16;
using vf = __m512;
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf x) { _mm512_storeu_ps(p, x); }
inline vf vset1(float a) { return _mm512_set1_ps(a); }
inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline float vsum(vf a) { return _mm512_reduce_add_ps(a); }
inline float vmaxval(vf a) { return _mm512_reduce_max_ps(a); }

inline vf vexp(vf x) {
  const vf x0 = x;
  __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpLo), _CMP_LT_OQ);
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kExpLo)), _mm512_set1_ps(kExpHi));
  vf t = _mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), _mm512_set1_ps(kRound));
  vf n = _mm512_sub_ps(t, _mm512_set1_ps(kRound));
  vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  vf p = _mm512_set1_ps(kC7);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kC2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  __m512i e = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000)), 23);
  p = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), e));
  p = _mm512_maskz_mov_ps(~tiny, p);  // exact 0 below the range (and -inf)
  return _mm512_mask_mov_ps(p, nan, x0);
}

#elif defined(__AVX2__)

constexpr int W = 8;
using vf = __m256;
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf x) { _mm256_storeu_ps(p, x); }
inline vf vset1(float a) { return _mm256_set1_ps(a); }
inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline float vsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float vmaxval(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline vf vexp(vf x) {
  const vf x0 = x;
  vf tiny = _mm256_cmp_ps(x, _mm256_set1_ps(kExpLo), _CMP_LT_OQ);
  vf nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  vf t = _mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), _mm256_set1_ps(kRound));
  vf n = _mm256_sub_ps(t, _mm256_set1_ps(kRound));
  vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  vf p = _mm256_set1_ps(kC7);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kC2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  __m256i e = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000)), 23);
  p = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
  p = _mm256_andnot_ps(tiny, p);  // exact 0 below the range (and -inf)
  return _mm256_blendv_ps(p, x0, nan);  // NaN in, NaN out
}

#else

// Plain C: a 4-float struct whose loops the compiler maps onto SSE2.
constexpr int W = 4;
struct vf {
  float f[4];
};
inline vf vzero() { return vf{{0.f, 0.f, 0.f, 0.f}}; }
inline vf vload(const float* p) {
  vf r;
  for (int i = 0; i < 4; ++i) r.f[i] = p[i];
  return r;
}
inline void vstore(float* p, vf x) {
  for (int i = 0; i < 4; ++i) p[i] = x.f[i];
}
inline vf vset1(float a) { return vf{{a, a, a, a}}; }
inline vf vfma(vf a, vf b, vf c) {
  for (int i = 0; i < 4; ++i) c.f[i] += a.f[i] * b.f[i];
  return c;
}
inline vf vadd(vf a, vf b) {
  for (int i = 0; i < 4; ++i) a.f[i] += b.f[i];
  return a;
}
inline vf vsub(vf a, vf b) {
  for (int i = 0; i < 4; ++i) a.f[i] -= b.f[i];
  return a;
}
inline vf vmul(vf a, vf b) {
  for (int i = 0; i < 4; ++i) a.f[i] *= b.f[i];
  return a;
}
inline vf vmax(vf a, vf b) {
  for (int i = 0; i < 4; ++i) a.f[i] = a.f[i] > b.f[i] ? a.f[i] : b.f[i];
  return a;
}
inline float vsum(vf a) { return (a.f[0] + a.f[1]) + (a.f[2] + a.f[3]); }
inline float vmaxval(vf a) {
  float m = a.f[0];
  for (int i = 1; i < 4; ++i) m = a.f[i] > m ? a.f[i] : m;
  return m;
}
inline vf vexp(vf x) {
  for (int i = 0; i < 4; ++i) x.f[i] = scalar_exp(x.f[i]);
  return x;
}

#endif

}  // namespace
}  // namespace ie::cpu::IE_ISA::simd
