// CLIPTextModel forward (SPEC §5) over the shared layers and the ops API.
#include <cmath>
#include <cstring>

#include "ie/clip.h"
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

}  // namespace

struct TextModel::Impl {
  Config cfg;
  Device device;
  nn::ParamStore store;
  int token_embedding = -1, position_embedding = -1;
  std::vector<EncoderLayer> layers;
  LayerNorm final_ln;

  void build();
  // x [B, L, D] -> the layer's output.
  Tensor layer_forward(const EncoderLayer& l, const Ctx& c, const Tensor& x) const;
  Tensor embed(const std::vector<int32_t>& ids, int64_t B, int64_t L) const;
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

Tensor TextModel::Impl::layer_forward(const EncoderLayer& l, const Ctx& c, const Tensor& x) const {
  const int64_t H = cfg.num_attention_heads;
  // Pre-LN causal self-attention; the reference scales q before q·kᵀ, the kernel scales the scores
  // (the same up to rounding).
  Tensor h = l.ln1.forward(c, x).y;
  Tensor q = l.q.forward(c, h), k = l.k.forward(c, h), v = l.v.forward(c, h);
  h = Tensor();
  Tensor a = ops::attention(q, k, v, H, 1.0 / std::sqrt(double(cfg.head_dim())), /*causal=*/true).out;
  q = k = v = Tensor();
  Tensor r = ops::binary(Binary::Add, x, l.out.forward(c, a));
  a = Tensor();
  Tensor m = l.fc1.forward(c, l.ln2.forward(c, r).y);
  m = ops::activation(cfg.hidden_act == "gelu" ? ops::Act::GELU : ops::Act::QuickGELU, m);
  return ops::binary(Binary::Add, r, l.fc2.forward(c, m));
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
  stream_for(m.device).enqueue([self, mp, host = std::move(host), pool_at, B, L, D, res, cancel] {
    Ctx ctx;
    ctx.model = "CLIPTextModel";
    ctx.values = &mp->store.views;
    ctx.cancel = cancel.get();
    Tensor x = mp->embed(host, B, L);
    for (size_t i = 0; i < mp->layers.size(); ++i) {
      ctx.check_cancel();
      if (!res.hidden_states.empty()) ops::assign(res.hidden_states[i], x, false);
      x = mp->layer_forward(mp->layers[i], ctx, x);
    }
    if (!res.hidden_states.empty()) ops::assign(res.hidden_states.back(), x, false);
    Tensor y = mp->final_ln.forward(ctx, x).y;
    x = Tensor();
    ops::assign(res.last_hidden_state, y, false);
    std::vector<int32_t> rows(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) rows[size_t(b)] = int32_t(b * L + pool_at[size_t(b)]);
    ops::assign(res.pooled, ops::gather_rows(y.reshape({B * L, D}), rows), false);
  });
  return out;
}

}  // namespace ie::clip
