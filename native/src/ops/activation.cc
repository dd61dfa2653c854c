// Pointwise activations, GEGLU and softmax.
#include "cpu/activation.h"
#include "cpu/softmax.h"
#include "cuda/activation.h"
#include "cuda/softmax.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

static const char* act_name(Act k) {
  switch (k) {
    case Act::SiLU: return "silu";
    case Act::GELU: return "gelu";
    case Act::GELUTanh: return "geluTanh";
    case Act::QuickGELU: return "quickGelu";
  }
  return "activation";
}

static void check_kind(int k, const char* op) {
  IE_CHECK(k >= 0 && k <= 3, op, ": unknown activation kind ", k);
}

Tensor activation(Act kind, const Tensor& x) {
  check_kind(int(kind), "activation");
  const char* op = act_name(kind);
  require_float_like(x, x, op, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::activation_forward(x.dtype(), int(kind), x.raw(), y.raw(), x.numel(), x.device().index);
    }));
    return y;
  }
  launch(x.device(), [=] { cpu::activation_forward(cpu::Activation(int(kind)), x.data<float>(), y.data<float>(), x.numel()); });
  return y;
}

Tensor activation_backward(Act kind, const Tensor& x, const Tensor& dy) {
  check_kind(int(kind), "activationBackward");
  const char* op = act_name(kind);
  require_float_like(x, x, op, "x");
  require_float_like(x, dy, op, "dy");
  require_same_device(x, dy, op, "dy");
  require_shape(dy, x.shape(), op, "dy");
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::activation_backward(x.dtype(), int(kind), x.raw(), dy.raw(), dx.raw(), x.numel(), x.device().index);
    }));
    return dx;
  }
  launch(x.device(), [=] {
    cpu::activation_backward(cpu::Activation(int(kind)), x.data<float>(), dy.data<float>(), dx.data<float>(), x.numel());
  });
  return dx;
}

static Shape geglu_out(const Tensor& x, const char* op) {
  require_float_like(x, x, op, "x");
  IE_CHECK(x.ndim() >= 1 && x.size(-1) % 2 == 0, op, ": the last dimension of x must be even (hidden ‖ gate), got ",
           x.desc());
  Shape s = x.shape();
  s.back() /= 2;
  return s;
}

Tensor geglu(const Tensor& x) {
  Shape s = geglu_out(x, "geglu");
  Tensor y = Tensor::empty(s, x.dtype(), x.device());
  int64_t D = s.back(), M = D > 0 ? y.numel() / D : 0;
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] { cuda::geglu_forward(x.dtype(), x.raw(), y.raw(), M, D, x.device().index); }));
    return y;
  }
  launch(x.device(), [=] { cpu::geglu_forward(x.data<float>(), y.data<float>(), M, D); });
  return y;
}

Tensor geglu_backward(const Tensor& x, const Tensor& dy) {
  Shape s = geglu_out(x, "gegluBackward");
  require_float_like(x, dy, "gegluBackward", "dy");
  require_same_device(x, dy, "gegluBackward", "dy");
  require_shape(dy, s, "gegluBackward", "dy");
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t D = s.back(), M = D > 0 ? dy.numel() / D : 0;
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::geglu_backward(x.dtype(), x.raw(), dy.raw(), dx.raw(), M, D, x.device().index);
    }));
    return dx;
  }
  launch(x.device(), [=] { cpu::geglu_backward(x.data<float>(), dy.data<float>(), dx.data<float>(), M, D); });
  return dx;
}

Tensor softmax(const Tensor& x) {
  require_float_like(x, x, "softmax", "x");
  IE_CHECK(x.ndim() >= 1, "softmax: x must have at least 1 dimension, got ", x.desc());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t N = x.size(-1), M = N > 0 ? x.numel() / N : 0;
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] { cuda::softmax_forward(x.dtype(), x.raw(), y.raw(), M, N, x.device().index); }));
    return y;
  }
  launch(x.device(), [=] { cpu::softmax_forward(x.data<float>(), y.data<float>(), M, N); });
  return y;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  require_float_like(y, y, "softmaxBackward", "y");
  IE_CHECK(y.ndim() >= 1, "softmaxBackward: y must have at least 1 dimension, got ", y.desc());
  require_float_like(y, dy, "softmaxBackward", "dy");
  require_same_device(y, dy, "softmaxBackward", "dy");
  require_shape(dy, y.shape(), "softmaxBackward", "dy");
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  int64_t N = y.size(-1), M = N > 0 ? y.numel() / N : 0;
  if (is_cuda(y)) {
    IE_IF_CUDA(launch(y.device(), [=] {
      cuda::softmax_backward(y.dtype(), y.raw(), dy.raw(), dx.raw(), M, N, y.device().index);
    }));
    return dx;
  }
  launch(y.device(), [=] { cpu::softmax_backward(y.data<float>(), dy.data<float>(), dx.data<float>(), M, N); });
  return dx;
}

}  // namespace ie::ops
