// float64 reference of scaled-dot-product attention (full score matrix), forward (out, lse) and
// backward (dq, dk, dv): the one in test_attention.cc and test_cuda_attention.cc. Layout:
// q [B, Lq, H, D], k/v [B, Lk, H, D] (heads interleaved, row stride H*D); lse [B, H, Lq].
//
// Prepared for those two tests (being edited elsewhere at the time of writing, so not yet switched):
// each should include "reference/attention.h", replace its `struct Shape` by
// `using Shape = iet::ref::AttentionShape;` and its ref_probs/ref_forward/ref_backward by
// iet::ref::attention_probs / attention_forward / attention_backward (same arguments).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace iet::ref {

struct AttentionShape {
  int64_t B, H, Lq, Lk, D;
  float scale;
  bool causal;
};

// Probabilities of one (b, h) head: P[i][j], full Lq x Lk, in double.
inline std::vector<double> attention_probs(const AttentionShape& s, const double* q, const double* k, int64_t b,
                                           int64_t h, std::vector<double>* lse) {
  const int64_t HD = s.H * s.D;
  std::vector<double> P(size_t(s.Lq * s.Lk));
  for (int64_t i = 0; i < s.Lq; ++i) {
    const double* qi = q + (b * s.Lq + i) * HD + h * s.D;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < s.Lk; ++j) {
      double sc = -std::numeric_limits<double>::infinity();
      if (!(s.causal && j > i)) {
        const double* kj = k + (b * s.Lk + j) * HD + h * s.D;
        double dot = 0;
        for (int64_t d = 0; d < s.D; ++d) dot += qi[d] * kj[d];
        sc = dot * s.scale;
      }
      P[size_t(i * s.Lk + j)] = sc;
      mx = std::max(mx, sc);
    }
    double sum = 0;
    for (int64_t j = 0; j < s.Lk; ++j) sum += std::exp(P[size_t(i * s.Lk + j)] - mx);
    for (int64_t j = 0; j < s.Lk; ++j) P[size_t(i * s.Lk + j)] = std::exp(P[size_t(i * s.Lk + j)] - mx) / sum;
    if (lse) (*lse)[size_t((b * s.H + h) * s.Lq + i)] = mx + std::log(sum);
  }
  return P;
}

inline void attention_forward(const AttentionShape& s, const double* q, const double* k, const double* v,
                              std::vector<double>& out, std::vector<double>& lse) {
  const int64_t HD = s.H * s.D;
  out.assign(size_t(s.B * s.Lq * HD), 0.0);
  lse.assign(size_t(s.B * s.H * s.Lq), 0.0);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      std::vector<double> P = attention_probs(s, q, k, b, h, &lse);
      for (int64_t i = 0; i < s.Lq; ++i) {
        double* o = &out[size_t((b * s.Lq + i) * HD + h * s.D)];
        for (int64_t j = 0; j < s.Lk; ++j) {
          const double p = P[size_t(i * s.Lk + j)];
          const double* vj = v + (b * s.Lk + j) * HD + h * s.D;
          for (int64_t d = 0; d < s.D; ++d) o[d] += p * vj[d];
        }
      }
    }
}

inline void attention_backward(const AttentionShape& s, const double* q, const double* k, const double* v,
                               const double* dout, std::vector<double>& dq, std::vector<double>& dk,
                               std::vector<double>& dv) {
  const int64_t HD = s.H * s.D;
  dq.assign(size_t(s.B * s.Lq * HD), 0.0);
  dk.assign(size_t(s.B * s.Lk * HD), 0.0);
  dv.assign(size_t(s.B * s.Lk * HD), 0.0);
  std::vector<double> dp(size_t(s.Lk));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      std::vector<double> P = attention_probs(s, q, k, b, h, nullptr);
      for (int64_t i = 0; i < s.Lq; ++i) {
        const size_t qo = size_t((b * s.Lq + i) * HD + h * s.D);
        double Di = 0;
        for (int64_t j = 0; j < s.Lk; ++j) {
          const size_t ko = size_t((b * s.Lk + j) * HD + h * s.D);
          const double p = P[size_t(i * s.Lk + j)];
          double t = 0;
          for (int64_t d = 0; d < s.D; ++d) {
            t += dout[qo + d] * v[ko + d];
            dv[ko + d] += p * dout[qo + d];
          }
          dp[size_t(j)] = t;
          Di += p * t;
        }
        for (int64_t j = 0; j < s.Lk; ++j) {
          const size_t ko = size_t((b * s.Lk + j) * HD + h * s.D);
          const double ds = P[size_t(i * s.Lk + j)] * (dp[size_t(j)] - Di) * s.scale;
          for (int64_t d = 0; d < s.D; ++d) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
          }
        }
      }
    }
}

}  // namespace iet::ref
