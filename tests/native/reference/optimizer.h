// float64 reference of one AdamW step (used by test_optimizer.cc and test_cuda_elem_loss.cc).
#pragma once
#include <cmath>
#include <vector>

#include "ie/ops.h"

namespace iet::ref {

// One step of o (o.step, o.grad_scale included) on P, M, V with gradient g.
inline void adamw_step(std::vector<double>& P, std::vector<double>& M, std::vector<double>& V,
                       const std::vector<float>& g, const ie::ops::AdamWOptions& o) {
  double bc1 = 1 - std::pow(o.beta1, double(o.step)), bc2 = 1 - std::pow(o.beta2, double(o.step));
  for (size_t i = 0; i < P.size(); ++i) {
    double gi = double(g[i]) * o.grad_scale;
    M[i] = o.beta1 * M[i] + (1 - o.beta1) * gi;
    V[i] = o.beta2 * V[i] + (1 - o.beta2) * gi * gi;
    P[i] = P[i] * (1 - o.lr * o.weight_decay) - o.lr / bc1 * M[i] / (std::sqrt(V[i]) / std::sqrt(bc2) + o.eps);
  }
}

}  // namespace iet::ref
