// group_norm (optionally fused with SiLU) and layer_norm.
#include "cpu/norm.h"
#include "ops/common.h"
#include "cuda/norm.h"

namespace ie::ops {
using namespace detail;

namespace {
void check_affine(const Tensor& x, const Tensor* gamma, const Tensor* beta, int64_t C, const char* op) {
  if (gamma) {
    require_float_like(x, *gamma, op, "weight");
    require_same_device(x, *gamma, op, "weight");
    require_shape(*gamma, {C}, op, "weight");
  }
  if (beta) {
    require_float_like(x, *beta, op, "bias");
    require_same_device(x, *beta, op, "bias");
    require_shape(*beta, {C}, op, "bias");
  }
}

void check_group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, const char* op) {
  require_float_like(x, x, op, "x");
  IE_CHECK(x.ndim() >= 2, op, ": x must be [batch, channels, ...], got ", x.desc());
  IE_CHECK(groups >= 1 && x.size(1) % groups == 0, op, ": groups (", groups, ") must divide the channel count (",
           x.size(1), ")");
  check_affine(x, gamma, beta, x.size(1), op);
}

Tensor opt(const Tensor* t) { return t ? *t : Tensor(); }
float* fp(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
const void* rp(const Tensor& t) { return t.defined() ? t.raw() : nullptr; }
}  // namespace

NormOut group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, double eps, bool silu) {
  check_group_norm(x, groups, gamma, beta, "groupNorm");
  require_finite(eps, "groupNorm", "eps");
  IE_CHECK(eps > 0, "groupNorm: eps must be > 0, got ", eps);
  int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C > 0 ? N * C : 1);
  NormOut o{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty({N, groups}, DType::F32, x.device()),
            Tensor::empty({N, groups}, DType::F32, x.device())};
  Tensor g = opt(gamma), b = opt(beta);
  if (is_cuda(x)) {
    IE_IF_CUDA({
      Tensor tmp = Tensor::empty({cuda::groupnorm_forward_tmp(N, C, groups)}, DType::F32, x.device());
      launch(x.device(), [=] {
        cuda::groupnorm_forward(x.dtype(), x.raw(), rp(g), rp(b), o.y.raw(), o.mean.data<float>(),
                                o.rstd.data<float>(), tmp.data<float>(), N, C, HW, groups, float(eps), silu,
                                x.device().index);
      });
    });
    return o;
  }
  launch(x.device(), [=] {
    cpu::groupnorm_forward(x.data<float>(), fp(g), fp(b), o.y.data<float>(), o.mean.data<float>(),
                           o.rstd.data<float>(), N, C, HW, groups, float(eps), silu);
  });
  return o;
}

NormGrads group_norm_backward(const Tensor& dy, const Tensor& x, int64_t groups, const Tensor* gamma,
                              const Tensor* beta, const Tensor& mean, const Tensor& rstd, bool silu,
                              const GradInto* into) {
  const char* op = "groupNormBackward";
  check_group_norm(x, groups, gamma, beta, op);
  require_float_like(x, dy, op, "dy");
  require_same_device(x, dy, op, "dy");
  require_shape(dy, x.shape(), op, "dy");
  int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C > 0 ? N * C : 1);
  require_f32(mean, op, "mean");
  require_same_device(x, mean, op, "mean");
  require_shape(mean, {N, groups}, op, "mean");
  require_f32(rstd, op, "rstd");
  require_same_device(x, rstd, op, "rstd");
  require_shape(rstd, {N, groups}, op, "rstd");
  NormGrads r;
  r.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (gamma) r.dgamma = param_grad(into, false, {C}, x.device(), op);
  if (beta) r.dbeta = param_grad(into, true, {C}, x.device(), op);
  bool acc = into && into->accumulate;
  if (x.numel() == 0) {  // nothing to sum: the parameter gradients are 0 (unchanged with accumulate)
    if (!acc)
      for (const Tensor& t : {r.dgamma, r.dbeta})
        if (t.defined()) assign(t, zeros(t.shape(), DType::F32, x.device()), false);
    return r;
  }
  Tensor g = opt(gamma), b = opt(beta);
  if (is_cuda(x)) {
    IE_IF_CUDA({
      Tensor tmp = Tensor::empty({cuda::groupnorm_backward_tmp(N, C, groups)}, DType::F32, x.device());
      launch(x.device(), [=] {
        cuda::groupnorm_backward(x.dtype(), dy.raw(), x.raw(), rp(g), rp(b), mean.data<float>(), rstd.data<float>(),
                                 r.dx.raw(), fp(r.dgamma), fp(r.dbeta), tmp.data<float>(), N, C, HW, groups, silu, acc,
                                 x.device().index);
      });
    });
    return r;
  }
  launch(x.device(), [=] {
    cpu::groupnorm_backward(dy.data<float>(), x.data<float>(), fp(g), fp(b), mean.data<float>(), rstd.data<float>(),
                            r.dx.data<float>(), fp(r.dgamma), fp(r.dbeta), N, C, HW, groups, silu, acc);
  });
  return r;
}

