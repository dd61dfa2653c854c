// Finite-difference checks of a model's parameter gradients, shared by the model backward tests:
// the analytic directional derivative dot(grad, v) against a Richardson-extrapolated central
// difference ((fd(h/2)·4 − fd(h))/3, so the O(h²) curvature term of random tiny nets cancels), for
// v random over all parameters and then over each named group (a wrong gradient cannot hide in the sum).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fixtures.h"
#include "harness.h"
#include "ie/ops.h"
#include "ie/params.h"

namespace iet {

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

inline double richardson(const std::function<double(float)>& loss_at, float h) {
  double f1 = (loss_at(h) - loss_at(-h)) / (2 * h), f2 = (loss_at(h / 2) - loss_at(-h / 2)) / h;
  return (4 * f2 - f1) / 3;
}

// `flat`: the model's parameters (moved and restored); `grads`: their analytic gradient of `loss`;
// `groups`: substrings of parameter names ("" = all).
inline void check_param_groups(const std::vector<ie::ParamInfo>& params, const ie::Tensor& flat,
                               const std::vector<float>& grads, const std::function<double()>& loss,
                               const std::vector<std::string>& groups, float h, double tol, const std::string& tag) {
  std::vector<float> p0 = host(flat);
  std::vector<float> vall = host(ie::ops::randn(flat.shape(), 12, 0, 0, 1, ie::DType::F32, {}));
  auto set = [&](const std::vector<float>& v) {
    ie::ops::assign(flat, ie::ops::from_host(v.data(), v.size() * 4, flat.shape(), ie::DType::F32, {}), false);
  };
  for (const std::string& group : groups) {
    std::vector<float> v(vall.size(), 0.f);
    for (const auto& p : params)
      if (p.name.find(group) != std::string::npos)
        for (int64_t i = 0; i < ie::shape_numel(p.shape); ++i) v[size_t(p.offset + i)] = vall[size_t(p.offset + i)];
    double f = richardson([&](float s) {
      std::vector<float> p = p0;
      for (size_t i = 0; i < p.size(); ++i) p[i] += s * v[i];
      set(p);
      return loss();
    }, h);
    set(p0);
    double an = dot(grads, v), err = std::fabs(an - f) / std::fabs(f);
    const std::string what = tag + " d params (" + (group.empty() ? "all" : group) + ")";
    std::printf("  %s: analytic %.6f, numeric %.6f, rel %.1e\n", what.c_str(), an, f, err);
    IE_EXPECT_REL(err, tol, what + " vs finite differences");
  }
}

}  // namespace iet
