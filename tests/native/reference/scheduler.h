// float64 reference of the fused scheduler step and the Philox noise it draws (used by
// test_scheduler.cc and test_cuda_elem_loss.cc).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ie/philox.h"
#include "ie/step_coeffs.h"

namespace iet::ref {

// The standard normals the step draws for elements [offset, offset + n) of stream `seed`
// (one Philox pair per two elements: an odd offset starts mid-pair).
inline std::vector<float> philox_normals(size_t n, uint64_t seed, uint64_t offset) {
  std::vector<float> z(n);
  for (size_t i = 0; i < n; ++i) {
    float a, b;
    ie::philox_normal_pair(seed, (offset + i) >> 1, &a, &b);
    z[i] = ((offset + i) & 1) ? b : a;
  }
  return z;
}

// prev / pred of the step with coefficients k on e (model output), x (sample), h (history, read only
// when `history`) and noise z (nullptr: none).
inline void scheduler_step(const ie::SchedStepCoeffs& k, const std::vector<float>& e, const std::vector<float>& x,
                           const std::vector<float>& h, bool history, const std::vector<float>* z,
                           std::vector<double>* prev, std::vector<double>* pred) {
  const size_t n = x.size();
  prev->resize(n), pred->resize(n);
  for (size_t i = 0; i < n; ++i) {
    double xi = x[i], ei = e[i];
    double x0 = (double(k.x0_x) * xi + double(k.x0_e) * ei) / k.x0_div;
    x0 = std::min(std::max(x0, double(k.clip_lo)), double(k.clip_hi));
    double p = k.out_x0 * x0 + double(k.out_x) * xi;
    double hh = history ? double(h[i]) : p;
    (*pred)[i] = p;
    (*prev)[i] = k.p_x * xi + k.p_pred * p + k.p_e * ei + (xi - p) / k.d_div * k.d_mul +
                 double(k.h_out) * k.h_in * (p - hh) + k.p_noise * (z ? double((*z)[i]) : 0.0);
  }
}

}  // namespace iet::ref
