// conv2d and its backward.
#include "cpu/conv2d.h"
#include "cuda/conv2d.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {

// A scratch buffer of at least `bytes` on the device (undefined when 0).
Tensor scratch(int64_t bytes, Device device) {
  if (bytes <= 0) return Tensor();
  return Tensor::empty({(bytes + 3) / 4}, DType::F32, device);
}
inline void* ptr(const Tensor& t) { return t.defined() ? t.raw() : nullptr; }

cpu::Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p,
                            const char* op) {
  require_float(x, op, "x");
  require_float(w, op, "weight");
  require_same_device(x, w, op, "weight");
  require_same_dtype(x, w, op, "weight");
  require_rank(x, 4, op, "x", "[batch, channels, height, width]");
  require_rank(w, 4, op, "weight", "[out_channels, in_channels, kh, kw]");
  IE_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got [", p.stride_h, ", ", p.stride_w, "]");
  IE_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be >= 0, got [", p.pad_h, ", ", p.pad_w, "]");
  IE_CHECK(x.size(1) == w.size(1), op, ": x has ", x.size(1), " channels but weight ", shape_str(w.shape()),
           " expects ", w.size(1), " input channels");
  if (bias) {
    require_float(*bias, op, "bias");
    require_same_device(x, *bias, op, "bias");
    require_same_dtype(x, *bias, op, "bias");
    require_shape(*bias, {w.size(0)}, op, "bias");
  }
  cpu::Conv2dShape s{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
                     p.stride_h, p.stride_w, p.pad_h, p.pad_w, 0, 0};
  IE_CHECK(s.H + 2 * s.pad_h >= s.R && s.W + 2 * s.pad_w >= s.S, op, ": kernel ", s.R, "x", s.S,
           " is larger than the padded input ", s.H + 2 * s.pad_h, "x", s.W + 2 * s.pad_w);
  s.P = (s.H + 2 * s.pad_h - s.R) / s.stride_h + 1;
  s.Q = (s.W + 2 * s.pad_w - s.S) / s.stride_w + 1;
  return s;
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p) {
  cpu::Conv2dShape s = conv_shape(x, w, bias, p, "conv2d");
  Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, x.dtype(), x.device());
  Tensor b = bias ? *bias : Tensor();
  if (is_cuda(x)) {
    IE_IF_CUDA({
      Tensor col = scratch(cuda::conv2d_scratch(x.dtype(), s, cuda::ConvPass::Forward).col_bytes, x.device());
      launch(x.device(), [=] {
        cuda::conv2d_forward(x.dtype(), s, x.raw(), w.raw(), ptr(b), y.raw(), ptr(col), x.device().index);
      });
    });
    return y;
  }
  launch(x.device(), [=] {
    cpu::conv2d_forward(s, x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr, y.data<float>());
  });
  return y;
}

Conv2dGrads conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool has_bias,
                            const Conv2dParams& p, const GradInto* into) {
  cpu::Conv2dShape s = conv_shape(x, w, nullptr, p, "conv2dBackward");
  require_float(dy, "conv2dBackward", "dy");
  require_same_device(x, dy, "conv2dBackward", "dy");
  require_same_dtype(x, dy, "conv2dBackward", "dy");
  require_shape(dy, {s.N, s.K, s.P, s.Q}, "conv2dBackward", "dy");
  Conv2dGrads g;
  g.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  g.dw = param_grad(into, false, w.shape(), x.device(), "conv2dBackward");
  if (has_bias) g.db = param_grad(into, true, {s.K}, x.device(), "conv2dBackward");
  bool acc = into && into->accumulate;
  Conv2dGrads r = g;
  if (is_cuda(x)) {
    IE_IF_CUDA({
      const DType dt = x.dtype();
      cuda::ConvScratch in = cuda::conv2d_scratch(dt, s, cuda::ConvPass::BackwardInput);
      cuda::ConvScratch wt = cuda::conv2d_scratch(dt, s, cuda::ConvPass::BackwardWeight);
      // One column buffer serves both passes (they run one after the other on the stream).
      Tensor col = scratch(in.col_bytes > wt.col_bytes ? in.col_bytes : wt.col_bytes, x.device());
      Tensor gather = scratch(wt.gather_bytes, x.device());
      launch(x.device(), [=] {
        const int dev = x.device().index;
        cuda::conv2d_backward_input(dt, s, dy.raw(), w.raw(), r.dx.raw(), ptr(col), dev);
        cuda::conv2d_backward_weight(dt, s, x.raw(), dy.raw(), r.dw.raw(), ptr(r.db), acc, ptr(col), ptr(gather), dev);
      });
    });
    return g;
  }
  launch(x.device(), [=] {
    cpu::conv2d_backward_input(s, dy.data<float>(), w.data<float>(), r.dx.data<float>());
    cpu::conv2d_backward_weight(s, x.data<float>(), dy.data<float>(), r.dw.data<float>(),
                                r.db.defined() ? r.db.data<float>() : nullptr, acc);
  });
  return g;
}

}  // namespace ie::ops
