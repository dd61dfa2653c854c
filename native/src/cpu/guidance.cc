#include "cpu/guidance.h"

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {

// Same operation order as the reference, e_unc + gs·(e_txt − e_img) + igs·(e_img − e_unc), so the
// result matches it to the last bit up to FMA contraction.
void pix2pix_guidance(const float* eps, float* out, int64_t n, float s_text, float s_image) {
  const float* t = eps;
  const float* i = eps + n;
  const float* u = eps + 2 * n;
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      float a = u[k] + s_text * (t[k] - i[k]);
      out[k] = a + s_image * (i[k] - u[k]);
    }
  });
}

void pix2pix_guidance_backward(const float* dy, float* deps, int64_t n, float s_text, float s_image) {
  const float ci = s_image - s_text, cu = 1.0f - s_image;
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      float g = dy[k];
      deps[k] = s_text * g;
      deps[n + k] = ci * g;
      deps[2 * n + k] = cu * g;
    }
  });
}

}  // namespace ie::cpu::IE_ISA
