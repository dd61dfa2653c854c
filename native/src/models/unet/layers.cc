// Forward and backward of the UNet's layers. Each backward mirrors its forward line by line, in reverse.
#include "models/unet/layers.h"

#include "ie/error.h"

namespace ie::unet::detail {

using ops::Binary;

namespace {
// Keeps a norm's statistics (its output is saved separately where backward needs it).
ops::NormOut stats_only(ops::NormOut n) {
  n.y = Tensor();
  return n;
}
int64_t stats_bytes(const ops::NormOut& n) { return bytes_of(n.mean) + bytes_of(n.rstd); }
}  // namespace

// ---- ResnetBlock2D ----
void ResnetBlock::init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t temb, int64_t groups,
                       double eps) {
  norm1.init(t, name + ".norm1", in, groups, eps, true);
  conv1.init(t, name + ".conv1", in, out, 3, 1, 1);
  time_emb_proj.init(t, name + ".time_emb_proj", temb, out, true);
  norm2.init(t, name + ".norm2", out, groups, eps, true);
  conv2.init(t, name + ".conv2", out, out, 3, 1, 1);
  has_shortcut = in != out;
  if (has_shortcut) shortcut.init(t, name + ".conv_shortcut", in, out, 1, 1, 0);
}

Tensor ResnetBlock::forward(const Ctx& c, const Tensor& x, const Tensor& emb_act) {
  if (c.save && c.checkpoint) {
    Tensor y = forward(c.without_saving(), x, emb_act);
    s = Saved{};
    s.x = x;
    s.recompute = true;
    return y;
  }
  ops::NormOut n1 = norm1.forward(c, x);                          // SiLU(GN(x))
  Tensor h = conv1.forward(c, n1.y);
  Tensor t = time_emb_proj.forward(c, emb_act);                   // [B, out]
  h = ops::binary(Binary::Add, h, t.reshape({t.size(0), t.size(1), 1, 1}));
  ops::NormOut n2 = norm2.forward(c, h);                          // SiLU(GN(h))
  Tensor y = conv2.forward(c, n2.y);
  Tensor out = ops::binary(Binary::Add, has_shortcut ? shortcut.forward(c, x) : x, y);
  if (c.save) s = Saved{x, n1.y, h, n2.y, stats_only(n1), stats_only(n2), false};
  return out;
}

Tensor ResnetBlock::backward(const Ctx& c, const Tensor& dy, const Tensor& emb_act, Tensor& demb_act) {
  if (s.recompute) forward(c.recomputing(), s.x, emb_act);
  Tensor da2 = conv2.backward(c, s.a2, dy);
  s.a2 = Tensor();
  Tensor dh = norm2.backward(c, s.h, s.n2, da2);
  s.h = Tensor();
  Tensor dt = ops::sum_to_shape(dh, {dh.size(0), dh.size(1), 1, 1}).reshape({dh.size(0), dh.size(1)});
  accumulate_into(demb_act, time_emb_proj.backward(c, emb_act, dt));
  Tensor da1 = conv1.backward(c, s.a1, dh);
  s.a1 = Tensor();
  Tensor dx = norm1.backward(c, s.x, s.n1, da1);
  dx = ops::binary(Binary::Add, dx, has_shortcut ? shortcut.backward(c, s.x, dy) : dy);
  s = Saved{};
  return dx;
}

int64_t ResnetBlock::saved_bytes() const {
  return bytes_of(s.x) + bytes_of(s.a1) + bytes_of(s.h) + bytes_of(s.a2) + stats_bytes(s.n1) + stats_bytes(s.n2);
}

// ---- Attention ----
void Attention::init(ParamTable& t, const std::string& name, int64_t C, int64_t ctx_dim, int64_t h, bool is_self) {
  to_q.init(t, name + ".to_q", C, C, false);
  to_k.init(t, name + ".to_k", ctx_dim, C, false);
  to_v.init(t, name + ".to_v", ctx_dim, C, false);
  to_out.init(t, name + ".to_out.0", C, C, true);
  heads = h;
  self = is_self;
}

Tensor Attention::forward(const Ctx& c, const Tensor& x, const Tensor& context) {
  Tensor q = to_q.forward(c, x), k = to_k.forward(c, context), v = to_v.forward(c, context);
  ops::AttentionOut a = ops::attention(q, k, v, heads, 0.0, false);  // scale 1/√(head dim)
  Tensor y = to_out.forward(c, a.out);
  if (c.save) s = Saved{x, self ? Tensor() : context, q, k, v, a.out, a.lse};
  return y;
}

