// CLIPTextModel forward (SPEC §5) over the shared layers and the ops API.
#include <cmath>
#include <cstring>

#include "ie/clip.h"
#include "ie/cuda.h"
#include "ie/device_memory.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "models/common/layers.h"

namespace ie::clip {

using nn::Ctx;
using nn::LayerNorm;
using nn::Linear;
using ops::Binary;

namespace {

struct EncoderLayer {
  Linear q, k, v, out;
  LayerNorm ln1, ln2;
  Linear fc1, fc2;
};

// What a training forward keeps of one layer for its backward.
struct LayerSaved {
  Tensor x, y1, q, k, v, r, y2, f1, m;  // input, LN1 out, q/k/v, residual after attention, LN2 out, fc1 out, act out
  ops::NormOut n1, n2;
  ops::AttentionOut att;
};

}  // namespace

struct TextModel::Impl {
  Config cfg;
  Device device;
  nn::ParamStore store;
  int token_embedding = -1, position_embedding = -1;
  std::vector<EncoderLayer> layers;
  LayerNorm final_ln;

  // Training: the activations of the last training forward, its ids, and the gradient buffer.
  struct Saved {
    std::vector<LayerSaved> layers;
    Tensor x_final;
    ops::NormOut final_norm;
    std::vector<int32_t> ids;
    int64_t B = 0, L = 0;
    bool done = false;  // the forward ran to the end
  } s;
  bool saved_pending = false;  // caller-thread view: a training forward was enqueued, no backward yet
  Shape out_shape;
  Tensor grads;
  std::vector<Tensor> gviews;

