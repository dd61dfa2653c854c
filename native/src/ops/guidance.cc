// Classifier-free guidance combinations.
#include "cpu/guidance.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

Tensor pix2pix_guidance(const Tensor& eps, double s_text, double s_image) {
  const char* op = "pix2pixGuidance";
  require_f32(eps, op, "eps");
  require_cpu(eps, op);
  IE_CHECK(eps.ndim() >= 1 && eps.size(0) % 3 == 0 && eps.size(0) > 0, op,
           ": eps must stack the three guidance batches [text+image, image, neither] on axis 0 (a multiple of 3), got ",
           eps.desc());
  require_finite(s_text, op, "guidanceScale");
  require_finite(s_image, op, "imageGuidanceScale");
  Shape out_shape = eps.shape();
  out_shape[0] /= 3;
  Tensor y = Tensor::empty(out_shape, DType::F32, eps.device());
  const int64_t n = y.numel();
  launch(eps.device(), [=] { cpu::pix2pix_guidance(eps.data<float>(), y.data<float>(), n, float(s_text), float(s_image)); });
  return y;
}

Tensor pix2pix_guidance_backward(const Tensor& dy, double s_text, double s_image) {
  const char* op = "pix2pixGuidanceBackward";
  require_f32(dy, op, "dy");
  require_cpu(dy, op);
  IE_CHECK(dy.ndim() >= 1 && dy.size(0) > 0, op, ": dy must have a batch axis, got ", dy.desc());
  require_finite(s_text, op, "guidanceScale");
  require_finite(s_image, op, "imageGuidanceScale");
  Shape in_shape = dy.shape();
  in_shape[0] *= 3;
  Tensor d = Tensor::empty(in_shape, DType::F32, dy.device());
  const int64_t n = dy.numel();
  launch(dy.device(), [=] {
    cpu::pix2pix_guidance_backward(dy.data<float>(), d.data<float>(), n, float(s_text), float(s_image));
  });
  return d;
}

}  // namespace ie::ops
