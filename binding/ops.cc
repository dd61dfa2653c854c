// The ops, exposed one-to-one from ie::ops. Arguments are positional and fully checked here
// (types) and in ie::ops (shapes, dtypes, devices); the TypeScript facade adds option objects.
#include <napi.h>

#include "convert.h"
#include "errors.h"
#include "ie/ops.h"
#include "ops_binding.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

using CI = Napi::CallbackInfo;
using ie::Tensor;

Napi::Value W(Napi::Env env, const Tensor& t) {
  if (!t.defined()) return env.Null();
  return TensorWrap::Wrap(env, t);
}

template <typename F>
Napi::Value run(const CI& info, F&& fn) {
  return guard(info.Env(), [&]() -> Napi::Value { return fn(info.Env()); });
}

Napi::Value Full(const CI& info) {
  auto shape = shape_arg(info, 0, "full", "shape");
  double v = number_arg(info, 1, "full", "value");
  auto dt = dtype_arg(info, 2, "full");
  auto dev = device_arg(info, 3, "full");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::full(shape, v, dt, dev)); });
}

// randn(shape, seed, offset, mean, std, dtype, device) / rand(shape, seed, offset, lo, hi, ...)
template <bool Normal>
Napi::Value Random(const CI& info) {
  const char* op = Normal ? "randn" : "rand";
  auto shape = shape_arg(info, 0, op, "shape");
  int64_t seed = int_arg(info, 1, op, "seed"), offset = int_arg(info, 2, op, "offset");
  if (seed < 0 || offset < 0) type_error(info.Env(), std::string(op) + ": seed and offset must be >= 0");
  double a = number_arg(info, 3, op, Normal ? "mean" : "low"), b = number_arg(info, 4, op, Normal ? "std" : "high");
  auto dt = dtype_arg(info, 5, op);
  auto dev = device_arg(info, 6, op);
  return run(info, [&](Napi::Env env) {
    return W(env, Normal ? ie::ops::randn(shape, uint64_t(seed), uint64_t(offset), float(a), float(b), dt, dev)
                         : ie::ops::rand(shape, uint64_t(seed), uint64_t(offset), float(a), float(b), dt, dev));
  });
}

// fromBuffer(arrayBufferView, shape, dtype, device): copies the bytes.
Napi::Value FromBuffer(const CI& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) type_error(env, "tensor: data must be a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  auto shape = shape_arg(info, 1, "tensor", "shape");
  auto dt = dtype_arg(info, 2, "tensor");
  auto dev = device_arg(info, 3, "tensor");
  const char* base = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t bytes = ta.ByteLength();
  return run(info, [&](Napi::Env e) { return W(e, ie::ops::from_host(base, bytes, shape, dt, dev)); });
}

Napi::Value Cast(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "to", "x");
  auto dt = dtype_arg(info, 1, "to");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::cast(x, dt)); });
}

Napi::Value ToDevice(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "to", "x");
  auto dev = device_arg(info, 1, "to");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::to_device(x, dev)); });
}

Napi::Value Clone(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "clone", "x");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::clone(x)); });
}

Napi::Value Matmul(const CI& info) {
  const Tensor& a = tensor_arg(info, 0, "matmul", "a");
  const Tensor& b = tensor_arg(info, 1, "matmul", "b");
  bool ta = bool_arg(info, 2, "matmul", "transA"), tb = bool_arg(info, 3, "matmul", "transB");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::matmul(a, b, ta, tb)); });
}

Napi::Value MatmulBackward(const CI& info) {
  const char* op = "matmulBackward";
  const Tensor& a = tensor_arg(info, 0, op, "a");
  const Tensor& b = tensor_arg(info, 1, op, "b");
  const Tensor& dy = tensor_arg(info, 2, op, "dy");
  bool ta = bool_arg(info, 3, op, "transA"), tb = bool_arg(info, 4, op, "transB");
  return run(info, [&](Napi::Env env) {
    auto g = ie::ops::matmul_backward(a, b, dy, ta, tb);
    Napi::Object o = Napi::Object::New(env);
    o.Set("da", W(env, g.da));
    o.Set("db", W(env, g.db));
    return o;
  });
}

