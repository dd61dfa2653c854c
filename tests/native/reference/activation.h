// float64 references of the pointwise activations and their derivatives (used by
// test_activation.cc and test_cuda_norm.cc). K is ie::cpu::Activation or ie::ops::Act (the same
// enumerator names).
#pragma once
#include <cmath>

namespace iet::ref {

inline const double kSqrt2 = std::sqrt(2.0), kPi = 3.14159265358979323846;

template <typename K>
double act(K k, double x) {
  if (k == K::SiLU) return x / (1 + std::exp(-x));
  if (k == K::GELU) return 0.5 * x * std::erfc(-x / kSqrt2);  // erfc keeps the left tail exact
  if (k == K::GELUTanh)  // ½x(1 + tanh u) written as x/(1 + e^(−2u)): no cancellation in the tail
    return x / (1 + std::exp(-2 * std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
  if (k == K::QuickGELU) return x / (1 + std::exp(-1.702 * x));
  return 0;
}

template <typename K>
double act_derivative(K k, double x) {
  if (k == K::SiLU) {
    double s = 1 / (1 + std::exp(-x));
    return s * (1 + x * (1 - s));
  }
  if (k == K::GELU) return 0.5 * std::erfc(-x / kSqrt2) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * kPi);
  if (k == K::GELUTanh) {
    double c = std::sqrt(2 / kPi), u = c * (x + 0.044715 * x * x * x), s = 1 / (1 + std::exp(-2 * u));
    return s + x * s * (1 - s) * 2 * c * (1 + 3 * 0.044715 * x * x);
  }
  if (k == K::QuickGELU) {
    double s = 1 / (1 + std::exp(-1.702 * x));
    return s + 1.702 * x * s * (1 - s);
  }
  return 0;
}

}  // namespace iet::ref
