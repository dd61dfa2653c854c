// Nearest upsampling and the sinusoidal timestep embedding.
#include "cpu/timestep_embedding.h"
#include "cpu/upsample.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

Tensor upsample_nearest(const Tensor& x, int64_t oh, int64_t ow) {
  const char* op = "upsampleNearest";
  require_f32(x, op, "x");
  require_cpu(x, op);
  require_rank(x, 4, op, "x", "[batch, channels, height, width]");
  IE_CHECK(oh >= 1 && ow >= 1, op, ": output size must be positive, got [", oh, ", ", ow, "]");
  IE_CHECK(oh <= (int64_t(1) << 20) && ow <= (int64_t(1) << 20), op, ": output size [", oh, ", ", ow, "] is too large");
  IE_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": x must have a non-empty spatial size, got ", x.desc());
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, DType::F32, x.device());
  int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  launch(x.device(), [=] { cpu::upsample_nearest_forward(x.data<float>(), y.data<float>(), NC, H, W, oh, ow); });
  return y;
}

Tensor upsample_nearest_backward(const Tensor& dy, int64_t h, int64_t w) {
  const char* op = "upsampleNearestBackward";
  require_f32(dy, op, "dy");
  require_cpu(dy, op);
  require_rank(dy, 4, op, "dy", "[batch, channels, height, width]");
  IE_CHECK(h >= 1 && w >= 1, op, ": input size must be positive, got [", h, ", ", w, "]");
  IE_CHECK(h <= dy.size(2) * 1048576 && w <= dy.size(3) * 1048576, op, ": input size is too large");
  Tensor dx = Tensor::empty({dy.size(0), dy.size(1), h, w}, DType::F32, dy.device());
  int64_t NC = dy.size(0) * dy.size(1), OH = dy.size(2), OW = dy.size(3);
  launch(dy.device(), [=] { cpu::upsample_nearest_backward(dy.data<float>(), dx.data<float>(), NC, h, w, OH, OW); });
  return dx;
}

Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip, double shift, double max_period) {
  const char* op = "timestepEmbedding";
  require_f32(t, op, "timesteps");
  require_cpu(t, op);
  require_rank(t, 1, op, "timesteps", "[batch]");
  IE_CHECK(dim >= 2 && dim <= (1 << 20), op, ": dim must be in [2, 1048576], got ", dim);
  require_finite(shift, op, "freqShift");
  require_finite(max_period, op, "maxPeriod");
  IE_CHECK(max_period > 0, op, ": maxPeriod must be > 0, got ", max_period);
  IE_CHECK(double(dim / 2) - shift != 0, op, ": freqShift (", shift, ") must differ from dim/2 (", dim / 2, ")");
  Tensor y = Tensor::empty({t.size(0), dim}, DType::F32, t.device());
  launch(t.device(), [=] {
    cpu::timestep_embedding(t.data<float>(), y.data<float>(), t.size(0), dim, flip, float(shift), float(max_period));
  });
  return y;
}

}  // namespace ie::ops