Napi::Value Linear(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "linear", "x");
  const Tensor& w = tensor_arg(info, 1, "linear", "weight");
  const Tensor* b = optional_tensor_arg(info, 2, "linear", "bias");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::linear(x, w, b)); });
}

Napi::Value LinearBackward(const CI& info) {
  const char* op = "linearBackward";
  const Tensor& x = tensor_arg(info, 0, op, "x");
  const Tensor& w = tensor_arg(info, 1, op, "weight");
  const Tensor& dy = tensor_arg(info, 2, op, "dy");
  bool hb = bool_arg(info, 3, op, "hasBias");
  return run(info, [&](Napi::Env env) {
    auto g = ie::ops::linear_backward(x, w, dy, hb);
    Napi::Object o = Napi::Object::New(env);
    o.Set("dx", W(env, g.dx));
    o.Set("dw", W(env, g.dw));
    o.Set("db", W(env, g.db));
    return o;
  });
}

ie::ops::Conv2dParams conv_params(const CI& info, size_t i, const char* op) {
  ie::ops::Conv2dParams p;
  p.stride_h = int_arg(info, i, op, "stride[0]");
  p.stride_w = int_arg(info, i + 1, op, "stride[1]");
  p.pad_h = int_arg(info, i + 2, op, "padding[0]");
  p.pad_w = int_arg(info, i + 3, op, "padding[1]");
  return p;
}

Napi::Value Conv2d(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "conv2d", "x");
  const Tensor& w = tensor_arg(info, 1, "conv2d", "weight");
  const Tensor* b = optional_tensor_arg(info, 2, "conv2d", "bias");
  auto p = conv_params(info, 3, "conv2d");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::conv2d(x, w, b, p)); });
}

Napi::Value Conv2dBackward(const CI& info) {
  const char* op = "conv2dBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  const Tensor& x = tensor_arg(info, 1, op, "x");
  const Tensor& w = tensor_arg(info, 2, op, "weight");
  bool hb = bool_arg(info, 3, op, "hasBias");
  auto p = conv_params(info, 4, op);
  return run(info, [&](Napi::Env env) {
    auto g = ie::ops::conv2d_backward(dy, x, w, hb, p);
    Napi::Object o = Napi::Object::New(env);
    o.Set("dx", W(env, g.dx));
    o.Set("dw", W(env, g.dw));
    o.Set("db", W(env, g.db));
    return o;
  });
}

Napi::Object norm_out(Napi::Env env, const ie::ops::NormOut& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("y", W(env, r.y));
  o.Set("mean", W(env, r.mean));
  o.Set("rstd", W(env, r.rstd));
  return o;
}
Napi::Object norm_grads(Napi::Env env, const ie::ops::NormGrads& g) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dx", W(env, g.dx));
  o.Set("dgamma", W(env, g.dgamma));
  o.Set("dbeta", W(env, g.dbeta));
  return o;
}

// groupNorm(x, groups, gamma?, beta?, eps, silu)
Napi::Value GroupNorm(const CI& info) {
  const char* op = "groupNorm";
  const Tensor& x = tensor_arg(info, 0, op, "x");
  int64_t g = int_arg(info, 1, op, "groups");
  const Tensor* gamma = optional_tensor_arg(info, 2, op, "weight");
  const Tensor* beta = optional_tensor_arg(info, 3, op, "bias");
  double eps = number_arg(info, 4, op, "eps");
  bool silu = bool_arg(info, 5, op, "silu");
  return run(info, [&](Napi::Env env) { return norm_out(env, ie::ops::group_norm(x, g, gamma, beta, eps, silu)); });
}

// groupNormBackward(dy, x, groups, gamma?, beta?, mean, rstd, silu)
Napi::Value GroupNormBackward(const CI& info) {
  const char* op = "groupNormBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  const Tensor& x = tensor_arg(info, 1, op, "x");
  int64_t g = int_arg(info, 2, op, "groups");
  const Tensor* gamma = optional_tensor_arg(info, 3, op, "weight");
  const Tensor* beta = optional_tensor_arg(info, 4, op, "bias");
  const Tensor& mean = tensor_arg(info, 5, op, "mean");
  const Tensor& rstd = tensor_arg(info, 6, op, "rstd");
  bool silu = bool_arg(info, 7, op, "silu");
  return run(info, [&](Napi::Env env) {
    return norm_grads(env, ie::ops::group_norm_backward(dy, x, g, gamma, beta, mean, rstd, silu));
  });
}

