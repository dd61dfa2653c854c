// The UNet's layers, forward and backward side by side (llm.c style), over the ops API.
//
// The basic layers (Linear, Conv2d, GroupNorm, LayerNorm) are shared with the other models
// (models/common/layers.h). The blocks here keep, during training, the activations their backward
// needs (`s`, released as backward consumes them); forward saves only when ctx.save.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ie/ops.h"
#include "ie/unet.h"
#include "models/common/layers.h"

namespace ie::unet::detail {

using nn::accumulate_into;
using nn::bytes_of;
using nn::Conv2d;
using nn::Ctx;
using nn::GroupNorm;
using nn::LayerNorm;
using nn::Linear;
using nn::ParamTable;

// ResnetBlock2D (SPEC §2.3): GN+SiLU, conv3x3, + time projection, GN+SiLU, conv3x3, + shortcut.
struct ResnetBlock {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2, shortcut;
  Linear time_emb_proj;
  bool has_shortcut = false;
  struct Saved {
    Tensor x, a1, h, a2;
    ops::NormOut n1, n2;
    bool recompute = false;
  } s;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t temb, int64_t groups, double eps);
  // emb_act = SiLU(time embedding) [B, temb]
  Tensor forward(const Ctx& c, const Tensor& x, const Tensor& emb_act);
  // Adds this block's gradient of emb_act to demb_act.
  Tensor backward(const Ctx& c, const Tensor& dy, const Tensor& emb_act, Tensor& demb_act);
  int64_t saved_bytes() const;
};

// Attention (SPEC §2.9): to_q/to_k/to_v without bias, multi-head softmax(q·kᵀ/√d)·v, to_out.0.
struct Attention {
  Linear to_q, to_k, to_v, to_out;
  int64_t heads = 8;
  bool self = true;
  struct Saved {
    Tensor x, ctx, q, k, v, o, lse;
  } s;
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t ctx_dim, int64_t heads, bool self);
  Tensor forward(const Ctx& c, const Tensor& x, const Tensor& context);
  // -> dx; the gradient of the context (cross-attention) is added to dctx.
  Tensor backward(const Ctx& c, const Tensor& dy, Tensor& dctx);
  int64_t saved_bytes() const;
};

// BasicTransformerBlock (SPEC §2.8): self-attention, cross-attention, GEGLU feed-forward, each
// pre-LayerNorm with a residual.
struct TransformerBlock {
  LayerNorm norm1, norm2, norm3;
  Attention attn1, attn2;
  Linear ff_in, ff_out;
  struct Saved {
    Tensor x, x1, x2, n3y, p, g;  // the LayerNorm inputs; norm3's output; GEGLU in/out
    ops::NormOut n1, n2, n3;
  } s;
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t ctx_dim, int64_t heads);
  Tensor forward(const Ctx& c, const Tensor& x, const Tensor& ehs);
  Tensor backward(const Ctx& c, const Tensor& dy, Tensor& dehs);
  int64_t saved_bytes() const;
};

// Transformer2DModel (SPEC §2.7): GroupNorm(eps 1e-6), proj_in, tokens through the transformer
// blocks, proj_out, + residual. proj_in/out are 1x1 convs (or Linear with use_linear_projection);
// both act as a matrix on the channel axis, computed fused with the NCHW <-> tokens transpose.
struct Transformer2D {
  GroupNorm norm;
  int proj_in_w = -1, proj_in_b = -1, proj_out_w = -1, proj_out_b = -1;
  std::vector<TransformerBlock> blocks;
  int64_t C = 0;
  struct Saved {
    Tensor x, nx, tokens_out;
    ops::NormOut n;
    bool recompute = false;
  } s;
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t ctx_dim, int64_t heads, int64_t layers,
            int64_t groups, bool linear_proj);
  Tensor forward(const Ctx& c, const Tensor& x, const Tensor& ehs);
  // ehs: the forward's text states (a checkpointed block recomputes its forward).
  Tensor backward(const Ctx& c, const Tensor& dy, const Tensor& ehs, Tensor& dehs);
  int64_t saved_bytes() const;
  void clear_saved();
};

}  // namespace ie::unet::detail
