// float64 references of GroupNorm (optionally fused SiLU, optionally affine) and LayerNorm, forward
// and backward (used by test_norm.cc and test_cuda_norm.cc).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace iet::ref {

struct GNCase {
  int64_t N, C, HW, G;
  bool silu, affine, accumulate;
};

// GroupNorm forward of x [N, C, HW]; also returns mean/rstd per (n, g).
inline std::vector<double> gn_ref(const std::vector<double>& x, const std::vector<double>& gamma,
                                  const std::vector<double>& beta, const GNCase& k, double eps,
                                  std::vector<double>* mean = nullptr, std::vector<double>* rstd = nullptr) {
  int64_t Cg = k.C / k.G, M = Cg * k.HW;
  std::vector<double> y(x.size());
  if (mean) mean->assign(size_t(k.N * k.G), 0);
  if (rstd) rstd->assign(size_t(k.N * k.G), 0);
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t g = 0; g < k.G; ++g) {
      size_t base = size_t((n * k.C + g * Cg) * k.HW);
      double s = 0;
      for (int64_t i = 0; i < M; ++i) s += x[base + size_t(i)];
      double mu = s / double(M), v = 0;
      for (int64_t i = 0; i < M; ++i) v += (x[base + size_t(i)] - mu) * (x[base + size_t(i)] - mu);
      double rs = 1 / std::sqrt(v / double(M) + eps);
      if (mean) (*mean)[size_t(n * k.G + g)] = mu;
      if (rstd) (*rstd)[size_t(n * k.G + g)] = rs;
      for (int64_t i = 0; i < M; ++i) {
        int64_t c = g * Cg + i / k.HW;
        double z = (x[base + size_t(i)] - mu) * rs * (k.affine ? gamma[size_t(c)] : 1.0) +
                   (k.affine ? beta[size_t(c)] : 0.0);
        y[base + size_t(i)] = k.silu ? z / (1 + std::exp(-z)) : z;
      }
    }
  return y;
}

// Gradients of <y, dy> (dz through SiLU when fused, then the normalisation backward) at the given
// statistics mref/rref [N * G].
inline void gn_grad_ref(const std::vector<double>& xd, const std::vector<double>& gd, const std::vector<double>& bd,
                        const std::vector<double>& dyd, const std::vector<double>& mref,
                        const std::vector<double>& rref, const GNCase& k, std::vector<double>& dxref,
                        std::vector<double>& dgref, std::vector<double>& dbref) {
  int64_t Cg = k.C / k.G, M = Cg * k.HW;
  dxref.assign(xd.size(), 0);
  dgref.assign(size_t(k.C), 0);
  dbref.assign(size_t(k.C), 0);
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t g = 0; g < k.G; ++g) {
      size_t base = size_t((n * k.C + g * Cg) * k.HW);
      double mu = mref[size_t(n * k.G + g)], rs = rref[size_t(n * k.G + g)];
      std::vector<double> dxh(static_cast<size_t>(M)), xh(static_cast<size_t>(M));
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < M; ++i) {
        int64_t c = g * Cg + i / k.HW;
        double gc = k.affine ? gd[size_t(c)] : 1, bc = k.affine ? bd[size_t(c)] : 0;
        xh[size_t(i)] = (xd[base + size_t(i)] - mu) * rs;
        double z = xh[size_t(i)] * gc + bc, dz = dyd[base + size_t(i)];
        if (k.silu) {
          double s = 1 / (1 + std::exp(-z));
          dz *= s * (1 + z * (1 - s));
        }
        dgref[size_t(c)] += dz * xh[size_t(i)];
        dbref[size_t(c)] += dz;
        dxh[size_t(i)] = dz * gc;
        s1 += dxh[size_t(i)];
        s2 += dxh[size_t(i)] * xh[size_t(i)];
      }
      for (int64_t i = 0; i < M; ++i)
        dxref[base + size_t(i)] = rs * (dxh[size_t(i)] - s1 / double(M) - xh[size_t(i)] * s2 / double(M));
    }
}

// LayerNorm forward of x [M, C] over the last axis (gamma / beta: nullptr for 1 / 0); also returns
// mean/rstd per row.
inline std::vector<double> ln_ref(const std::vector<double>& x, const double* gamma, const double* beta, int64_t M,
                                  int64_t C, double eps, std::vector<double>* mean = nullptr,
                                  std::vector<double>* rstd = nullptr) {
  std::vector<double> y(x.size());
  if (mean) mean->assign(size_t(M), 0);
  if (rstd) rstd->assign(size_t(M), 0);
  for (int64_t m = 0; m < M; ++m) {
    const double* r = &x[size_t(m * C)];
    double s = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) s += r[c];
    double mu = s / double(C);
    for (int64_t c = 0; c < C; ++c) v += (r[c] - mu) * (r[c] - mu);
    double rs = 1 / std::sqrt(v / double(C) + eps);
    if (mean) (*mean)[size_t(m)] = mu;
    if (rstd) (*rstd)[size_t(m)] = rs;
    for (int64_t c = 0; c < C; ++c)
      y[size_t(m * C + c)] = (r[c] - mu) * rs * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
  }
  return y;
}

// Gradients of <y, dy> for LayerNorm at the given statistics mean/rstd [M] (gamma: nullptr for 1).
inline void ln_grad_ref(const std::vector<double>& xd, const double* gamma, const std::vector<double>& dyd,
                        const std::vector<double>& mean, const std::vector<double>& rstd, int64_t M, int64_t C,
                        std::vector<double>& dxref, std::vector<double>& dgref, std::vector<double>& dbref) {
  dxref.assign(xd.size(), 0);
  dgref.assign(size_t(C), 0);
  dbref.assign(size_t(C), 0);
  for (int64_t m = 0; m < M; ++m) {
    double mu = mean[size_t(m)], rs = rstd[size_t(m)], s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; ++c) {
      size_t i = size_t(m * C + c);
      double xh = (xd[i] - mu) * rs, g = dyd[i] * (gamma ? gamma[c] : 1.0);
      s1 += g;
      s2 += g * xh;
      dgref[size_t(c)] += dyd[i] * xh;
      dbref[size_t(c)] += dyd[i];
    }
    for (int64_t c = 0; c < C; ++c) {
      size_t i = size_t(m * C + c);
      double xh = (xd[i] - mu) * rs, g = dyd[i] * (gamma ? gamma[c] : 1.0);
      dxref[i] = rs * (g - s1 / double(C) - xh * s2 / double(C));
    }
  }
}

}  // namespace iet::ref