Napi::Value LayerNorm(const CI& info) {
  const char* op = "layerNorm";
  const Tensor& x = tensor_arg(info, 0, op, "x");
  const Tensor* gamma = optional_tensor_arg(info, 1, op, "weight");
  const Tensor* beta = optional_tensor_arg(info, 2, op, "bias");
  double eps = number_arg(info, 3, op, "eps");
  return run(info, [&](Napi::Env env) { return norm_out(env, ie::ops::layer_norm(x, gamma, beta, eps)); });
}

Napi::Value LayerNormBackward(const CI& info) {
  const char* op = "layerNormBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  const Tensor& x = tensor_arg(info, 1, op, "x");
  const Tensor* gamma = optional_tensor_arg(info, 2, op, "weight");
  const Tensor* beta = optional_tensor_arg(info, 3, op, "bias");
  const Tensor& mean = tensor_arg(info, 4, op, "mean");
  const Tensor& rstd = tensor_arg(info, 5, op, "rstd");
  return run(info, [&](Napi::Env env) {
    return norm_grads(env, ie::ops::layer_norm_backward(dy, x, gamma, beta, mean, rstd));
  });
}

ie::ops::Act act_arg(const CI& info, size_t i, const char* op) {
  int64_t k = int_arg(info, i, op, "kind");
  if (k < 0 || k > 3) type_error(info.Env(), std::string(op) + ": unknown activation kind " + std::to_string(k));
  return ie::ops::Act(int(k));
}

Napi::Value Activation(const CI& info) {
  auto k = act_arg(info, 0, "activation");
  const Tensor& x = tensor_arg(info, 1, "activation", "x");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::activation(k, x)); });
}

Napi::Value ActivationBackward(const CI& info) {
  auto k = act_arg(info, 0, "activationBackward");
  const Tensor& x = tensor_arg(info, 1, "activationBackward", "x");
  const Tensor& dy = tensor_arg(info, 2, "activationBackward", "dy");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::activation_backward(k, x, dy)); });
}

Napi::Value Geglu(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "geglu", "x");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::geglu(x)); });
}

Napi::Value GegluBackward(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "gegluBackward", "x");
  const Tensor& dy = tensor_arg(info, 1, "gegluBackward", "dy");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::geglu_backward(x, dy)); });
}

Napi::Value Softmax(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "softmax", "x");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::softmax(x)); });
}

Napi::Value SoftmaxBackward(const CI& info) {
  const Tensor& y = tensor_arg(info, 0, "softmaxBackward", "y");
  const Tensor& dy = tensor_arg(info, 1, "softmaxBackward", "dy");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::softmax_backward(y, dy)); });
}

// attention(q, k, v, heads, scale, causal)
Napi::Value Attention(const CI& info) {
  const char* op = "attention";
  const Tensor& q = tensor_arg(info, 0, op, "q");
  const Tensor& k = tensor_arg(info, 1, op, "k");
  const Tensor& v = tensor_arg(info, 2, op, "v");
  int64_t h = int_arg(info, 3, op, "heads");
  double scale = number_arg(info, 4, op, "scale");
  bool causal = bool_arg(info, 5, op, "causal");
  return run(info, [&](Napi::Env env) {
    auto r = ie::ops::attention(q, k, v, h, scale, causal);
    Napi::Object o = Napi::Object::New(env);
    o.Set("out", W(env, r.out));
    o.Set("lse", W(env, r.lse));
    return o;
  });
}