Tensor Attention::backward(const Ctx& c, const Tensor& dy, Tensor& dctx) {
  Tensor dout = to_out.backward(c, s.o, dy);
  ops::AttentionGrads g = ops::attention_backward(s.q, s.k, s.v, s.o, s.lse, dout, heads, 0.0, false);
  s.q = s.k = s.v = s.o = s.lse = Tensor();
  const Tensor& context = self ? s.x : s.ctx;
  Tensor dx = to_q.backward(c, s.x, g.dq);
  Tensor dk = to_k.backward(c, context, g.dk);
  Tensor dv = to_v.backward(c, context, g.dv);
  if (self) {
    dx = ops::binary(Binary::Add, dx, ops::binary(Binary::Add, dk, dv));
  } else {
    accumulate_into(dctx, dk);
    accumulate_into(dctx, dv);
  }
  s = Saved{};
  return dx;
}

int64_t Attention::saved_bytes() const {
  // s.x is the block's normalised input (owned here); the cross-attention context is shared.
  return bytes_of(s.x) + bytes_of(s.q) + bytes_of(s.k) + bytes_of(s.v) + bytes_of(s.o) + bytes_of(s.lse);
}

// ---- BasicTransformerBlock ----
void TransformerBlock::init(ParamTable& t, const std::string& name, int64_t C, int64_t ctx_dim, int64_t heads) {
  norm1.init(t, name + ".norm1", C, 1e-5);
  attn1.init(t, name + ".attn1", C, C, heads, true);
  norm2.init(t, name + ".norm2", C, 1e-5);
  attn2.init(t, name + ".attn2", C, ctx_dim, heads, false);
  norm3.init(t, name + ".norm3", C, 1e-5);
  ff_in.init(t, name + ".ff.net.0.proj", C, 8 * C, true);
  ff_out.init(t, name + ".ff.net.2", 4 * C, C, true);
}

Tensor TransformerBlock::forward(const Ctx& c, const Tensor& x, const Tensor& ehs) {
  ops::NormOut n1 = norm1.forward(c, x);
  Tensor x1 = ops::binary(Binary::Add, x, attn1.forward(c, n1.y, n1.y));
  ops::NormOut n2 = norm2.forward(c, x1);
  Tensor x2 = ops::binary(Binary::Add, x1, attn2.forward(c, n2.y, ehs));
  ops::NormOut n3 = norm3.forward(c, x2);
  Tensor p = ff_in.forward(c, n3.y);  // [B, L, 8C]
  Tensor g = ops::geglu(p);           // a · GELU(gate) -> [B, L, 4C]
  Tensor out = ops::binary(Binary::Add, x2, ff_out.forward(c, g));
  if (c.save) {
    s = Saved{x, x1, x2, n3.y, p, g, stats_only(n1), stats_only(n2), stats_only(n3)};
  }
  return out;
}

Tensor TransformerBlock::backward(const Ctx& c, const Tensor& dy, Tensor& dehs) {
  Tensor dg = ff_out.backward(c, s.g, dy);
  s.g = Tensor();
  Tensor dp = ops::geglu_backward(s.p, dg);
  s.p = Tensor();
  Tensor dn3 = ff_in.backward(c, s.n3y, dp);
  s.n3y = Tensor();
  Tensor dx2 = ops::binary(Binary::Add, dy, norm3.backward(c, s.x2, s.n3, dn3));
  s.x2 = Tensor();
  Tensor dn2 = attn2.backward(c, dx2, dehs);
  Tensor dx1 = ops::binary(Binary::Add, dx2, norm2.backward(c, s.x1, s.n2, dn2));
  s.x1 = Tensor();
  Tensor unused;
  Tensor dn1 = attn1.backward(c, dx1, unused);
  Tensor dx = ops::binary(Binary::Add, dx1, norm1.backward(c, s.x, s.n1, dn1));
  s = Saved{};
  return dx;
}

int64_t TransformerBlock::saved_bytes() const {
  return bytes_of(s.x) + bytes_of(s.x1) + bytes_of(s.x2) + bytes_of(s.n3y) + bytes_of(s.p) + bytes_of(s.g) +
         stats_bytes(s.n1) + stats_bytes(s.n2) + stats_bytes(s.n3) + attn1.saved_bytes() + attn2.saved_bytes();
}

