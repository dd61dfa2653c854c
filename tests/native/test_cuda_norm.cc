// CUDA GroupNorm (+SiLU), LayerNorm, activations, GEGLU, softmax, nearest upsampling and the
// timestep embedding, forward and backward, through the ie::ops API on cuda:0 against float64
// references (the ones of test_norm.cc, test_activation.cc, ... copied here). Skipped without a GPU.
//
// Tolerances (relative L2 error, iet::rel_error): float32 1e-5 (the CPU kernels' bound);
// float16 1e-2 and bfloat16 2e-2 against the reference computed from the *rounded* inputs: the
// kernels compute in float32, so what remains is the output's rounding (2^-11 / 2^-8 relative)
// plus, for backward ops fed with saved statistics, the rounding of those inputs.
// Outputs are poisoned: before each op the allocator's cache is seeded with NaN-filled blocks
// of the outputs' sizes, so an element a kernel forgets to write reads back as NaN (rel_error inf).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "cuda_helpers.h"
#include "harness.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"
#include "reference/activation.h"
#include "reference/norm.h"
#include "reference/timestep_embedding.h"
#include "reference/upsample.h"

using namespace iet::gpu;
using iet::ref::GNCase;
using iet::ref::gn_grad_ref;
using iet::ref::gn_ref;
using iet::ref::ln_grad_ref;
using iet::ref::ln_ref;

namespace {

using ie::DType;
namespace ops = ie::ops;

// ---------------------------------------------------------------------------------------------
// GroupNorm

void run_groupnorm(const GNCase& k, uint64_t seed) {
  const size_t nx = size_t(k.N * k.C * k.HW), nc = size_t(k.C), ng = size_t(k.N * k.G);
  const double eps = 1e-5;
  std::vector<float> x0 = iet::randn(nx, seed, 2.0f);
  for (float& v : x0) v += 3.0f;
  std::vector<float> g0 = iet::randn(nc, seed + 1), b0 = iet::randn(nc, seed + 2), dy0 = iet::randn(nx, seed + 3);
  std::vector<float> dg0 = iet::randn(nc, seed + 5), db0 = iet::randn(nc, seed + 6);  // accumulated onto
  const ie::Shape xs{k.N, k.C, k.HW};
  std::string nm = "cuda groupNorm N=" + std::to_string(k.N) + " C=" + std::to_string(k.C) +
                   " HW=" + std::to_string(k.HW) + " G=" + std::to_string(k.G) + (k.silu ? " silu" : "") +
                   (k.affine ? " affine" : "") + (k.accumulate ? " accumulate" : "");
  for (DType dt : kFloatTypes) {
    std::string t = nm + " " + dname(dt);
    std::vector<float> x = rounded(x0, dt), gamma = rounded(g0, dt), beta = rounded(b0, dt), dy = rounded(dy0, dt);
    std::vector<double> xd = iet::to_double(x), gd = iet::to_double(gamma), bd = iet::to_double(beta),
                        dyd = iet::to_double(dy);
    std::vector<double> mref, rref;
    std::vector<double> yref = gn_ref(xd, gd, bd, k, eps, &mref, &rref);

    ie::Tensor X = upload(x, xs, dt), Gm = upload(gamma, {k.C}, dt), Bt = upload(beta, {k.C}, dt),
               DY = upload(dy, xs, dt);
    poison_cache({bytes_of(nx, dt), ng * 4});
    ops::NormOut o = ops::group_norm(X, k.G, k.affine ? &Gm : nullptr, k.affine ? &Bt : nullptr, eps, k.silu);
    IE_EXPECT(o.y.dtype() == dt && o.mean.dtype() == DType::F32 && o.rstd.dtype() == DType::F32,
              t + ": y takes x's dtype, mean/rstd are float32");
    std::vector<float> y = download(o.y), mean = download(o.mean), rstd = download(o.rstd);
    IE_EXPECT_REL(iet::rel_error(y, yref), tol(dt), t + " y");
    IE_EXPECT_REL(iet::rel_error(mean, mref), dt == DType::F32 ? 1e-6 : tol(dt), t + " mean");
    IE_EXPECT_REL(iet::rel_error(rstd, rref), dt == DType::F32 ? 1e-6 : tol(dt), t + " rstd");

    // backward at the kernel's own statistics (as the CPU test does)
    std::vector<double> dxref, dgref, dbref;
    gn_grad_ref(xd, gd, bd, dyd, iet::to_double(mean), iet::to_double(rstd), k, dxref, dgref, dbref);
    ops::GradInto into{upload(dg0, {k.C}, DType::F32), upload(db0, {k.C}, DType::F32), true};
    poison_cache({bytes_of(nx, dt), nc * 4});
    ops::NormGrads gr = ops::group_norm_backward(DY, X, k.G, k.affine ? &Gm : nullptr, k.affine ? &Bt : nullptr, o.mean,
                                                 o.rstd, k.silu, k.accumulate ? &into : nullptr);
    IE_EXPECT(gr.dx.dtype() == dt, t + ": dx takes x's dtype");
    IE_EXPECT_REL(iet::rel_error(download(gr.dx), dxref), tol(dt), t + " dx");
    if (k.affine) {
      IE_EXPECT(gr.dgamma.dtype() == DType::F32 && gr.dbeta.dtype() == DType::F32, t + ": parameter grads are float32");
      if (k.accumulate)
        for (size_t c = 0; c < nc; ++c) dgref[c] += dg0[c], dbref[c] += db0[c];
      IE_EXPECT_REL(iet::rel_error(download(gr.dgamma), dgref), tol(dt), t + " dgamma");
      IE_EXPECT_REL(iet::rel_error(download(gr.dbeta), dbref), tol(dt), t + " dbeta");
      if (k.accumulate)
        IE_EXPECT(gr.dgamma.raw() == into.dw.raw() && gr.dbeta.raw() == into.db.raw(),
                  t + ": accumulate writes into the given tensors");
    }
    // determinism: the same call again gives the same bits
    if (!k.accumulate) {
      ops::NormGrads g2 = ops::group_norm_backward(DY, X, k.G, k.affine ? &Gm : nullptr, k.affine ? &Bt : nullptr,
                                                   o.mean, o.rstd, k.silu, nullptr);
      std::vector<float> a = download(gr.dx), b = download(g2.dx);
      IE_EXPECT(std::memcmp(a.data(), b.data(), a.size() * 4) == 0, t + ": dx differs between two identical calls");
    }
  }
}

}  // namespace