// attentionBackward(q, k, v, out, lse, dout, heads, scale, causal)
Napi::Value AttentionBackward(const CI& info) {
  const char* op = "attentionBackward";
  const Tensor& q = tensor_arg(info, 0, op, "q");
  const Tensor& k = tensor_arg(info, 1, op, "k");
  const Tensor& v = tensor_arg(info, 2, op, "v");
  const Tensor& out = tensor_arg(info, 3, op, "out");
  const Tensor& lse = tensor_arg(info, 4, op, "lse");
  const Tensor& dout = tensor_arg(info, 5, op, "dout");
  int64_t h = int_arg(info, 6, op, "heads");
  double scale = number_arg(info, 7, op, "scale");
  bool causal = bool_arg(info, 8, op, "causal");
  return run(info, [&](Napi::Env env) {
    auto g = ie::ops::attention_backward(q, k, v, out, lse, dout, h, scale, causal);
    Napi::Object o = Napi::Object::New(env);
    o.Set("dq", W(env, g.dq));
    o.Set("dk", W(env, g.dk));
    o.Set("dv", W(env, g.dv));
    return o;
  });
}

Napi::Value Upsample(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "upsampleNearest", "x");
  int64_t h = int_arg(info, 1, "upsampleNearest", "height"), w = int_arg(info, 2, "upsampleNearest", "width");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::upsample_nearest(x, h, w)); });
}

Napi::Value UpsampleBackward(const CI& info) {
  const char* op = "upsampleNearestBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  int64_t h = int_arg(info, 1, op, "height"), w = int_arg(info, 2, op, "width");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::upsample_nearest_backward(dy, h, w)); });
}

// timestepEmbedding(t, dim, flip, shift, maxPeriod)
Napi::Value TimestepEmbedding(const CI& info) {
  const char* op = "timestepEmbedding";
  const Tensor& t = tensor_arg(info, 0, op, "timesteps");
  int64_t dim = int_arg(info, 1, op, "dim");
  bool flip = bool_arg(info, 2, op, "flipSinToCos");
  double shift = number_arg(info, 3, op, "freqShift"), maxp = number_arg(info, 4, op, "maxPeriod");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::timestep_embedding(t, dim, flip, shift, maxp)); });
}

// pix2pixGuidance(eps, guidanceScale, imageGuidanceScale)
Napi::Value Pix2pixGuidance(const CI& info) {
  const char* op = "pix2pixGuidance";
  const Tensor& eps = tensor_arg(info, 0, op, "eps");
  double st = number_arg(info, 1, op, "guidanceScale"), si = number_arg(info, 2, op, "imageGuidanceScale");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::pix2pix_guidance(eps, st, si)); });
}

Napi::Value Pix2pixGuidanceBackward(const CI& info) {
  const char* op = "pix2pixGuidanceBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  double st = number_arg(info, 1, op, "guidanceScale"), si = number_arg(info, 2, op, "imageGuidanceScale");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::pix2pix_guidance_backward(dy, st, si)); });
}

ie::ops::Binary binary_arg(const CI& info, size_t i, const char* op) {
  int64_t k = int_arg(info, i, op, "op");
  if (k < 0 || k > 3) type_error(info.Env(), std::string(op) + ": unknown binary op " + std::to_string(k));
  return ie::ops::Binary(int(k));
}

Napi::Value Binary(const CI& info) {
  auto k = binary_arg(info, 0, "binary");
  const Tensor& a = tensor_arg(info, 1, "binary", "a");
  const Tensor& b = tensor_arg(info, 2, "binary", "b");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::binary(k, a, b)); });
}

Napi::Value BinaryBackward(const CI& info) {
  auto k = binary_arg(info, 0, "binaryBackward");
  const Tensor& a = tensor_arg(info, 1, "binaryBackward", "a");
  const Tensor& b = tensor_arg(info, 2, "binaryBackward", "b");
  const Tensor& dy = tensor_arg(info, 3, "binaryBackward", "dy");
  return run(info, [&](Napi::Env env) {
    auto g = ie::ops::binary_backward(k, a, b, dy);
    Napi::Object o = Napi::Object::New(env);
    o.Set("da", W(env, g.da));
    o.Set("db", W(env, g.db));
    return o;
  });
}

Napi::Value Affine(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "scale", "x");
  double a = number_arg(info, 1, "scale", "alpha"), b = number_arg(info, 2, "scale", "beta");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::affine(x, a, b)); });
}

