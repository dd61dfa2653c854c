// Classifier-free guidance combinations.
#include "cpu/guidance.h"
#include "cuda/guidance.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

Tensor pix2pix_guidance(const Tensor& eps, double s_text, double s_image) {
  const char* op = "pix2pixGuidance";
  require_float(eps, op, "eps");
  IE_CHECK(eps.ndim() >= 1 && eps.size(0) % 3 == 0 && eps.size(0) > 0, op,
           ": eps must stack the three guidance batches [text+image, image, neither] on axis 0 (a multiple of 3), got ",
           eps.desc());
  require_finite(s_text, op, "guidanceScale");
  require_finite(s_image, op, "imageGuidanceScale");
  Shape out_shape = eps.shape();
  out_shape[0] /= 3;
  Tensor y = Tensor::empty(out_shape, eps.dtype(), eps.device());
  const int64_t n = y.numel();
  if (is_cuda(eps)) {
    IE_IF_CUDA(launch(eps.device(), [=] {
      cuda::pix2pix_guidance(eps.dtype(), eps.raw(), y.raw(), n, float(s_text), float(s_image), eps.device().index);
    }));
    return y;
  }
  launch(eps.device(), [=] { cpu::pix2pix_guidance(eps.data<float>(), y.data<float>(), n, float(s_text), float(s_image)); });
  return y;
}

Tensor pix2pix_guidance_backward(const Tensor& dy, double s_text, double s_image) {
  const char* op = "pix2pixGuidanceBackward";
  require_float(dy, op, "dy");
  IE_CHECK(dy.ndim() >= 1 && dy.size(0) > 0, op, ": dy must have a batch axis, got ", dy.desc());
  require_finite(s_text, op, "guidanceScale");
  require_finite(s_image, op, "imageGuidanceScale");
  Shape in_shape = dy.shape();
  in_shape[0] *= 3;
  Tensor d = Tensor::empty(in_shape, dy.dtype(), dy.device());
  const int64_t n = dy.numel();
  if (is_cuda(dy)) {
    IE_IF_CUDA(launch(dy.device(), [=] {
      cuda::pix2pix_guidance_backward(dy.dtype(), dy.raw(), d.raw(), n, float(s_text), float(s_image), dy.device().index);
    }));
    return d;
  }
  launch(dy.device(), [=] {
    cpu::pix2pix_guidance_backward(dy.data<float>(), d.data<float>(), n, float(s_text), float(s_image));
  });
  return d;
}

}  // namespace ie::ops