NormOut layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, double eps) {
  const char* op = "layerNorm";
  require_float_like(x, x, op, "x");
  IE_CHECK(x.ndim() >= 1, op, ": x must have at least 1 dimension, got ", x.desc());
  require_finite(eps, op, "eps");
  IE_CHECK(eps > 0, op, ": eps must be > 0, got ", eps);
  int64_t C = x.size(-1), M = C > 0 ? x.numel() / C : 0;
  check_affine(x, gamma, beta, C, op);
  Shape stat(x.shape().begin(), x.shape().end() - 1);
  NormOut o{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(stat, DType::F32, x.device()),
            Tensor::empty(stat, DType::F32, x.device())};
  Tensor g = opt(gamma), b = opt(beta);
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::layernorm_forward(x.dtype(), x.raw(), rp(g), rp(b), o.y.raw(), o.mean.data<float>(), o.rstd.data<float>(),
                              M, C, float(eps), x.device().index);
    }));
    return o;
  }
  launch(x.device(), [=] {
    cpu::layernorm_forward(x.data<float>(), fp(g), fp(b), o.y.data<float>(), o.mean.data<float>(),
                           o.rstd.data<float>(), M, C, float(eps));
  });
  return o;
}

NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor* gamma, const Tensor* beta,
                              const Tensor& mean, const Tensor& rstd, const GradInto* into) {
  const char* op = "layerNormBackward";
  require_float_like(x, x, op, "x");
  IE_CHECK(x.ndim() >= 1, op, ": x must have at least 1 dimension, got ", x.desc());
  int64_t C = x.size(-1), M = C > 0 ? x.numel() / C : 0;
  check_affine(x, gamma, beta, C, op);
  require_float_like(x, dy, op, "dy");
  require_same_device(x, dy, op, "dy");
  require_shape(dy, x.shape(), op, "dy");
  Shape stat(x.shape().begin(), x.shape().end() - 1);
  require_f32(mean, op, "mean");
  require_same_device(x, mean, op, "mean");
  require_shape(mean, stat, op, "mean");
  require_f32(rstd, op, "rstd");
  require_same_device(x, rstd, op, "rstd");
  require_shape(rstd, stat, op, "rstd");
  NormGrads r;
  r.dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (gamma) r.dgamma = param_grad(into, false, {C}, x.device(), op);
  if (beta) r.dbeta = param_grad(into, true, {C}, x.device(), op);
  bool acc = into && into->accumulate;
  Tensor g = opt(gamma);
  if (is_cuda(x)) {
    IE_IF_CUDA({
      bool params = r.dgamma.defined() || r.dbeta.defined();
      int64_t ntmp = cuda::layernorm_backward_tmp(M, C, params);
      Tensor tmp = Tensor::empty({ntmp > 0 ? ntmp : 1}, DType::F32, x.device());
      launch(x.device(), [=] {
        cuda::layernorm_backward(x.dtype(), dy.raw(), x.raw(), rp(g), mean.data<float>(), rstd.data<float>(),
                                 r.dx.raw(), fp(r.dgamma), fp(r.dbeta), tmp.data<float>(), M, C, acc,
                                 x.device().index);
      });
    });
    return r;
  }
  launch(x.device(), [=] {
    cpu::layernorm_backward(dy.data<float>(), x.data<float>(), fp(g), mean.data<float>(), rstd.data<float>(),
                            r.dx.data<float>(), fp(r.dgamma), fp(r.dbeta), M, C, acc);
  });
  return r;
}

}  // namespace ie::ops