// reduce(x, axes, keepdim, mean)
Napi::Value Reduce(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "reduce", "x");
  auto axes = int_list_arg(info, 1, "reduce", "axes");
  bool keep = bool_arg(info, 2, "reduce", "keepdim"), mean = bool_arg(info, 3, "reduce", "mean");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::reduce(x, axes, keep, mean)); });
}

// reduceBackward(dy, xShape, axes, keepdim, mean)
Napi::Value ReduceBackward(const CI& info) {
  const char* op = "reduceBackward";
  const Tensor& dy = tensor_arg(info, 0, op, "dy");
  auto shape = shape_arg(info, 1, op, "shape");
  auto axes = int_list_arg(info, 2, op, "axes");
  bool keep = bool_arg(info, 3, op, "keepdim"), mean = bool_arg(info, 4, op, "mean");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::reduce_backward(dy, shape, axes, keep, mean)); });
}

Napi::Value SumToShape(const CI& info) {
  const Tensor& dy = tensor_arg(info, 0, "sumToShape", "dy");
  auto shape = shape_arg(info, 1, "sumToShape", "shape");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::sum_to_shape(dy, shape)); });
}

// assign(dst, src, accumulate): dst = src (or +=), in place; dst may be a view (of a flat buffer).
Napi::Value Assign(const CI& info) {
  const Tensor& dst = tensor_arg(info, 0, "assign", "dst");
  const Tensor& src = tensor_arg(info, 1, "assign", "src");
  bool acc = bool_arg(info, 2, "assign", "accumulate");
  return run(info, [&](Napi::Env env) {
    ie::ops::assign(dst, src, acc);
    return env.Undefined();
  });
}

Napi::Value Concat(const CI& info) {
  auto xs = tensor_list_arg(info, 0, "concat", "tensors");
  int64_t axis = int_arg(info, 1, "concat", "axis");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::concat(xs, axis)); });
}

Napi::Value Split(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "split", "x");
  auto sizes = int_list_arg(info, 1, "split", "sizes");
  int64_t axis = int_arg(info, 2, "split", "axis");
  return run(info, [&](Napi::Env env) {
    auto parts = ie::ops::split(x, sizes, axis);
    Napi::Array a = Napi::Array::New(env, parts.size());
    for (size_t i = 0; i < parts.size(); ++i) a[uint32_t(i)] = W(env, parts[i]);
    return a;
  });
}

// tripletLoss(pred, target, keep: Uint8Array, margin, weight, mseWeight, hingeCap, gradScale, l2, stopGradPos)
//   -> { grad, stats }
Napi::Value TripletLoss(const CI& info) {
  const char* op = "tripletLoss";
  const Tensor& p = tensor_arg(info, 0, op, "pred");
  const Tensor& t = tensor_arg(info, 1, op, "target");
  if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    type_error(info.Env(), std::string(op) + ": mask must be a Uint8Array");
  Napi::Uint8Array k = info[2].As<Napi::Uint8Array>();
  std::vector<uint8_t> keep(k.Data(), k.Data() + k.ElementLength());
  ie::ops::TripletLossOptions o;
  o.margin = number_arg(info, 3, op, "margin");
  o.weight = number_arg(info, 4, op, "weight");
  o.mse_weight = number_arg(info, 5, op, "mseWeight");
  o.threshold = number_arg(info, 6, op, "hingeThreshold");
  o.grad_scale = number_arg(info, 7, op, "gradScale");
  o.l2 = bool_arg(info, 8, op, "l2");
  o.stop_grad_positive = bool_arg(info, 9, op, "stopGradPositive");
  return run(info, [&](Napi::Env env) {
    ie::ops::TripletLossOut r = ie::ops::triplet_loss(p, t, keep, o);
    Napi::Object out = Napi::Object::New(env);
    out.Set("grad", W(env, r.grad));
    out.Set("stats", W(env, r.stats));
    return out;
  });
}

