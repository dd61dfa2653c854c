// GroupNorm (with/without fused SiLU, with/without affine) and LayerNorm: forward, saved
// statistics and backward against float64 references; gradients also against finite differences.
#include <algorithm>
#include <cmath>

#include "cpu/norm.h"
#include "harness.h"
#include "ie/ops.h"
#include "ie/parallel.h"
#include "reference/norm.h"

using iet::ref::GNCase;
using iet::ref::gn_grad_ref;
using iet::ref::gn_ref;
using iet::ref::ln_grad_ref;
using iet::ref::ln_ref;

namespace {

void run_groupnorm_case(const GNCase& k, uint64_t seed) {
  const size_t nx = size_t(k.N * k.C * k.HW), nc = size_t(k.C);
  const float eps = 1e-5f;
  // a mean offset per sample so the statistics have something to be unstable about
  std::vector<float> x = iet::randn(nx, seed, 2.0f);
  for (size_t i = 0; i < nx; ++i) x[i] += 3.0f;
  std::vector<float> gamma = iet::randn(nc, seed + 1), beta = iet::randn(nc, seed + 2), dy = iet::randn(nx, seed + 3);
  std::vector<double> xd = iet::to_double(x), gd = iet::to_double(gamma), bd = iet::to_double(beta),
                      dyd = iet::to_double(dy);
  std::vector<double> mref, rref;
  std::vector<double> yref = gn_ref(xd, gd, bd, k, eps, &mref, &rref);

  // float64 gradients of <y, dy>: dz through SiLU, then the normalisation backward
  std::vector<double> dxref, dgref, dbref;
  gn_grad_ref(xd, gd, bd, dyd, mref, rref, k, dxref, dgref, dbref);

  // finite differences of <y, dy> over (x, γ, β) along one random direction
  std::vector<double> p(xd);
  p.insert(p.end(), gd.begin(), gd.end());
  p.insert(p.end(), bd.begin(), bd.end());
  std::vector<double> dir = iet::to_double(iet::randn(p.size(), seed + 4));
  auto loss = [&](const std::vector<double>& q) {
    std::vector<double> xx(q.begin(), q.begin() + long(nx)), gg(q.begin() + long(nx), q.begin() + long(nx + nc)),
        bb(q.begin() + long(nx + nc), q.end());
    return iet::dot(gn_ref(xx, gg, bb, k, eps), dyd);
  };
  double fd = iet::directional_fd(loss, p, dir, 1e-5);

  std::vector<float> dg0 = iet::randn(nc, seed + 5), db0 = iet::randn(nc, seed + 6);  // accumulate onto these
  std::string nm = "N=" + std::to_string(k.N) + " C=" + std::to_string(k.C) + " HW=" + std::to_string(k.HW) +
                   " G=" + std::to_string(k.G) + (k.silu ? " silu" : "") + (k.affine ? " affine" : "") +
                   (k.accumulate ? " accumulate" : "");
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string t = nm + " threads=" + std::to_string(threads);
      std::vector<float> y = iet::poisoned(nx), mean = iet::poisoned(size_t(k.N * k.G)),
                         rstd = iet::poisoned(size_t(k.N * k.G));
      const float* g = k.affine ? gamma.data() : nullptr;
      const float* b = k.affine ? beta.data() : nullptr;
      ie::cpu::groupnorm_forward(x.data(), g, b, y.data(), mean.data(), rstd.data(), k.N, k.C, k.HW, k.G, eps, k.silu);
      IE_EXPECT_REL(iet::rel_error(y, yref), 1e-5, t + " y");
      IE_EXPECT_REL(iet::rel_error(mean, mref), 1e-6, t + " mean");
      IE_EXPECT_REL(iet::rel_error(rstd, rref), 1e-6, t + " rstd");

      std::vector<float> dx = iet::poisoned(nx);
      std::vector<float> dg = k.accumulate ? dg0 : iet::poisoned(nc), db = k.accumulate ? db0 : iet::poisoned(nc);
      ie::cpu::groupnorm_backward(dy.data(), x.data(), g, b, mean.data(), rstd.data(), dx.data(),
                                  k.affine ? dg.data() : nullptr, k.affine ? db.data() : nullptr, k.N, k.C, k.HW, k.G,
                                  k.silu, k.accumulate);
      IE_EXPECT_REL(iet::rel_error(dx, dxref), 1e-5, t + " dx");
      double analytic = iet::dot(dx, std::vector<double>(dir.begin(), dir.begin() + long(nx)));
      if (k.affine) {
        std::vector<double> eg(dgref), eb(dbref);
        std::vector<float> dgn(dg), dbn(db);  // accumulated results minus the initial values
        for (size_t c = 0; c < nc; ++c) {
          if (k.accumulate) {
            eg[c] += dg0[c];
            eb[c] += db0[c];
            dgn[c] -= dg0[c];
            dbn[c] -= db0[c];
          }
        }
        IE_EXPECT_REL(iet::rel_error(dg, eg), 1e-5, t + " dgamma");
        IE_EXPECT_REL(iet::rel_error(db, eb), 1e-5, t + " dbeta");
        for (size_t c = 0; c < nc; ++c)
          analytic += double(dgn[c]) * dir[nx + c] + double(dbn[c]) * dir[nx + nc + c];
      }
      IE_EXPECT_REL(std::fabs(analytic - fd) / std::fabs(fd), 1e-5, t + " gradient vs finite differences");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(norm, groupnorm_plain) { run_groupnorm_case({2, 6, 35, 3, false, true, false}, 1000); }
IE_TEST(norm, groupnorm_silu) { run_groupnorm_case({2, 6, 35, 3, true, true, false}, 1010); }
IE_TEST(norm, groupnorm_g1_no_affine_silu) { run_groupnorm_case({3, 5, 17, 1, true, false, false}, 1020); }
IE_TEST(norm, groupnorm_g1_no_affine) { run_groupnorm_case({2, 4, 19, 1, false, false, false}, 1025); }
IE_TEST(norm, groupnorm_g_equals_c) { run_groupnorm_case({2, 7, 13, 7, false, true, false}, 1030); }
IE_TEST(norm, groupnorm_silu_accumulate) { run_groupnorm_case({1, 12, 99, 4, true, true, true}, 1040); }
IE_TEST(norm, groupnorm_accumulate_long_rows) { run_groupnorm_case({2, 4, 1031, 2, false, true, true}, 1050); }

IE_TEST(norm, groupnorm_large_mean_offset) {
  // |mean| / std = 1e4: the shifted one-pass statistics must stay accurate.
  const int64_t N = 2, C = 4, HW = 4097, G = 2;
  std::vector<float> x = iet::randn(size_t(N * C * HW), 1060, 0.5f);
  for (float& v : x) v += 5000.0f;
  GNCase k{N, C, HW, G, false, false, false};
  std::vector<double> mref, rref;
  gn_ref(iet::to_double(x), {}, {}, k, 1e-5, &mref, &rref);
  iet::for_each_cpu_path([&] {
    std::vector<float> y = iet::poisoned(x.size()), mean(size_t(N * G)), rstd(size_t(N * G));
    ie::cpu::groupnorm_forward(x.data(), nullptr, nullptr, y.data(), mean.data(), rstd.data(), N, C, HW, G, 1e-5f, false);
    IE_EXPECT_REL(iet::rel_error(rstd, rref), 1e-5, "rstd with a large mean");
    IE_EXPECT_REL(iet::rel_error(mean, mref), 1e-7, "mean with a large mean");
  });
}

namespace {

void run_layernorm_case(int64_t M, int64_t C, bool affine, bool accumulate, uint64_t seed) {
  const size_t nx = size_t(M * C), nc = size_t(C);
  const float eps = 1e-5f;
  std::vector<float> x = iet::randn(nx, seed, 1.5f), gamma = iet::randn(nc, seed + 1), beta = iet::randn(nc, seed + 2),
                     dy = iet::randn(nx, seed + 3);
  for (size_t i = 0; i < nx; ++i) x[i] -= 2.0f;
  std::vector<double> xd = iet::to_double(x), gd = iet::to_double(gamma), bd = iet::to_double(beta),
                      dyd = iet::to_double(dy);
  std::vector<double> mref, rref, dxref, dgref, dbref;
  std::vector<double> yref = ln_ref(xd, affine ? gd.data() : nullptr, affine ? bd.data() : nullptr, M, C, eps, &mref, &rref);
  ln_grad_ref(xd, affine ? gd.data() : nullptr, dyd, mref, rref, M, C, dxref, dgref, dbref);
  std::vector<double> p(xd);
  p.insert(p.end(), gd.begin(), gd.end());
  p.insert(p.end(), bd.begin(), bd.end());
  std::vector<double> dir = iet::to_double(iet::randn(p.size(), seed + 4));
  double fd = iet::directional_fd(
      [&](const std::vector<double>& q) {
        std::vector<double> xx(q.begin(), q.begin() + long(nx));
        return iet::dot(ln_ref(xx, affine ? &q[nx] : nullptr, affine ? &q[nx + nc] : nullptr, M, C, eps), dyd);
      },
      p, dir, 1e-5);
  std::vector<float> dg0 = iet::randn(nc, seed + 5), db0 = iet::randn(nc, seed + 6);
  std::string nm = "layernorm M=" + std::to_string(M) + " C=" + std::to_string(C) + (affine ? " affine" : "") +
                   (accumulate ? " accumulate" : "");
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string t = nm + " threads=" + std::to_string(threads);
      std::vector<float> y = iet::poisoned(nx), mean = iet::poisoned(size_t(M)), rstd = iet::poisoned(size_t(M));
      const float* g = affine ? gamma.data() : nullptr;
      ie::cpu::layernorm_forward(x.data(), g, affine ? beta.data() : nullptr, y.data(), mean.data(), rstd.data(), M, C,
                                 eps);
      IE_EXPECT_REL(iet::rel_error(y, yref), 1e-5, t + " y");
      IE_EXPECT_REL(iet::rel_error(mean, mref), 1e-6, t + " mean");
      IE_EXPECT_REL(iet::rel_error(rstd, rref), 1e-6, t + " rstd");
      std::vector<float> dx = iet::poisoned(nx);
      std::vector<float> dg = accumulate ? dg0 : iet::poisoned(nc), db = accumulate ? db0 : iet::poisoned(nc);
      ie::cpu::layernorm_backward(dy.data(), x.data(), g, mean.data(), rstd.data(), dx.data(),
                                  affine ? dg.data() : nullptr, affine ? db.data() : nullptr, M, C, accumulate);
      IE_EXPECT_REL(iet::rel_error(dx, dxref), 1e-5, t + " dx");
      double analytic = iet::dot(dx, std::vector<double>(dir.begin(), dir.begin() + long(nx)));
      if (affine) {
        std::vector<double> eg(dgref), eb(dbref);
        for (size_t c = 0; c < nc; ++c) {
          if (accumulate) eg[c] += dg0[c], eb[c] += db0[c];
          double gg = double(dg[c]) - (accumulate ? dg0[c] : 0), bb = double(db[c]) - (accumulate ? db0[c] : 0);
          analytic += gg * dir[nx + c] + bb * dir[nx + nc + c];
        }
        IE_EXPECT_REL(iet::rel_error(dg, eg), 1e-5, t + " dgamma");
        IE_EXPECT_REL(iet::rel_error(db, eb), 1e-5, t + " dbeta");
      }
      IE_EXPECT_REL(std::fabs(analytic - fd) / std::fabs(fd), 1e-5, t + " gradient vs finite differences");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(norm, layernorm_affine) { run_layernorm_case(37, 77, true, false, 1100); }
IE_TEST(norm, layernorm_many_rows_accumulate) { run_layernorm_case(203, 40, true, true, 1110); }
IE_TEST(norm, layernorm_no_affine) { run_layernorm_case(9, 33, false, false, 1120); }

// An empty batch: nothing to sum, so dgamma/dbeta are zero (overwritten), or unchanged with accumulate.
IE_TEST(norm, groupnorm_backward_empty_batch_zeroes_parameter_grads) {
  const ie::Device cpu{};
  ie::Tensor x = ie::ops::zeros({0, 4, 3, 3}, ie::DType::F32, cpu), dy = ie::ops::zeros({0, 4, 3, 3}, ie::DType::F32, cpu);
  ie::Tensor g = ie::ops::full({4}, 1.0, ie::DType::F32, cpu), b = ie::ops::zeros({4}, ie::DType::F32, cpu);
  ie::ops::NormOut f = ie::ops::group_norm(x, 2, &g, &b, 1e-5, true);
  ie::ops::GradInto into{ie::ops::full({4}, 7.0, ie::DType::F32, cpu), ie::ops::full({4}, 7.0, ie::DType::F32, cpu), false};
  ie::ops::group_norm_backward(dy, x, 2, &g, &b, f.mean, f.rstd, true, &into);
  std::vector<float> dg(4), db(4);
  ie::ops::copy_to_host(into.dw, dg.data());
  ie::ops::copy_to_host(into.db, db.data());
  IE_EXPECT(dg == std::vector<float>(4, 0.f) && db == std::vector<float>(4, 0.f), "overwrite: zero gradients");
  into.accumulate = true;
  ie::ops::copy_to_host(into.dw, dg.data());
  ie::ops::group_norm_backward(dy, x, 2, &g, &b, f.mean, f.rstd, true, &into);
  ie::ops::copy_to_host(into.dw, dg.data());
  IE_EXPECT(dg == std::vector<float>(4, 0.f), "accumulate: unchanged");
}
