#include "models/common/layers.h"

#include "ie/error.h"

namespace ie::nn {

using ops::Binary;

ops::GradInto Ctx::into(int w, int b) const {
  ops::GradInto g;
  g.dw = (*grads)[size_t(w)];
  if (b >= 0) g.db = (*grads)[size_t(b)];
  g.accumulate = accumulate;
  return g;
}

void Ctx::check_cancel() const {
  if (cancel && cancel->load(std::memory_order_relaxed)) fail(model, ": cancelled");
}

void accumulate_into(Tensor& acc, const Tensor& g) {
  acc = acc.defined() ? ops::binary(Binary::Add, acc, g) : g;
}

int64_t bytes_of(const Tensor& t) { return t.defined() ? int64_t(t.nbytes()) : 0; }

// ---- Linear ----
void Linear::init(ParamTable& t, const std::string& name, int64_t in, int64_t out, bool bias) {
  w = t.add(name + ".weight", {out, in});
  b = bias ? t.add(name + ".bias", {out}) : -1;
}
Tensor Linear::forward(const Ctx& c, const Tensor& x) const { return ops::linear(x, c.P(w), c.Popt(b)); }
Tensor Linear::backward(const Ctx& c, const Tensor& x, const Tensor& dy) const {
  ops::GradInto g = c.into(w, b);
  return ops::linear_backward(x, c.P(w), dy, b >= 0, &g).dx;
}

// ---- Conv2d ----
void Conv2d::init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride,
                  int64_t pad) {
  w = t.add(name + ".weight", {out, in, k, k});
  b = t.add(name + ".bias", {out});
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
}
Tensor Conv2d::forward(const Ctx& c, const Tensor& x) const { return ops::conv2d(x, c.P(w), c.Popt(b), p); }
Tensor Conv2d::backward(const Ctx& c, const Tensor& x, const Tensor& dy) const {
  ops::GradInto g = c.into(w, b);
  return ops::conv2d_backward(dy, x, c.P(w), true, p, &g).dx;
}

// ---- GroupNorm / LayerNorm ----
void GroupNorm::init(ParamTable& t, const std::string& name, int64_t C, int64_t g, double e, bool s) {
  w = t.add(name + ".weight", {C});
  b = t.add(name + ".bias", {C});
  groups = g;
  eps = e;
  silu = s;
}
ops::NormOut GroupNorm::forward(const Ctx& c, const Tensor& x) const {
  return ops::group_norm(x, groups, c.Popt(w), c.Popt(b), eps, silu);
}
Tensor GroupNorm::backward(const Ctx& c, const Tensor& x, const ops::NormOut& s, const Tensor& dy) const {
  ops::GradInto g = c.into(w, b);
  return ops::group_norm_backward(dy, x, groups, c.Popt(w), c.Popt(b), s.mean, s.rstd, silu, &g).dx;
}

void LayerNorm::init(ParamTable& t, const std::string& name, int64_t C, double e) {
  w = t.add(name + ".weight", {C});
  b = t.add(name + ".bias", {C});
  eps = e;
}
ops::NormOut LayerNorm::forward(const Ctx& c, const Tensor& x) const {
  return ops::layer_norm(x, c.Popt(w), c.Popt(b), eps);
}
Tensor LayerNorm::backward(const Ctx& c, const Tensor& x, const ops::NormOut& s, const Tensor& dy) const {
  ops::GradInto g = c.into(w, b);
  return ops::layer_norm_backward(dy, x, c.Popt(w), c.Popt(b), s.mean, s.rstd, &g).dx;
}

}  // namespace ie::nn
