// The UNet's layers, forward and backward side by side (llm.c style), over the ops API.
//
// A layer holds parameter indices into the model's flat buffers (Ctx maps them to tensor views) and,
// during training, the activations its backward needs (`saved`, released as backward consumes them).
// forward(ctx, ...) saves only when ctx.save; backward(ctx, ...) writes parameter gradients straight
// into the flat gradient buffer (GradInto) and returns the input gradients.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ie/ops.h"
#include "ie/unet.h"

namespace ie::unet::detail {

// Registers parameters: name, shape and a 64-byte aligned offset in the flat buffer.
struct ParamTable {
  std::vector<ParamInfo> infos;
  int64_t total = 0;
  int add(const std::string& name, const Shape& shape);
};

struct Ctx {
  const std::vector<Tensor>* values = nullptr;  // parameter views
  const std::vector<Tensor>* grads = nullptr;   // gradient views (backward only)
  bool save = false;                            // keep activations for backward
  bool checkpoint = false;                      // blocks keep only their inputs and recompute
  bool accumulate = false;                      // backward adds to the gradient buffer
  std::atomic<bool>* cancel = nullptr;

  const Tensor& P(int i) const { return (*values)[size_t(i)]; }
  const Tensor* Popt(int i) const { return i >= 0 ? &(*values)[size_t(i)] : nullptr; }
  ops::GradInto into(int w, int b) const;
  // Checkpointing: run a block without keeping anything, and later rerun it keeping everything.
  Ctx without_saving() const {
    Ctx c = *this;
    c.save = false;
    return c;
  }
  Ctx recomputing() const {
    Ctx c = *this;
    c.save = true;
    c.checkpoint = false;
    return c;
  }
  void check_cancel() const;
};

// Sums gradients flowing into one tensor from several consumers.
void accumulate_into(Tensor& acc, const Tensor& g);

struct Linear {
  int w = -1, b = -1;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, bool bias);
  Tensor forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const Tensor& dy) const;  // -> dx
};

struct Conv2d {
  int w = -1, b = -1;
  ops::Conv2dParams p;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad);
  Tensor forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const Tensor& dy) const;  // -> dx
};

struct GroupNorm {
  int w = -1, b = -1;
  int64_t groups = 32;
  double eps = 1e-5;
  bool silu = false;  // fused SiLU after the affine
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t groups, double eps, bool silu);
  ops::NormOut forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const ops::NormOut& saved, const Tensor& dy) const;
};

struct LayerNorm {
  int w = -1, b = -1;
  double eps = 1e-5;
  void init(ParamTable& t, const std::string& name, int64_t C, double eps);
  ops::NormOut forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const ops::NormOut& saved, const Tensor& dy) const;
};

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

int64_t bytes_of(const Tensor& t);

}  // namespace ie::unet::detail