// adamwStep(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, step, gradScale)
Napi::Value AdamwStep(const CI& info) {
  const char* op = "adamwStep";
  const Tensor& p = tensor_arg(info, 0, op, "params");
  const Tensor& g = tensor_arg(info, 1, op, "grads");
  const Tensor& m = tensor_arg(info, 2, op, "m");
  const Tensor& v = tensor_arg(info, 3, op, "v");
  ie::ops::AdamWOptions o;
  o.lr = number_arg(info, 4, op, "lr");
  o.beta1 = number_arg(info, 5, op, "beta1");
  o.beta2 = number_arg(info, 6, op, "beta2");
  o.eps = number_arg(info, 7, op, "eps");
  o.weight_decay = number_arg(info, 8, op, "weightDecay");
  o.step = int_arg(info, 9, op, "step");
  o.grad_scale = number_arg(info, 10, op, "gradScale");
  return run(info, [&](Napi::Env env) {
    ie::ops::adamw_step(p, g, m, v, o);
    return env.Undefined();
  });
}

Napi::Value SumSquares(const CI& info) {
  const Tensor& x = tensor_arg(info, 0, "sumSquares", "x");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::sum_squares(x)); });
}

Napi::Value EmaUpdate(const CI& info) {
  const Tensor& e = tensor_arg(info, 0, "emaUpdate", "ema");
  const Tensor& p = tensor_arg(info, 1, "emaUpdate", "params");
  double decay = number_arg(info, 2, "emaUpdate", "decay");
  return run(info, [&](Napi::Env env) {
    ie::ops::ema_update(e, p, decay);
    return env.Undefined();
  });
}

Napi::Value MseLoss(const CI& info) {
  const Tensor& p = tensor_arg(info, 0, "mseLoss", "pred");
  const Tensor& t = tensor_arg(info, 1, "mseLoss", "target");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::mse_loss(p, t)); });
}

Napi::Value MseLossBackward(const CI& info) {
  const Tensor& p = tensor_arg(info, 0, "mseLossBackward", "pred");
  const Tensor& t = tensor_arg(info, 1, "mseLossBackward", "target");
  const Tensor& g = tensor_arg(info, 2, "mseLossBackward", "dloss");
  return run(info, [&](Napi::Env env) { return W(env, ie::ops::mse_loss_backward(p, t, g)); });
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const CI&);
  };
  const Entry entries[] = {
      {"full", Full},
      {"randn", Random<true>},
      {"rand", Random<false>},
      {"fromBuffer", FromBuffer},
      {"cast", Cast},
      {"toDevice", ToDevice},
      {"clone", Clone},
      {"matmul", Matmul},
      {"matmulBackward", MatmulBackward},
      {"linear", Linear},
      {"linearBackward", LinearBackward},
      {"conv2d", Conv2d},
      {"conv2dBackward", Conv2dBackward},
      {"groupNorm", GroupNorm},
      {"groupNormBackward", GroupNormBackward},
      {"layerNorm", LayerNorm},
      {"layerNormBackward", LayerNormBackward},
      {"activation", Activation},
      {"activationBackward", ActivationBackward},
      {"geglu", Geglu},
      {"gegluBackward", GegluBackward},
      {"softmax", Softmax},
      {"softmaxBackward", SoftmaxBackward},
      {"attention", Attention},
      {"attentionBackward", AttentionBackward},
      {"upsampleNearest", Upsample},
      {"upsampleNearestBackward", UpsampleBackward},
      {"timestepEmbedding", TimestepEmbedding},
      {"pix2pixGuidance", Pix2pixGuidance},
      {"pix2pixGuidanceBackward", Pix2pixGuidanceBackward},
      {"binary", Binary},
      {"binaryBackward", BinaryBackward},
      {"affine", Affine},
      {"reduce", Reduce},
      {"reduceBackward", ReduceBackward},
      {"sumToShape", SumToShape},
      {"assign", Assign},
      {"concat", Concat},
      {"split", Split},
      {"mseLoss", MseLoss},
      {"tripletLoss", TripletLoss},
      {"adamwStep", AdamwStep},
      {"sumSquares", SumSquares},
      {"emaUpdate", EmaUpdate},
      {"mseLossBackward", MseLossBackward},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}

}  // namespace ieb
