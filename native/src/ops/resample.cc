// Nearest upsampling and the sinusoidal timestep embedding.
#include <cmath>

#include "cpu/timestep_embedding.h"
#include "cpu/upsample.h"
#include "cuda/timestep_embedding.h"
#include "cuda/upsample.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

// The CPU keeps float32 and its messages; on CUDA float32, float16 or bfloat16.
static void require_float_any(const Tensor& x, const char* op, const char* arg) {
  if (x.defined() && is_cuda(x)) require_float(x, op, arg);
  else require_f32(x, op, arg);
}

Tensor upsample_nearest(const Tensor& x, int64_t oh, int64_t ow) {
  const char* op = "upsampleNearest";
  require_float_any(x, op, "x");
  require_rank(x, 4, op, "x", "[batch, channels, height, width]");
  IE_CHECK(oh >= 1 && ow >= 1, op, ": output size must be positive, got [", oh, ", ", ow, "]");
  IE_CHECK(oh <= (int64_t(1) << 20) && ow <= (int64_t(1) << 20), op, ": output size [", oh, ", ", ow, "] is too large");
  IE_CHECK(x.size(2) >= 1 && x.size(3) >= 1, op, ": x must have a non-empty spatial size, got ", x.desc());
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, x.dtype(), x.device());
  int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::upsample_nearest_forward(x.dtype(), x.raw(), y.raw(), NC, H, W, oh, ow, x.device().index);
    }));
    return y;
  }
  launch(x.device(), [=] { cpu::upsample_nearest_forward(x.data<float>(), y.data<float>(), NC, H, W, oh, ow); });
  return y;
}

Tensor upsample_nearest_backward(const Tensor& dy, int64_t h, int64_t w) {
  const char* op = "upsampleNearestBackward";
  require_float_any(dy, op, "dy");
  require_rank(dy, 4, op, "dy", "[batch, channels, height, width]");
  IE_CHECK(h >= 1 && w >= 1, op, ": input size must be positive, got [", h, ", ", w, "]");
  IE_CHECK(h <= dy.size(2) * 1048576 && w <= dy.size(3) * 1048576, op, ": input size is too large");
  Tensor dx = Tensor::empty({dy.size(0), dy.size(1), h, w}, dy.dtype(), dy.device());
  int64_t NC = dy.size(0) * dy.size(1), OH = dy.size(2), OW = dy.size(3);
  if (is_cuda(dy)) {
    IE_IF_CUDA(launch(dy.device(), [=] {
      cuda::upsample_nearest_backward(dy.dtype(), dy.raw(), dx.raw(), NC, h, w, OH, OW, dy.device().index);
    }));
    return dx;
  }
  launch(dy.device(), [=] { cpu::upsample_nearest_backward(dy.data<float>(), dx.data<float>(), NC, h, w, OH, OW); });
  return dx;
}

Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip, double shift, double max_period) {
  const char* op = "timestepEmbedding";
  require_float_any(t, op, "timesteps");
  require_rank(t, 1, op, "timesteps", "[batch]");
  IE_CHECK(dim >= 2 && dim <= (1 << 20), op, ": dim must be in [2, 1048576], got ", dim);
  require_finite(shift, op, "freqShift");
  require_finite(max_period, op, "maxPeriod");
  IE_CHECK(max_period > 0, op, ": maxPeriod must be > 0, got ", max_period);
  IE_CHECK(double(dim / 2) - shift != 0, op, ": freqShift (", shift, ") must differ from dim/2 (", dim / 2, ")");
  Tensor y = Tensor::empty({t.size(0), dim}, t.dtype(), t.device());
  if (is_cuda(t)) {
    // The float32 constants exactly as the CPU kernel forms them (diffusers' float32 arithmetic).
    const float neg_log = float(-std::log(double(float(max_period))));
    const float denom = float(double(dim / 2) - double(float(shift)));
    IE_IF_CUDA(launch(t.device(), [=] {
      cuda::timestep_embedding(t.dtype(), t.raw(), y.raw(), t.size(0), dim, flip, neg_log, denom, t.device().index);
    }));
    return y;
  }
  launch(t.device(), [=] {
    cpu::timestep_embedding(t.data<float>(), y.data<float>(), t.size(0), dim, flip, float(shift), float(max_period));
  });
  return y;
}

}  // namespace ie::ops