  void build();
  // x [B, L, D] -> the layer's output; `sv` (training) keeps what layer_backward needs.
  Tensor layer_forward(const EncoderLayer& l, const Ctx& c, const Tensor& x, LayerSaved* sv = nullptr) const;
  // d output -> d input; parameter gradients into c.grads.
  Tensor layer_backward(const EncoderLayer& l, const Ctx& c, const LayerSaved& sv, const Tensor& dout) const;
  Tensor embed(const std::vector<int32_t>& ids, int64_t B, int64_t L) const;
  // d embeddings [B, L, D] -> the token rows of the ids and the first L position rows.
  void embed_backward(const Ctx& c, const Tensor& dx) const;
  ops::Act act() const { return cfg.hidden_act == "gelu" ? ops::Act::GELU : ops::Act::QuickGELU; }
};

void TextModel::Impl::build() {
  const Config& c = cfg;
  nn::ParamTable& t = store.table;
  const int64_t D = c.hidden_size;
  // transformers' state_dict order (CLIPAttention registers k, v, q, out).
  token_embedding = t.add("text_model.embeddings.token_embedding.weight", {c.vocab_size, D});
  position_embedding = t.add("text_model.embeddings.position_embedding.weight", {c.max_position_embeddings, D});
  layers.resize(size_t(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    EncoderLayer& l = layers[size_t(i)];
    const std::string n = "text_model.encoder.layers." + std::to_string(i);
    l.k.init(t, n + ".self_attn.k_proj", D, D, true);
    l.v.init(t, n + ".self_attn.v_proj", D, D, true);
    l.q.init(t, n + ".self_attn.q_proj", D, D, true);
    l.out.init(t, n + ".self_attn.out_proj", D, D, true);
    l.ln1.init(t, n + ".layer_norm1", D, c.layer_norm_eps);
    l.fc1.init(t, n + ".mlp.fc1", D, c.intermediate_size, true);
    l.fc2.init(t, n + ".mlp.fc2", c.intermediate_size, D, true);
    l.ln2.init(t, n + ".layer_norm2", D, c.layer_norm_eps);
  }
  final_ln.init(t, "text_model.final_layer_norm", D, c.layer_norm_eps);
  store.allocate(device);
}

Tensor TextModel::Impl::embed(const std::vector<int32_t>& ids, int64_t B, int64_t L) const {
  // Token rows (a gather) + position rows (position_ids = arange(L): the table's first L rows).
  const int64_t D = cfg.hidden_size;
  Tensor tok = ops::gather_rows(store.views[size_t(token_embedding)], ids).reshape({B, L, D});
  Tensor pos = store.views[size_t(position_embedding)].view(0, {L, D});
  return ops::binary(Binary::Add, tok, pos);
}

Tensor TextModel::Impl::layer_forward(const EncoderLayer& l, const Ctx& c, const Tensor& x, LayerSaved* sv) const {
  const int64_t H = cfg.num_attention_heads;
  // Pre-LN causal self-attention; the reference scales q before q·kᵀ, the kernel scales the scores
  // (the same up to rounding).
  ops::NormOut n1 = l.ln1.forward(c, x);
  Tensor h = n1.y;
  Tensor q = l.q.forward(c, h), k = l.k.forward(c, h), v = l.v.forward(c, h);
  ops::AttentionOut att = ops::attention(q, k, v, H, 1.0 / std::sqrt(double(cfg.head_dim())), /*causal=*/true);
  Tensor r = ops::binary(Binary::Add, x, l.out.forward(c, att.out));
  ops::NormOut n2 = l.ln2.forward(c, r);
  Tensor f1 = l.fc1.forward(c, n2.y);
  Tensor m = ops::activation(act(), f1);
  Tensor y = ops::binary(Binary::Add, r, l.fc2.forward(c, m));
  if (sv) *sv = LayerSaved{x, h, q, k, v, r, n2.y, f1, m, n1, n2, att};
  return y;
}

Tensor TextModel::Impl::layer_backward(const EncoderLayer& l, const Ctx& c, const LayerSaved& sv,
                                       const Tensor& dout) const {
  const int64_t H = cfg.num_attention_heads;
  // MLP branch: y = r + fc2(act(fc1(LN2(r)))).
  Tensor dm = l.fc2.backward(c, sv.m, dout);
  Tensor df1 = ops::activation_backward(act(), sv.f1, dm);
  Tensor dy2 = l.fc1.backward(c, sv.y2, df1);
  Tensor dr = ops::binary(Binary::Add, dout, l.ln2.backward(c, sv.r, sv.n2, dy2));
  // Attention branch: r = x + out(attn(q(LN1 x), k(LN1 x), v(LN1 x))).
  Tensor da = l.out.backward(c, sv.att.out, dr);
  ops::AttentionGrads g = ops::attention_backward(sv.q, sv.k, sv.v, sv.att.out, sv.att.lse, da, H,
                                                  1.0 / std::sqrt(double(cfg.head_dim())), /*causal=*/true);
  Tensor dy1 = l.q.backward(c, sv.y1, g.dq);
  dy1 = ops::binary(Binary::Add, dy1, l.k.backward(c, sv.y1, g.dk));
  dy1 = ops::binary(Binary::Add, dy1, l.v.backward(c, sv.y1, g.dv));
  return ops::binary(Binary::Add, dr, l.ln1.backward(c, sv.x, sv.n1, dy1));
}

void TextModel::Impl::embed_backward(const Ctx& c, const Tensor& dx) const {
  // A scatter-add by token id, done on the host: the tables are small next to the passes, and the
  // ids are host data already. (A device kernel would avoid the copies on CUDA.)
  const int64_t D = cfg.hidden_size, B = s.B, L = s.L;
  auto to_host = [&](const Tensor& t, std::vector<float>& v) {
    v.resize(size_t(t.numel()));
    if (t.device().is_cpu()) std::memcpy(v.data(), t.raw(), t.nbytes());
    else cuda::copy_d2h(v.data(), t.raw(), t.nbytes(), t.device().index);
  };
  auto to_device = [&](const Tensor& t, const std::vector<float>& v) {
    if (t.device().is_cpu()) std::memcpy(t.raw(), v.data(), t.nbytes());
    else cuda::copy_h2d(t.raw(), v.data(), t.nbytes(), t.device().index);
  };
  std::vector<float> d, tok, pos;
  to_host(dx.dtype() == DType::F32 ? dx : ops::cast(dx, DType::F32), d);
  const Tensor& gt = (*c.grads)[size_t(token_embedding)];
  const Tensor& gp = (*c.grads)[size_t(position_embedding)];
  if (c.accumulate) {
    to_host(gt, tok);
    to_host(gp, pos);
  } else {
    tok.assign(size_t(gt.numel()), 0.f);
    pos.assign(size_t(gp.numel()), 0.f);
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L; ++i) {
      const float* row = d.data() + (b * L + i) * D;
      float* t = tok.data() + int64_t(s.ids[size_t(b * L + i)]) * D;
      float* p = pos.data() + i * D;
      for (int64_t k = 0; k < D; ++k) {
        t[k] += row[k];
        p[k] += row[k];
      }
    }
  to_device(gt, tok);
  to_device(gp, pos);
}

// ---- public API ----

TextModel::TextModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextModel::~TextModel() = default;

std::shared_ptr<TextModel> TextModel::create(const Config& config, Device device) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->device = device;
  impl->build();
  return std::shared_ptr<TextModel>(new TextModel(std::move(impl)));
}

const Config& TextModel::config() const { return impl_->cfg; }
const std::vector<ParamInfo>& TextModel::params() const { return impl_->store.table.infos; }
int64_t TextModel::num_params() const { return impl_->store.num_params(); }
Tensor TextModel::flat_params() const { return impl_->store.flat; }

Tensor TextModel::param(const std::string& name) const {
  int i = impl_->store.find(name);
  IE_CHECK(i >= 0, "CLIPTextModel: no parameter named \"", name, "\"");
  return impl_->store.views[size_t(i)];
}

void TextModel::init_random(uint64_t seed) {
  nn::init_random(impl_->store, seed, impl_->device, [](const std::string& n) {
    return n == "text_model.embeddings.token_embedding.weight" || n == "text_model.embeddings.position_embedding.weight";
  });
}

void TextModel::load(const safetensors::Reader& reader) {
  nn::LoadSpec spec;
  spec.model = "CLIPTextModel";
  // A buffer (arange) that older checkpoints store next to the weights.
  spec.rename = [](const std::string& k) { return k == "text_model.embeddings.position_ids" ? std::string() : k; };
  nn::load(impl_->store, reader, spec, impl_->device);
}

Output TextModel::forward(const int32_t* ids, int64_t B, int64_t L, const ForwardOptions& o) {
  Impl& m = *impl_;
  const Config& c = m.cfg;
  const char* op = "CLIPTextModel.forward";
  IE_CHECK(B >= 1 && L >= 1, op, ": input ids must be [batch, length] with batch and length >= 1, got [", B, ", ", L,
           "]");
  IE_CHECK(L <= c.max_position_embeddings, op, ": sequences of ", L, " tokens are longer than the model's ",
           c.max_position_embeddings, " positions (max_position_embeddings); truncate them (the tokenizer does by default)");
  IE_CHECK(ids != nullptr, op, ": no input ids");
  std::vector<int32_t> host(ids, ids + B * L);
  for (int64_t i = 0; i < B * L; ++i)
    IE_CHECK(host[size_t(i)] >= 0 && host[size_t(i)] < c.vocab_size, op, ": token id ", host[size_t(i)],
             " at [", i / L, ", ", i % L, "] is outside the vocabulary [0, ", c.vocab_size, ")");

  // The pooled row of each sequence: argmax(ids) for legacy configs (eos_token_id == 2, where eos has
  // the largest id), else the first eos_token_id (position 0 when absent), both as transformers does.
  std::vector<int64_t> pool_at(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* row = host.data() + b * L;
    int64_t at = 0;
    for (int64_t i = 0; i < L; ++i) {
      if (c.eos_token_id == 2 ? row[i] > row[at] : row[i] == c.eos_token_id) {
        at = i;
        if (c.eos_token_id != 2) break;
      }
    }
    pool_at[size_t(b)] = at;
  }

  const int64_t D = c.hidden_size;
  Output out;
  out.last_hidden_state = Tensor::empty({B, L, D}, DType::F32, m.device);
  out.pooled = Tensor::empty({B, D}, DType::F32, m.device);
  if (o.hidden_states)
    for (int64_t i = 0; i <= c.num_hidden_layers; ++i) out.hidden_states.push_back(Tensor::empty({B, L, D}, DType::F32, m.device));

  std::shared_ptr<TextModel> self = shared_from_this();  // alive until the task has run
  Impl* mp = &m;
  Output res = out;
  std::shared_ptr<std::atomic<bool>> cancel = o.cancel;
  const bool train = o.train;
  if (train) {
    m.saved_pending = true;
    m.out_shape = {B, L, D};
  }
  stream_for(m.device).enqueue([self, mp, host = std::move(host), pool_at, B, L, D, res, cancel, train] {
    Ctx ctx;
    ctx.model = "CLIPTextModel";
    ctx.values = &mp->store.views;
    ctx.cancel = cancel.get();
    if (train) {
      mp->s = Impl::Saved{};  // (an inference forward leaves a pending training forward's activations alone)
      mp->s.layers.resize(mp->layers.size());
      mp->s.ids = host;
      mp->s.B = B;
      mp->s.L = L;
    }
    Tensor x = mp->embed(host, B, L);
    for (size_t i = 0; i < mp->layers.size(); ++i) {
      ctx.check_cancel();
      if (!res.hidden_states.empty()) ops::assign(res.hidden_states[i], x, false);
      x = mp->layer_forward(mp->layers[i], ctx, x, train ? &mp->s.layers[i] : nullptr);
    }
    if (!res.hidden_states.empty()) ops::assign(res.hidden_states.back(), x, false);
    ops::NormOut fn = mp->final_ln.forward(ctx, x);
    if (train) {
      mp->s.x_final = x;
      mp->s.final_norm = fn;
      mp->s.done = true;
    }
    Tensor y = fn.y;
    x = Tensor();
    ops::assign(res.last_hidden_state, y, false);
    std::vector<int32_t> rows(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) rows[size_t(b)] = int32_t(b * L + pool_at[size_t(b)]);
    ops::assign(res.pooled, ops::gather_rows(y.reshape({B * L, D}), rows), false);
  });
  return out;
}

bool TextModel::has_saved() const { return impl_->saved_pending; }
Tensor TextModel::flat_grads() const { return impl_->grads; }

void TextModel::backward(const Tensor& dy, bool accumulate) {
  Impl& m = *impl_;
  const char* op = "CLIPTextModel.backward";
  IE_CHECK(m.saved_pending, op, ": nothing to differentiate: call forward with train: true first (each training "
                                "forward allows one backward)");
  IE_CHECK(dy.defined(), op, ": the gradient is not a tensor (undefined or disposed)");
  IE_CHECK(dy.dtype() == DType::F32 && dy.device() == m.device, op, ": the gradient must be float32 on ",
           m.device.str(), ", got ", dy.desc());
  IE_CHECK(dy.shape() == m.out_shape, op, ": the gradient must have last_hidden_state's shape ",
           shape_str(m.out_shape), ", got ", dy.desc());
  const bool fresh = m.store.ensure_grads(m.grads, m.gviews, m.device);
  m.saved_pending = false;
  std::shared_ptr<TextModel> self = shared_from_this();
  Impl* mp = &m;
  stream_for(m.device).enqueue([self, mp, dy, accumulate, fresh] {
    if (fresh) memory_zero(mp->grads.raw(), mp->grads.nbytes(), mp->device);  // padding too
    Impl::Saved& s = mp->s;
    IE_CHECK(s.done, "CLIPTextModel.backward: the training forward did not complete (it failed or was cancelled), "
                     "so there is nothing to differentiate");
    Ctx ctx;
    ctx.model = "CLIPTextModel";
    ctx.values = &mp->store.views;
    ctx.grads = &mp->gviews;
    ctx.accumulate = accumulate;
    try {
      Tensor dx = mp->final_ln.backward(ctx, s.x_final, s.final_norm, dy);
      for (size_t i = mp->layers.size(); i-- > 0;) {
        dx = mp->layer_backward(mp->layers[i], ctx, s.layers[i], dx);
        s.layers[i] = LayerSaved{};
      }
      mp->embed_backward(ctx, dx);
    } catch (...) {
      s = Impl::Saved{};
      throw;
    }
    s = Impl::Saved{};
  });
}

}  // namespace ie::clip