// ---- Transformer2DModel ----
void Transformer2D::init(ParamTable& t, const std::string& name, int64_t channels, int64_t ctx_dim, int64_t heads,
                         int64_t layers, int64_t groups, bool linear_proj) {
  C = channels;
  norm.init(t, name + ".norm", C, groups, 1e-6, false);
  Shape proj = linear_proj ? Shape{C, C} : Shape{C, C, 1, 1};
  proj_in_w = t.add(name + ".proj_in.weight", proj);
  proj_in_b = t.add(name + ".proj_in.bias", {C});
  blocks.resize(size_t(layers));
  for (int64_t i = 0; i < layers; ++i)
    blocks[size_t(i)].init(t, name + ".transformer_blocks." + std::to_string(i), C, ctx_dim, heads);
  proj_out_w = t.add(name + ".proj_out.weight", proj);
  proj_out_b = t.add(name + ".proj_out.bias", {C});
}

Tensor Transformer2D::forward(const Ctx& c, const Tensor& x, const Tensor& ehs) {
  if (c.save && c.checkpoint) {
    Tensor y = forward(c.without_saving(), x, ehs);
    s = Saved{};
    s.x = x;
    s.recompute = true;
    for (auto& b : blocks) b.s = TransformerBlock::Saved{};
    return y;
  }
  int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  ops::NormOut n = norm.forward(c, x);
  Tensor nx = n.y.reshape({B, C, H * W});
  // tokens[b, l, o] = Σ_c W_in[o, c] · nx[b, c, l] + bias[o]: the 1x1 conv and the NCHW -> tokens transpose.
  Tensor tok = ops::matmul(nx, c.P(proj_in_w).reshape({C, C}), true, true);
  tok = ops::binary(Binary::Add, tok, c.P(proj_in_b));
  for (auto& b : blocks) tok = b.forward(c, tok, ehs);
  // y[b, o, l] = Σ_c W_out[o, c] · tokens[b, l, c] + bias[o]: the tokens -> NCHW transpose and the 1x1 conv.
  Tensor y = ops::matmul(c.P(proj_out_w).reshape({C, C}), tok, false, true);
  y = ops::binary(Binary::Add, y, c.P(proj_out_b).reshape({C, 1}));
  Tensor out = ops::binary(Binary::Add, y.reshape({B, C, H, W}), x);
  if (c.save) s = Saved{x, nx, tok, stats_only(n), false};
  return out;
}

Tensor Transformer2D::backward(const Ctx& c, const Tensor& dy, const Tensor& ehs, Tensor& dehs) {
  if (s.recompute) forward(c.recomputing(), s.x, ehs);
  int64_t B = dy.size(0), H = dy.size(2), W = dy.size(3);
  Tensor dyf = dy.reshape({B, C, H * W});
  ops::MatmulGrads go = ops::matmul_backward(c.P(proj_out_w).reshape({C, C}), s.tokens_out, dyf, false, true);
  s.tokens_out = Tensor();
  ops::assign((*c.grads)[size_t(proj_out_w)], go.da, c.accumulate);
  ops::assign((*c.grads)[size_t(proj_out_b)], ops::reduce(dyf, {0, 2}, false, false), c.accumulate);
  Tensor dtok = go.db;
  for (size_t i = blocks.size(); i-- > 0;) dtok = blocks[i].backward(c, dtok, dehs);
  ops::MatmulGrads gi = ops::matmul_backward(s.nx, c.P(proj_in_w).reshape({C, C}), dtok, true, true);
  s.nx = Tensor();
  ops::assign((*c.grads)[size_t(proj_in_w)], gi.db, c.accumulate);
  ops::assign((*c.grads)[size_t(proj_in_b)], ops::reduce(dtok, {0, 1}, false, false), c.accumulate);
  Tensor dx = norm.backward(c, s.x, s.n, gi.da.reshape({B, C, H, W}));
  s = Saved{};
  return ops::binary(Binary::Add, dx, dy);
}

void Transformer2D::clear_saved() {
  s = Saved{};
  for (auto& b : blocks) {
    b.s = TransformerBlock::Saved{};
    b.attn1.s = Attention::Saved{};
    b.attn2.s = Attention::Saved{};
  }
}

int64_t Transformer2D::saved_bytes() const {
  int64_t n = bytes_of(s.x) + bytes_of(s.nx) + bytes_of(s.tokens_out) + stats_bytes(s.n);
  for (const auto& b : blocks) n += b.saved_bytes();
  return n;
}

}  // namespace ie::unet::detail