IE_TEST(cuda_norm, groupnorm_plain) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({2, 6, 35, 3, false, true, false}, 1000);
}
IE_TEST(cuda_norm, groupnorm_silu) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({2, 6, 35, 3, true, true, false}, 1010);
}
IE_TEST(cuda_norm, groupnorm_g1_no_affine) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({3, 5, 17, 1, true, false, false}, 1020);
  run_groupnorm({2, 4, 19, 1, false, false, false}, 1025);
}
IE_TEST(cuda_norm, groupnorm_g_equals_c_and_hw1) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({2, 7, 13, 7, false, true, false}, 1030);
  run_groupnorm({3, 8, 1, 4, true, true, false}, 1035);  // HW = 1: a group of 2 single-element rows
}
IE_TEST(cuda_norm, groupnorm_accumulate) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({1, 12, 99, 4, true, true, true}, 1040);
  run_groupnorm({2, 4, 1031, 2, false, true, true}, 1050);
}
IE_TEST(cuda_norm, groupnorm_unet_like) {
  if (!iet::cuda_device_or_skip()) return;
  run_groupnorm({2, 64, 4097, 32, true, true, false}, 1055);  // rows longer than 2048 (256-thread blocks)
  run_groupnorm({1, 320, 64, 32, true, true, true}, 1056);    // many short rows
}

IE_TEST(cuda_norm, groupnorm_large_mean_offset) {
  if (!iet::cuda_device_or_skip()) return;
  // |mean| / std = 1e4: the shifted two-pass statistics must stay accurate (float32 only).
  const int64_t N = 2, C = 4, HW = 4097, G = 2;
  std::vector<float> x = iet::randn(size_t(N * C * HW), 1060, 0.5f);
  for (float& v : x) v += 5000.0f;
  GNCase k{N, C, HW, G, false, false, false};
  std::vector<double> mref, rref;
  gn_ref(iet::to_double(x), {}, {}, k, 1e-5, &mref, &rref);
  ops::NormOut o = ops::group_norm(upload(x, {N, C, HW}, DType::F32), G, nullptr, nullptr, 1e-5, false);
  IE_EXPECT_REL(iet::rel_error(download(o.rstd), rref), 1e-5, "cuda groupNorm rstd with a large mean");
  IE_EXPECT_REL(iet::rel_error(download(o.mean), mref), 1e-7, "cuda groupNorm mean with a large mean");
}

IE_TEST(cuda_norm, validation) {
  if (!iet::cuda_device_or_skip()) return;
  ie::Tensor x16 = upload(iet::randn(2 * 4 * 5, 1), {2, 4, 5}, DType::F16);
  ie::Tensor g32 = upload(iet::randn(4, 2), {4}, DType::F32);
  IE_EXPECT(iet::throws_with([&] { ops::group_norm(x16, 2, &g32, nullptr, 1e-5, false); },
                             "groupNorm: weight is float32 but the other inputs are float16"),
            "a float32 weight with float16 x must be named");
  ie::Tensor xcpu = ops::zeros({2, 4, 5}, DType::F32, ie::Device{});
  ie::Tensor x32 = upload(iet::randn(2 * 4 * 5, 1), {2, 4, 5}, DType::F32);
  IE_EXPECT(iet::throws_with([&] { ops::layer_norm(x32, &g32, nullptr, 1e-5); }, "layerNorm: weight must have shape"),
            "layerNorm shape check on cuda");
  ops::NormOut o = ops::group_norm(x32, 2, nullptr, nullptr, 1e-5, false);
  IE_EXPECT(iet::throws_with([&] { ops::group_norm_backward(xcpu, x32, 2, nullptr, nullptr, o.mean, o.rstd, false); },
                             "groupNormBackward: dy is on cpu but the other inputs are on cuda:0"),
            "dy on another device must be named");
  IE_EXPECT(iet::throws_with([&] { ops::softmax(ops::zeros({3}, DType::I32, kGpu)); },
                             "softmax: x must be float32, float16 or bfloat16, got int32"),
            "int32 into softmax on cuda");
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

namespace {

void run_layernorm(int64_t M, int64_t C, bool affine, bool accumulate, uint64_t seed) {
  const size_t nx = size_t(M * C), nc = size_t(C);
  const double eps = 1e-5;
  std::vector<float> x0 = iet::randn(nx, seed, 1.5f), g0 = iet::randn(nc, seed + 1), b0 = iet::randn(nc, seed + 2),
                     dy0 = iet::randn(nx, seed + 3);
  for (float& v : x0) v -= 2.0f;
  std::vector<float> dg0 = iet::randn(nc, seed + 5), db0 = iet::randn(nc, seed + 6);
  std::string nm = "cuda layerNorm M=" + std::to_string(M) + " C=" + std::to_string(C) + (affine ? " affine" : "") +
                   (accumulate ? " accumulate" : "");
  for (DType dt : kFloatTypes) {
    std::string t = nm + " " + dname(dt);
    std::vector<float> x = rounded(x0, dt), gamma = rounded(g0, dt), beta = rounded(b0, dt), dy = rounded(dy0, dt);
    std::vector<double> xd = iet::to_double(x), gd = iet::to_double(gamma), bd = iet::to_double(beta),
                        dyd = iet::to_double(dy);
    std::vector<double> mref, rref;
    std::vector<double> yref = ln_ref(xd, affine ? gd.data() : nullptr, affine ? bd.data() : nullptr, M, C, eps, &mref, &rref);
    ie::Tensor X = upload(x, {M, C}, dt), Gm = upload(gamma, {C}, dt), Bt = upload(beta, {C}, dt),
               DY = upload(dy, {M, C}, dt);
    poison_cache({bytes_of(nx, dt), size_t(M) * 4});
    ops::NormOut o = ops::layer_norm(X, affine ? &Gm : nullptr, affine ? &Bt : nullptr, eps);
    std::vector<float> mean = download(o.mean), rstd = download(o.rstd);
    IE_EXPECT(o.y.dtype() == dt, t + ": y takes x's dtype");
    IE_EXPECT_REL(iet::rel_error(download(o.y), yref), tol(dt), t + " y");
    IE_EXPECT_REL(iet::rel_error(mean, mref), dt == DType::F32 ? 1e-6 : tol(dt), t + " mean");
    IE_EXPECT_REL(iet::rel_error(rstd, rref), dt == DType::F32 ? 1e-6 : tol(dt), t + " rstd");

    // backward at the kernel's statistics
    std::vector<double> dxref, dgref, dbref;
    ln_grad_ref(xd, affine ? gd.data() : nullptr, dyd, iet::to_double(mean), iet::to_double(rstd), M, C, dxref, dgref,
                dbref);
    ops::GradInto into{upload(dg0, {C}, DType::F32), upload(db0, {C}, DType::F32), true};
    poison_cache({bytes_of(nx, dt), nc * 4});
    ops::NormGrads gr = ops::layer_norm_backward(DY, X, affine ? &Gm : nullptr, affine ? &Bt : nullptr, o.mean, o.rstd,
                                                 accumulate ? &into : nullptr);
    IE_EXPECT_REL(iet::rel_error(download(gr.dx), dxref), tol(dt), t + " dx");
    if (affine) {
      if (accumulate)
        for (size_t c = 0; c < nc; ++c) dgref[c] += dg0[c], dbref[c] += db0[c];
      IE_EXPECT_REL(iet::rel_error(download(gr.dgamma), dgref), tol(dt), t + " dgamma");
      IE_EXPECT_REL(iet::rel_error(download(gr.dbeta), dbref), tol(dt), t + " dbeta");
    }
  }
}

}  // namespace

IE_TEST(cuda_norm, layernorm_affine) {
  if (!iet::cuda_device_or_skip()) return;
  run_layernorm(37, 77, true, false, 1100);
  run_layernorm(1, 1, true, false, 1105);
}
IE_TEST(cuda_norm, layernorm_many_rows_accumulate) {
  if (!iet::cuda_device_or_skip()) return;
  run_layernorm(203, 40, true, true, 1110);
  run_layernorm(70001, 3, true, true, 1115);  // more than 1024 row blocks of 64: longer blocks
}
IE_TEST(cuda_norm, layernorm_no_affine_and_wide) {
  if (!iet::cuda_device_or_skip()) return;
  run_layernorm(9, 33, false, false, 1120);
  run_layernorm(130, 1280, true, false, 1125);
}

// ---------------------------------------------------------------------------------------------
// Activations and GEGLU

namespace {

const char* kActNames[] = {"silu", "gelu", "geluTanh", "quickGelu"};

}  // namespace

IE_TEST(cuda_norm, activations_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  const size_t n = 12347;
  std::vector<float> x0 = iet::randn(n, 101, 3.0f);
  const float specials[] = {0.f, -0.f, 1e-20f, -1e-20f, 30.f, -30.f, 90.f, -90.f, 120.f, -120.f, 8.5f, -8.5f, 1e-3f};
  for (size_t i = 0; i < sizeof specials / sizeof *specials; ++i) x0[i * 7] = specials[i];
  std::vector<float> dy0 = iet::randn(n, 102);
  for (DType dt : kFloatTypes) {
    std::vector<float> x = rounded(x0, dt), dy = rounded(dy0, dt);
    ie::Tensor X = upload(x, {int64_t(n)}, dt), DY = upload(dy, {int64_t(n)}, dt);
    for (int k = 0; k < 4; ++k) {
      std::string nm = std::string("cuda ") + kActNames[k] + " " + dname(dt);
      std::vector<double> ref(n), dref(n);
      for (size_t i = 0; i < n; ++i) {
        ref[i] = iet::ref::act(ops::Act(k), x[i]);
        dref[i] = double(dy[i]) * iet::ref::act_derivative(ops::Act(k), x[i]);
      }
      poison_cache({bytes_of(n, dt)});
      std::vector<float> y = download(ops::activation(ops::Act(k), X));
      poison_cache({bytes_of(n, dt)});
      std::vector<float> dx = download(ops::activation_backward(ops::Act(k), X, DY));
      IE_EXPECT_REL(iet::rel_error(y, ref), tol(dt), nm + " forward");
      IE_EXPECT_REL(iet::rel_error(dx, dref), tol(dt), nm + " backward");
      if (dt == DType::F32) {  // elementwise as the CPU test: the tails are accurate, not just small
        int bad = 0;
        for (size_t i = 0; i < n; ++i) {
          if (!(std::fabs(y[i] - ref[i]) <= 1e-5 * std::fabs(ref[i]) + 1e-36)) ++bad;
          double dtol = 1e-5 * std::fabs(dref[i]) + 1e-6 * std::fabs(dy[i]) * (1 + std::fabs(x[i])) + 1e-36;
          if (!(std::fabs(dx[i] - dref[i]) <= dtol)) ++bad;
        }
        IE_EXPECT(bad == 0, nm + ": elementwise relative error above 1e-5 at " + std::to_string(bad) + " elements");
      }
    }
  }
}

IE_TEST(cuda_norm, geglu_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  for (auto [M, D] : {std::pair<int64_t, int64_t>{37, 53}, {5, 1}, {129, 160}}) {
    const size_t nx = size_t(M * 2 * D), ny = size_t(M * D);
    std::vector<float> x0 = iet::randn(nx, 120 + uint64_t(M), 2.0f), dy0 = iet::randn(ny, 130 + uint64_t(D));
    for (DType dt : kFloatTypes) {
      std::vector<float> x = rounded(x0, dt), dy = rounded(dy0, dt);
      std::vector<double> ref(ny), dref(nx);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t d = 0; d < D; ++d) {
          double h = x[size_t(m * 2 * D + d)], g = x[size_t(m * 2 * D + D + d)], gy = dy[size_t(m * D + d)];
          ref[size_t(m * D + d)] = h * iet::ref::act(ops::Act::GELU, g);
          dref[size_t(m * 2 * D + d)] = gy * iet::ref::act(ops::Act::GELU, g);
          dref[size_t(m * 2 * D + D + d)] = gy * h * iet::ref::act_derivative(ops::Act::GELU, g);
        }
      std::string nm = "cuda geglu M=" + std::to_string(M) + " D=" + std::to_string(D) + " " + dname(dt);
      ie::Tensor X = upload(x, {M, 2 * D}, dt), DY = upload(dy, {M, D}, dt);
      poison_cache({bytes_of(ny, dt)});
      ie::Tensor Y = ops::geglu(X);
      IE_EXPECT(Y.shape() == ie::Shape({M, D}) && Y.dtype() == dt, nm + ": output shape/dtype");
      IE_EXPECT_REL(iet::rel_error(download(Y), ref), tol(dt), nm + " forward");
      poison_cache({bytes_of(nx, dt)});
      IE_EXPECT_REL(iet::rel_error(download(ops::geglu_backward(X, DY)), dref), tol(dt), nm + " backward");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax

IE_TEST(cuda_norm, softmax_forward_backward) {
  if (!iet::cuda_device_or_skip()) return;
  struct Case {
    int64_t M, N;
    float mag;
    bool masked;
  };
  // warp-per-row (N <= 1024) and block-per-row kernels, odd sizes, -inf masks (never a whole row)
  for (const Case& c : {Case{7, 33, 1.f, false}, Case{130, 1000, 3.f, true}, Case{3, 1025, 1.f, false},
                        Case{2, 5000, 5.f, true}, Case{1, 1, 1.f, false}, Case{4099, 77, 2.f, false}}) {
    const size_t n = size_t(c.M * c.N);
    std::vector<float> x0 = iet::randn(n, 7000 + uint64_t(c.N), c.mag), dy0 = iet::randn(n, 7100 + uint64_t(c.N));
    if (c.masked)
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 1; j < c.N; j += 3) x0[size_t(i * c.N + j)] = -std::numeric_limits<float>::infinity();
    for (DType dt : kFloatTypes) {
      char what[128];
      std::snprintf(what, sizeof what, "cuda softmax M=%lld N=%lld mag=%g %s", (long long)c.M, (long long)c.N,
                    double(c.mag), ie::dtype_name(dt));
      std::vector<float> x = rounded(x0, dt), dy = rounded(dy0, dt);
      std::vector<double> yref(n);
      for (int64_t i = 0; i < c.M; ++i) {
        double mx = -std::numeric_limits<double>::infinity(), s = 0;
        for (int64_t j = 0; j < c.N; ++j) mx = std::max(mx, double(x[size_t(i * c.N + j)]));
        for (int64_t j = 0; j < c.N; ++j) s += std::exp(double(x[size_t(i * c.N + j)]) - mx);
        for (int64_t j = 0; j < c.N; ++j) yref[size_t(i * c.N + j)] = std::exp(double(x[size_t(i * c.N + j)]) - mx) / s;
      }
      ie::Tensor X = upload(x, {c.M, c.N}, dt), DY = upload(dy, {c.M, c.N}, dt);
      poison_cache({bytes_of(n, dt)});
      ie::Tensor Y = ops::softmax(X);
      std::vector<float> y = download(Y);
      IE_EXPECT_REL(iet::rel_error(y, yref), tol(dt), std::string(what) + " forward");
      // backward from the kernel's y (as stored)
      std::vector<double> dxref(n);
      for (int64_t i = 0; i < c.M; ++i) {
        double dot = 0;
        for (int64_t j = 0; j < c.N; ++j) dot += double(y[size_t(i * c.N + j)]) * dy[size_t(i * c.N + j)];
        for (int64_t j = 0; j < c.N; ++j) {
          size_t t = size_t(i * c.N + j);
          dxref[t] = double(y[t]) * (double(dy[t]) - dot);
        }
      }
      poison_cache({bytes_of(n, dt)});
      IE_EXPECT_REL(iet::rel_error(download(ops::softmax_backward(Y, DY)), dxref), tol(dt),
                    std::string(what) + " backward");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Nearest upsampling

namespace {

void run_upsample(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, uint64_t seed) {
  const int64_t NC = N * C;
  const size_t nx = size_t(NC * H * W), ny = size_t(NC * OH * OW);
  std::vector<float> x0 = iet::randn(nx, seed), dy0 = iet::randn(ny, seed + 1);
  std::string nm = "cuda upsampleNearest " + std::to_string(NC) + "x" + std::to_string(H) + "x" + std::to_string(W) +
                   " -> " + std::to_string(OH) + "x" + std::to_string(OW);
  for (DType dt : kFloatTypes) {
    std::string t = nm + " " + dname(dt);
    std::vector<float> x = rounded(x0, dt), dy = rounded(dy0, dt);
    std::vector<double> yref(ny), dxref(nx, 0.0);
    for (int64_t c = 0; c < NC; ++c)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          size_t src = size_t((c * H + iet::ref::upsample_src_index(i, H, OH)) * W + iet::ref::upsample_src_index(j, W, OW)), dst = size_t((c * OH + i) * OW + j);
          yref[dst] = x[src];
          dxref[src] += dy[dst];
        }
    ie::Tensor X = upload(x, {N, C, H, W}, dt), DY = upload(dy, {N, C, OH, OW}, dt);
    poison_cache({bytes_of(ny, dt)});
    std::vector<float> y = download(ops::upsample_nearest(X, OH, OW));
    IE_EXPECT_REL(iet::rel_error(y, yref), 1e-7, t + " forward (a copy: exact)");
    poison_cache({bytes_of(nx, dt)});
    std::vector<float> dx = download(ops::upsample_nearest_backward(DY, H, W));
    IE_EXPECT_REL(iet::rel_error(dx, dxref), dt == DType::F32 ? 1e-6 : tol(dt), t + " backward");
    if (dt == DType::F32) {
      // the gather adds in the CPU kernel's order: bit-identical to the CPU op
      ie::Tensor dyc = ops::from_host(dy.data(), dy.size() * 4, {N, C, OH, OW}, DType::F32, ie::Device{});
      ie::Tensor dxc = ops::upsample_nearest_backward(dyc, H, W);
      std::vector<float> cpu(nx);
      ops::copy_to_host(dxc, cpu.data());
      IE_EXPECT(std::memcmp(cpu.data(), dx.data(), nx * 4) == 0, t + ": backward not bit-identical to the CPU op");
    }
  }
}

}  // namespace

IE_TEST(cuda_norm, upsample_nearest) {
  if (!iet::cuda_device_or_skip()) return;
  run_upsample(2, 3, 5, 7, 9, 13, 3000);     // general
  run_upsample(1, 3, 4, 6, 8, 12, 3010);     // exact ×2
  run_upsample(4, 6, 33, 31, 66, 62, 3020);  // ×2, odd sizes
  run_upsample(1, 2, 7, 5, 14, 11, 3030);    // ×2 rows, general columns
  run_upsample(2, 1, 9, 13, 5, 7, 3040);     // downsampling: some inputs get no gradient
  run_upsample(1, 2, 3, 3, 3, 3, 3050);      // identity
  run_upsample(5, 1, 3, 17, 10, 17, 3060);   // ×3.33 rows, identity columns
}

// ---------------------------------------------------------------------------------------------
// Timestep embedding

namespace {

void run_temb(int64_t dim, bool flip, float shift, float max_period, uint64_t seed) {
  const float ts[] = {0.f, 1.f, 999.f, 500.5f, 37.f, 981.f, 0.25f};
  const int64_t N = 7;
  std::vector<float> t0(ts, ts + N);
  t0[6] = iet::rand_uniform(1, seed, 0.f, 1000.f)[0];
  const int64_t half = dim / 2;
  for (DType dt : kFloatTypes) {
    std::vector<float> t = rounded(t0, dt);
    std::vector<double> ref, exact;
    iet::ref::timestep_embedding(t, dim, flip, shift, max_period, ref, exact);
    std::string nm = "cuda timestepEmbedding dim=" + std::to_string(dim) + (flip ? " flip" : "") +
                     " shift=" + std::to_string(shift) + " " + dname(dt);
    ie::Tensor T = upload(t, {N}, dt);
    poison_cache({bytes_of(size_t(N * dim), dt)});
    ie::Tensor Y = ops::timestep_embedding(T, dim, flip, shift, max_period);
    IE_EXPECT(Y.dtype() == dt && Y.shape() == ie::Shape({N, dim}), nm + ": output shape/dtype");
    std::vector<float> out = download(Y);
    if (dt == DType::F32) {
      IE_EXPECT_REL(iet::rel_error(out, ref), 1e-6, nm + " vs float64 sin/cos of the float32 argument");
      double worst = 0;
      for (size_t i = 0; i < out.size(); ++i) worst = std::fmax(worst, std::fabs(double(out[i]) - exact[i]));
      IE_EXPECT_REL(worst, 2e-4, nm + " max abs vs the all-float64 formula");
    } else {
      IE_EXPECT_REL(iet::rel_error(out, ref), tol(dt), nm + " vs the reference from the rounded timesteps");
    }
    IE_EXPECT(out[size_t(flip ? 0 : half)] == 1.0f && out[size_t(flip ? half : 0)] == 0.0f, nm + " t=0 row");
    if (dim % 2)
      for (int64_t n = 0; n < N; ++n) IE_EXPECT(out[size_t(n * dim + dim - 1)] == 0.0f, nm + " zero pad column");
  }
}

}  // namespace

IE_TEST(cuda_norm, timestep_embedding) {
  if (!iet::cuda_device_or_skip()) return;
  run_temb(320, true, 0.0f, 10000.0f, 4000);
  run_temb(128, false, 1.0f, 10000.0f, 4010);
  run_temb(33, true, 0.0f, 10000.0f, 4020);
  run_temb(64, false, 0.0f, 100.0f, 4030);
}
