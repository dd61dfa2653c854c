// UNet2DConditionModel: the graph (SPEC §2.2-2.6), forward and backward, over the layers in layers.h.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "ie/cuda.h"
#include "ie/device_memory.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/unet.h"
#include "models/unet/layers.h"
#if defined(IE_WITH_CUDA)
#include "cuda/graph.h"
#endif

namespace ie::unet {

using namespace detail;
using ops::Binary;

namespace {

struct DownBlock {
  std::vector<ResnetBlock> resnets;
  std::vector<Transformer2D> attentions;  // empty for DownBlock2D
  bool has_down = false;
  Conv2d down;      // 3x3 stride 2
  Tensor down_in;   // saved: the downsampler's input
  std::vector<int> skip_index;  // skip slot of each resnet output, then of the downsampler output
};

struct UpBlock {
  std::vector<ResnetBlock> resnets;
  std::vector<Transformer2D> attentions;
  bool has_up = false;
  Conv2d up;        // nearest upsample, then 3x3
  Tensor up_in;     // saved: the upsampled tensor (the conv's input)
  int64_t in_h = 0, in_w = 0;
  std::vector<int64_t> x_channels;  // per resnet: channels of the hidden state before the concat
  std::vector<int> skip_index;      // per resnet: the skip slot it consumed
};

}  // namespace

struct Model::Impl {
  Config cfg;
  Device device;
  DType compute = DType::F32;  // float16/bfloat16: a compute copy of the parameters (CUDA only)
  nn::ParamStore store;  // parameters (float32 master copy): layout, flat buffer, views
  Tensor grads;          // same layout (allocated by the first backward)
  std::vector<Tensor> gviews;
  // With a half compute dtype: the parameters cast to it (refreshed when they may have changed:
  // every training pass, and after anyone was handed a writable view or the weights were loaded).
  // cflat is allocated once and refreshed in place: CUDA graphs read it at fixed addresses.
  // Gradients stay float32: the kernels write parameter gradients in float32 whatever the dtype.
  Tensor cflat;
  std::vector<Tensor> cviews;
  mutable std::atomic<bool> cdirty{true};

  Linear time_1, time_2;
  Conv2d conv_in, conv_out;
  std::vector<DownBlock> downs;
  ResnetBlock mid_r0, mid_r1;
  Transformer2D mid_attn;
  std::vector<UpBlock> ups;
  GroupNorm norm_out;

  // Saved by a training forward (all released by backward).
  struct Saved {
    Tensor sample, ehs, temb, h1, a1, emb, emb_act, out_in, out_act;
    ops::NormOut out_norm;
    int num_skips = 0;
  } s;
  bool saved_pending = false;  // caller-thread view: a training forward was enqueued, no backward yet
  Shape sample_shape, ehs_shape;
  Stats stats;
  mutable std::mutex stats_mu;  // stats are written by stream tasks and read from the caller's thread

  // CUDA graphs of graph: true forwards (touched only by stream tasks, so in stream order). Each key
  // has static inputs in the dtypes the forward was given, the static float32 output, and the graph
  // that computes one from the other (null: its capture failed, the key runs eagerly). They stay
  // valid when the parameters change: store.flat and cflat never move (cflat is refreshed in place,
  // outside the graph, before each replay). Declared last, destroyed first.
  using GraphKey = std::tuple<Shape, DType, Shape, DType, int64_t>;
  struct GraphEntry {
    Tensor sample, timesteps, ehs, out;
#if defined(IE_WITH_CUDA)
    std::unique_ptr<cuda::Graph> graph;
#endif
  };
  std::map<GraphKey, GraphEntry> graphs;
  // input_coordinates: the [1, 2, H, W] coordinate planes per (H, W, dtype), made once (on the first,
  // eager pass, so a CUDA graph capture never copies from the host). Touched only by stream tasks.
  std::map<std::tuple<int64_t, int64_t, DType>, Tensor> coords;

  Tensor coordinates(int64_t B, int64_t H, int64_t W, DType dtype);
  // output_skip_channel: sample[:, k : k + out_channels].
  Tensor skip_slice(const Tensor& sample) const;

  void build();
  // The parameter views a pass computes with (a stream task calls this, in stream order).
  const std::vector<Tensor>& compute_values(bool train);
  void refresh_compute_copy();
  // Marks the half compute copy stale now and again in stream order: a forward already enqueued but
  // not yet run would otherwise consume the flag before the writes enqueued after this call, and the
  // passes after those writes would compute with the old copy. `self` keeps the model alive.
  void mark_stale(std::shared_ptr<const Model> self);
  // One inference or training pass over given inputs into `result` (float32), with ctx.values set.
  void eager_forward(const Tensor& sample, const Tensor& t1, const Tensor& ehs, const Tensor& result, Ctx& ctx);
  // A graph: true pass (a stream task, after compute_values).
  void graph_forward(const Tensor& sample, const Tensor& t1, const Tensor& ehs, const Tensor& result, Ctx& ctx);
  Tensor run_forward(const Tensor& sample, const Tensor& t, const Tensor& ehs, const Ctx& c);
  InputGrads run_backward(const Tensor& dout, const Ctx& c);
  int64_t saved_bytes() const;
  void clear_saved();
};

void Model::Impl::build() {
  const Config& c = cfg;
  const size_t n = c.block_out_channels.size();
  const int64_t C0 = c.block_out_channels[0], temb = c.time_embed_dim(), G = c.norm_num_groups;
  const double eps = c.norm_eps;
  ParamTable& t = store.table;
  // Registration order follows diffusers' module order (state_dict order).
  conv_in.init(t, "conv_in", c.conv_in_channels(), C0, 3, 1, 1);
  time_1.init(t, "time_embedding.linear_1", C0, temb, true);
  time_2.init(t, "time_embedding.linear_2", temb, temb, true);
  downs.resize(n);
  int64_t ch = C0;
  for (size_t i = 0; i < n; ++i) {
    DownBlock& d = downs[i];
    std::string name = "down_blocks." + std::to_string(i);
    int64_t out = c.block_out_channels[i];
    bool attn = c.down_block_types[i] == "CrossAttnDownBlock2D";
    d.resnets.resize(size_t(c.layers_per_block[i]));
    if (attn) d.attentions.resize(size_t(c.layers_per_block[i]));
    for (int64_t j = 0; j < c.layers_per_block[i]; ++j) {
      d.resnets[size_t(j)].init(t, name + ".resnets." + std::to_string(j), j == 0 ? ch : out, out, temb, G, eps);
      if (attn)
        d.attentions[size_t(j)].init(t, name + ".attentions." + std::to_string(j), out, c.cross_attention_dim[i],
                                     c.num_heads[i], c.transformer_layers[i], G, c.use_linear_projection);
    }
    d.has_down = i + 1 < n;
    if (d.has_down) d.down.init(t, name + ".downsamplers.0.conv", out, out, 3, 2, 1);
    ch = out;
  }
  // diffusers registers the mid block after the down blocks' modules and before the up blocks.
  const int64_t Cl = c.block_out_channels.back();
  mid_r0.init(t, "mid_block.resnets.0", Cl, Cl, temb, G, eps);
  mid_attn.init(t, "mid_block.attentions.0", Cl, c.cross_attention_dim.back(), c.num_heads.back(),
                c.transformer_layers.back(), G, c.use_linear_projection);
  mid_r1.init(t, "mid_block.resnets.1", Cl, Cl, temb, G, eps);

  // Up blocks: channel lists reversed; each has layers+1 resnets, taking skips last-in first-out.
  std::vector<int64_t> rev(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  ups.resize(n);
  int64_t prev = rev[0];
  for (size_t i = 0; i < n; ++i) {
    UpBlock& u = ups[i];
    std::string name = "up_blocks." + std::to_string(i);
    size_t di = n - 1 - i;  // the matching down block
    int64_t out = rev[i], in = rev[std::min(i + 1, n - 1)];
    int64_t layers = c.layers_per_block[di] + 1;
    bool attn = c.up_block_types[i] == "CrossAttnUpBlock2D";
    u.resnets.resize(size_t(layers));
    if (attn) u.attentions.resize(size_t(layers));
    for (int64_t j = 0; j < layers; ++j) {
      int64_t skip_ch = j == layers - 1 ? in : out;
      int64_t res_in = j == 0 ? prev : out;
      u.x_channels.push_back(res_in);
      u.resnets[size_t(j)].init(t, name + ".resnets." + std::to_string(j), res_in + skip_ch, out, temb, G, eps);
      if (attn)
        u.attentions[size_t(j)].init(t, name + ".attentions." + std::to_string(j), out, c.cross_attention_dim[di],
                                     c.num_heads[di], c.transformer_layers[di], G, c.use_linear_projection);
    }
    u.has_up = i + 1 < n;
    if (u.has_up) u.up.init(t, name + ".upsamplers.0.conv", out, out, 3, 1, 1);
    prev = out;
  }
  norm_out.init(t, "conv_norm_out", C0, G, eps, true);
  conv_out.init(t, "conv_out", C0, c.out_channels, 3, 1, 1);

  store.allocate(device);
}

const std::vector<Tensor>& Model::Impl::compute_values(bool train) {
  if (compute == DType::F32) return store.views;
  if (!cflat.defined()) {
    graphs.clear();  // none can exist yet (every graph pass comes here first); kept for clarity
    cdirty = false;
    cflat = ops::cast(store.flat, compute);
    cviews.clear();
    for (const ParamInfo& p : store.table.infos) cviews.push_back(cflat.view(p.offset, p.shape));
  } else if (train || cdirty.exchange(false)) {
    refresh_compute_copy();
  }
  return cviews;
}

void Model::Impl::mark_stale(std::shared_ptr<const Model> self) {
  cdirty = true;
  if (compute == DType::F32) return;
  stream_for(device).enqueue([self, this] { cdirty = true; });
}

// cflat = cast(store.flat) in place, chunk by chunk (each chunk cast into a temporary, then copied
// over on the stream): the buffer keeps its address (CUDA graphs bake it in) and the temporary is
// one chunk, not a second copy of the model. A fused "cast into" kernel would save the copy.
void Model::Impl::refresh_compute_copy() {
  const int64_t total = store.flat.numel(), chunk = int64_t(1) << 24;
  const size_t es = dtype_size(compute);
  IE_CHECK(device.type == DeviceType::CUDA, "UNet: internal error: a half compute copy off CUDA");
  for (int64_t off = 0; off < total; off += chunk) {
    const int64_t n = std::min(chunk, total - off);
    Tensor part = ops::cast(store.flat.view(off, {n}), compute);
    cuda::copy_d2d(static_cast<char*>(cflat.raw()) + size_t(off) * es, part.raw(), size_t(n) * es, device.index);
  }
}

// x in [-1, 1] from the left column to the right one, y likewise from top to bottom (pixel centres:
// the planes are the same whatever the resolution, up to sampling). Repeated over the batch.
Tensor Model::Impl::coordinates(int64_t B, int64_t H, int64_t W, DType dtype) {
  auto key = std::make_tuple(H, W, dtype);
  auto it = coords.find(key);
  if (it == coords.end()) {
    std::vector<float> host(size_t(2 * H * W));
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        host[size_t(y * W + x)] = float((2.0 * x + 1.0) / double(W) - 1.0);
        host[size_t(H * W + y * W + x)] = float((2.0 * y + 1.0) / double(H) - 1.0);
      }
    Tensor t = ops::from_host(host.data(), host.size() * sizeof(float), {1, 2, H, W}, DType::F32, device);
    it = coords.emplace(key, dtype == DType::F32 ? t : ops::cast(t, dtype)).first;
  }
  if (B == 1) return it->second;
  std::vector<Tensor> rep(size_t(B), it->second);
  return ops::concat(rep, 0);
}

Tensor Model::Impl::skip_slice(const Tensor& sample) const {
  const int64_t k = cfg.output_skip_channel, C = cfg.out_channels, rest = cfg.in_channels - k - C;
  std::vector<int64_t> sizes;
  if (k > 0) sizes.push_back(k);
  sizes.push_back(C);
  if (rest > 0) sizes.push_back(rest);
  if (sizes.size() == 1) return sample;
  return ops::split(sample, sizes, 1)[k > 0 ? 1 : 0];
}

Tensor Model::Impl::run_forward(const Tensor& sample, const Tensor& timesteps, const Tensor& ehs, const Ctx& c) {
  const int64_t B = sample.size(0);
  // Timestep embedding (float32 even for fractional t), its MLP, and the SiLU every resnet applies to it.
  Tensor t = timesteps.numel() == B ? timesteps : ops::binary(Binary::Add, ops::zeros({B}, DType::F32, device),
                                                                timesteps.reshape({1}));
  Tensor temb = ops::timestep_embedding(t, cfg.block_out_channels[0], cfg.flip_sin_to_cos, cfg.freq_shift, 10000.0);
  if (temb.dtype() != compute) temb = ops::cast(temb, compute);
  Tensor h1 = time_1.forward(c, temb);
  Tensor a1 = ops::activation(ops::Act::SiLU, h1);
  Tensor emb = time_2.forward(c, a1);
  Tensor emb_act = ops::activation(ops::Act::SiLU, emb);

  Tensor input = cfg.input_coordinates
                     ? ops::concat({sample, coordinates(B, sample.size(2), sample.size(3), sample.dtype())}, 1)
                     : sample;
  Tensor h = conv_in.forward(c, input);
  std::vector<Tensor> skips{h};
  for (DownBlock& d : downs) {
    c.check_cancel();
    d.skip_index.clear();
    for (size_t j = 0; j < d.resnets.size(); ++j) {
      h = d.resnets[j].forward(c, h, emb_act);
      if (!d.attentions.empty()) h = d.attentions[j].forward(c, h, ehs);
      d.skip_index.push_back(int(skips.size()));
      skips.push_back(h);
    }
    if (d.has_down) {
      if (c.save) d.down_in = h;
      h = d.down.forward(c, h);
      d.skip_index.push_back(int(skips.size()));
      skips.push_back(h);
    }
  }
  c.check_cancel();
  int num_skips = int(skips.size());
  h = mid_r0.forward(c, h, emb_act);
  h = mid_attn.forward(c, h, ehs);
  h = mid_r1.forward(c, h, emb_act);
  for (UpBlock& u : ups) {
    c.check_cancel();
    u.skip_index.clear();
    for (size_t j = 0; j < u.resnets.size(); ++j) {
      IE_CHECK(!skips.empty(), "UNet: internal error: skip list exhausted");
      u.skip_index.push_back(int(skips.size()) - 1);
      Tensor x = ops::concat({h, skips.back()}, 1);  // hidden state first, then the skip
      skips.pop_back();
      h = u.resnets[j].forward(c, x, emb_act);
      if (!u.attentions.empty()) h = u.attentions[j].forward(c, h, ehs);
    }
    if (u.has_up) {
      // Upsample to the next skip's size: x2, or the exact size when the input was not divisible.
      Tensor up = ops::upsample_nearest(h, skips.back().size(2), skips.back().size(3));
      if (c.save) {
        u.in_h = h.size(2);
        u.in_w = h.size(3);
        u.up_in = up;
      }
      h = u.up.forward(c, up);
    }
  }
  ops::NormOut n = norm_out.forward(c, h);  // SiLU(GN(h))
  Tensor out = conv_out.forward(c, n.y);
  if (cfg.output_skip_channel >= 0) out = ops::binary(Binary::Add, out, skip_slice(sample));
  if (c.save) {
    s = Saved{input, ehs, temb, h1, a1, emb, emb_act, h, n.y, n, num_skips};
    s.out_norm.y = Tensor();
  }
  return out;
}

InputGrads Model::Impl::run_backward(const Tensor& dout, const Ctx& c) {
  std::vector<Tensor> dskip(size_t(s.num_skips));
  Tensor demb_act, dehs;
  Tensor dh = norm_out.backward(c, s.out_in, s.out_norm, conv_out.backward(c, s.out_act, dout));
  s.out_in = s.out_act = Tensor();
  for (size_t i = ups.size(); i-- > 0;) {
    UpBlock& u = ups[i];
    c.check_cancel();
    if (u.has_up) {
      Tensor dup = u.up.backward(c, u.up_in, dh);
      u.up_in = Tensor();
      dh = ops::upsample_nearest_backward(dup, u.in_h, u.in_w);
    }
    for (size_t j = u.resnets.size(); j-- > 0;) {
      if (!u.attentions.empty()) dh = u.attentions[j].backward(c, dh, s.ehs, dehs);
      Tensor dx = u.resnets[j].backward(c, dh, s.emb_act, demb_act);
      int64_t xc = u.x_channels[j];
      std::vector<Tensor> parts = ops::split(dx, {xc, dx.size(1) - xc}, 1);
      dh = parts[0];
      dskip[size_t(u.skip_index[j])] = parts[1];
    }
  }
  c.check_cancel();
  dh = mid_r1.backward(c, dh, s.emb_act, demb_act);
  dh = mid_attn.backward(c, dh, s.ehs, dehs);
  dh = mid_r0.backward(c, dh, s.emb_act, demb_act);
  for (size_t i = downs.size(); i-- > 0;) {
    DownBlock& d = downs[i];
    c.check_cancel();
    size_t k = d.skip_index.size();
    if (d.has_down) {
      dh = ops::binary(Binary::Add, dh, dskip[size_t(d.skip_index[--k])]);
      dh = d.down.backward(c, d.down_in, dh);
      d.down_in = Tensor();
    }
    for (size_t j = d.resnets.size(); j-- > 0;) {
      dh = ops::binary(Binary::Add, dh, dskip[size_t(d.skip_index[--k])]);
      if (!d.attentions.empty()) dh = d.attentions[j].backward(c, dh, s.ehs, dehs);
      dh = d.resnets[j].backward(c, dh, s.emb_act, demb_act);
    }
  }
  dh = ops::binary(Binary::Add, dh, dskip[0]);
  InputGrads g;
  g.sample = conv_in.backward(c, s.sample, dh);  // s.sample is conv_in's input (coordinates included)
  if (cfg.input_coordinates) g.sample = ops::split(g.sample, {cfg.in_channels, 2}, 1)[0];
  if (cfg.output_skip_channel >= 0) {
    // The skip adds dout to its slice of d sample.
    const int64_t k = cfg.output_skip_channel, C = cfg.out_channels, rest = cfg.in_channels - k - C;
    std::vector<Tensor> parts;
    if (k > 0) parts.push_back(ops::zeros({dout.size(0), k, dout.size(2), dout.size(3)}, dout.dtype(), device));
    parts.push_back(dout);
    if (rest > 0) parts.push_back(ops::zeros({dout.size(0), rest, dout.size(2), dout.size(3)}, dout.dtype(), device));
    Tensor pad = parts.size() == 1 ? dout : ops::concat(parts, 1);
    g.sample = ops::binary(Binary::Add, g.sample, pad);
  }
  g.encoder_hidden_states = dehs;
  // The time embedding MLP (the timesteps themselves get no gradient).
  Tensor demb = ops::activation_backward(ops::Act::SiLU, s.emb, demb_act);
  Tensor da1 = time_2.backward(c, s.a1, demb);
  time_1.backward(c, s.temb, ops::activation_backward(ops::Act::SiLU, s.h1, da1));
  s = Saved{};
  return g;
}

int64_t Model::Impl::saved_bytes() const {
  int64_t n = 0;
  for (const Tensor* t : {&s.temb, &s.h1, &s.a1, &s.emb, &s.emb_act, &s.out_in, &s.out_act}) n += bytes_of(*t);
  for (const DownBlock& d : downs) {
    n += bytes_of(d.down_in);
    for (const auto& r : d.resnets) n += r.saved_bytes();
    for (const auto& a : d.attentions) n += a.saved_bytes();
  }
  n += mid_r0.saved_bytes() + mid_r1.saved_bytes() + mid_attn.saved_bytes();
  for (const UpBlock& u : ups) {
    n += bytes_of(u.up_in);
    for (const auto& r : u.resnets) n += r.saved_bytes();
    for (const auto& a : u.attentions) n += a.saved_bytes();
  }
  return n;
}

void Model::Impl::clear_saved() {
  s = Saved{};
  for (DownBlock& d : downs) {
    d.down_in = Tensor();
    for (auto& r : d.resnets) r.s = ResnetBlock::Saved{};
    for (auto& a : d.attentions) a.clear_saved();
  }
  mid_r0.s = mid_r1.s = ResnetBlock::Saved{};
  mid_attn.clear_saved();
  for (UpBlock& u : ups) {
    u.up_in = Tensor();
    for (auto& r : u.resnets) r.s = ResnetBlock::Saved{};
    for (auto& a : u.attentions) a.clear_saved();
  }
}

// ---- public API ----

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<Model> Model::create(const Config& config, Device device, DType compute) {
  IE_CHECK(compute == DType::F32 || compute == DType::F16 || compute == DType::BF16,
           "UNet: compute dtype must be float32, float16 or bfloat16, got ", dtype_name(compute));
  IE_CHECK(compute == DType::F32 || device.type == DeviceType::CUDA, "UNet: ", dtype_name(compute),
           " compute runs on CUDA only (the CPU computes in float32)");
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->device = device;
  impl->compute = compute;
  impl->build();
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

DType Model::compute_dtype() const { return impl_->compute; }
const Config& Model::config() const { return impl_->cfg; }
const std::vector<ParamInfo>& Model::params() const { return impl_->store.table.infos; }
int64_t Model::num_params() const {
  return impl_->store.num_params();
}
// Whoever gets a writable view may change the parameters: the compute copy is refreshed.
Tensor Model::flat_params() const {
  impl_->mark_stale(shared_from_this());
  return impl_->store.flat;
}
Tensor Model::flat_grads() const { return impl_->grads; }

Tensor Model::param(const std::string& name) const {
  int i = impl_->store.find(name);
  IE_CHECK(i >= 0, "UNet: no parameter named \"", name, "\"");
  impl_->mark_stale(shared_from_this());
  return impl_->store.views[size_t(i)];
}
Tensor Model::grad(const std::string& name) const {
  int i = impl_->store.find(name);
  IE_CHECK(i >= 0, "UNet: no parameter named \"", name, "\"");
  IE_CHECK(impl_->grads.defined(), "UNet: no gradients yet (run backward first)");
  return impl_->gviews[size_t(i)];
}

bool Model::has_saved() const { return impl_->saved_pending; }
Stats Model::stats() const {
  std::lock_guard<std::mutex> lk(impl_->stats_mu);
  return impl_->stats;
}

void Model::init_random(uint64_t seed) {
  nn::init_random(impl_->store, seed, impl_->device);
  impl_->mark_stale(shared_from_this());  // after the writes, in stream order
}

void Model::load(const safetensors::Reader& reader, const LoadOptions& options) {
  Impl& m = *impl_;
  nn::LoadSpec spec;
  spec.model = "UNet";
  // conv_in with fewer input channels than the model: widened with zeros when asked to.
  int64_t widen_from = 0;
  spec.accept_shape = [&](const ParamInfo& p, const safetensors::TensorInfo& t) {
    bool ok = p.name == "conv_in.weight" && options.in_channels == p.shape[1] && t.shape.size() == 4 &&
              t.shape[0] == p.shape[0] && t.shape[1] < p.shape[1] && t.shape[2] == p.shape[2] &&
              t.shape[3] == p.shape[3];
    if (ok) widen_from = t.shape[1];
    return ok;
  };
  spec.fill = [&](const ParamInfo& p, const Tensor& src, float* dst) {
    // [out, in_file, 3, 3] -> [out, in_model, 3, 3]: the file's channels first, new ones zero.
    std::vector<float> host(size_t(src.numel()));
    ops::copy_to_host(src, host.data());
    int64_t O = p.shape[0], I = p.shape[1], K = p.shape[2] * p.shape[3];
    std::fill(dst, dst + O * I * K, 0.f);
    for (int64_t o = 0; o < O; ++o)
      std::memcpy(dst + (o * I) * K, host.data() + (o * widen_from) * K, size_t(widen_from * K) * sizeof(float));
  };
  spec.mismatch_hint = [&]() -> std::string {
    const safetensors::TensorInfo* ci = reader.find("conv_in.weight");
    if (ci && ci->shape.size() == 4 && m.cfg.in_channels != ci->shape[1])
      return "\n  (conv_in has " + std::to_string(ci->shape[1]) +
             " input channels in the file; to widen a text-to-image UNet, pass inChannels)";
    return "";
  };
  nn::load(m.store, reader, spec, m.device);
  m.cdirty = true;  // the half compute copy (refreshed in place: graphs stay valid) is stale
}

Tensor Model::forward(const Tensor& sample, const Tensor& timesteps, const Tensor& ehs, const ForwardOptions& o) {
  Impl& m = *impl_;
  const Config& c = m.cfg;
  const char* op = "UNet.forward";
  auto check = [&](const Tensor& t, const char* arg) {
    IE_CHECK(t.defined(), op, ": ", arg, " is not a tensor (undefined or disposed)");
    IE_CHECK(t.dtype() == DType::F32 || (t.dtype() == m.compute && std::string(arg) != "timesteps"), op, ": ", arg,
             " must be float32", m.compute == DType::F32 ? "" : std::string(" or ") + dtype_name(m.compute), ", got ",
             t.desc());
    IE_CHECK(t.device() == m.device, op, ": ", arg, " is on ", t.device().str(), " but the model is on ",
             m.device.str());
  };
  check(sample, "sample");
  check(timesteps, "timesteps");
  check(ehs, "encoderHiddenStates");
  IE_CHECK(sample.ndim() == 4 && sample.size(1) == c.in_channels && sample.size(0) >= 1 && sample.size(2) >= 1 &&
               sample.size(3) >= 1,
           op, ": sample must be [batch, ", c.in_channels, ", height, width], got ", sample.desc());
  const int64_t B = sample.size(0);
  IE_CHECK(timesteps.numel() == B || timesteps.numel() == 1, op, ": timesteps must have one value per sample (",
           B, ") or a single value, got ", timesteps.desc());
  IE_CHECK(timesteps.ndim() <= 1, op, ": timesteps must be 0-D or 1-D, got ", timesteps.desc());
  IE_CHECK(ehs.ndim() == 3 && ehs.size(0) == B && ehs.size(1) >= 1 && ehs.size(2) == c.cross_attention_dim[0], op,
           ": encoderHiddenStates must be [", B, ", tokens, ", c.cross_attention_dim[0], "], got ", ehs.desc());
  IE_CHECK(!o.checkpoint || o.train, op, ": checkpoint needs train (it only changes what is saved for backward)");
  IE_CHECK(!o.graph || m.device.type == DeviceType::CUDA, op, ": graph (CUDA graph replay) runs on CUDA only; this "
           "model is on ", m.device.str(), " (leave graph off)");
  IE_CHECK(!o.graph || !o.train, op, ": graph is for inference: train must be false (a training forward saves "
           "activations for backward, which a replayed graph does not)");

  Tensor result = Tensor::empty({B, c.out_channels, sample.size(2), sample.size(3)}, DType::F32, m.device);
  if (o.train) {
    m.saved_pending = true;
    m.sample_shape = sample.shape();
    m.ehs_shape = ehs.shape();
  }
  std::shared_ptr<Model> self = shared_from_this();  // alive until the task has run
  Impl* mp = &m;
  Tensor t1 = timesteps.ndim() == 0 ? timesteps.reshape({1}) : timesteps;
  stream_for(m.device).enqueue([self, mp, sample, t1, ehs, o, result] {
    Ctx ctx;
    ctx.model = "UNet";
    ctx.save = o.train;
    ctx.checkpoint = o.checkpoint;
    ctx.cancel = o.cancel.get();
    memory_reset_peak(mp->device);
    int64_t base = memory_in_use(mp->device);
    try {
      ctx.values = &mp->compute_values(o.train);
      if (o.graph) mp->graph_forward(sample, t1, ehs, result, ctx);
      else mp->eager_forward(sample, t1, ehs, result, ctx);
    } catch (...) {
      mp->clear_saved();  // a failed pass leaves nothing half-saved
      throw;
    }
    std::lock_guard<std::mutex> lk(mp->stats_mu);
    mp->stats.forward_peak_bytes = memory_peak(mp->device) - base;
    if (o.train) mp->stats.saved_bytes = mp->saved_bytes();
  });
  return result;
}

void Model::Impl::eager_forward(const Tensor& sample, const Tensor& t1, const Tensor& ehs, const Tensor& result,
                                Ctx& ctx) {
  const DType D = compute;
  Tensor x = sample.dtype() == D ? sample : ops::cast(sample, D);
  Tensor e = ehs.dtype() == D ? ehs : ops::cast(ehs, D);
  Tensor out = run_forward(x, t1, e, ctx);
  ops::assign(result, out.dtype() == DType::F32 ? out : ops::cast(out, DType::F32), false);
}

void Model::Impl::graph_forward(const Tensor& sample, const Tensor& t1, const Tensor& ehs, const Tensor& result,
                                Ctx& ctx) {
#if defined(IE_WITH_CUDA)
  GraphKey key{sample.shape(), sample.dtype(), ehs.shape(), ehs.dtype(), t1.numel()};
  auto it = graphs.find(key);
  if (it == graphs.end()) {
    // First call for this key: the eager pass gives this call's result and warms up everything
    // lazy; then one forward over the static buffers is captured (recorded, not run).
    eager_forward(sample, t1, ehs, result, ctx);
    GraphEntry g;
    g.sample = Tensor::empty(sample.shape(), sample.dtype(), device);
    g.timesteps = Tensor::empty(t1.shape(), t1.dtype(), device);
    g.ehs = Tensor::empty(ehs.shape(), ehs.dtype(), device);
    g.out = Tensor::empty(result.shape(), DType::F32, device);
    g.graph = std::make_unique<cuda::Graph>();
    Ctx cctx = ctx;
    cctx.cancel = nullptr;  // a cancelled capture would look like a failed one
    std::string error;
    try {
      g.graph->capture(device.index, [&] { eager_forward(g.sample, g.timesteps, g.ehs, g.out, cctx); });
    } catch (const std::exception& e) {
      error = std::string("UNet.forward: ") + e.what() + " (this input shape runs eagerly)";
      g.graph.reset();
    }
    {
      std::lock_guard<std::mutex> lk(stats_mu);
      if (g.graph) ++stats.graph_captures;
      else stats.graph_error = error;
    }
    graphs.emplace(std::move(key), std::move(g));
    return;
  }
  GraphEntry& g = it->second;
  if (!g.graph) {  // the capture failed: eager
    eager_forward(sample, t1, ehs, result, ctx);
    return;
  }
  ctx.check_cancel();
  const int dev = device.index;
  cuda::copy_d2d(g.sample.raw(), sample.raw(), sample.nbytes(), dev);
  cuda::copy_d2d(g.timesteps.raw(), t1.raw(), t1.nbytes(), dev);
  cuda::copy_d2d(g.ehs.raw(), ehs.raw(), ehs.nbytes(), dev);
  g.graph->replay();
  cuda::copy_d2d(result.raw(), g.out.raw(), result.nbytes(), dev);
  std::lock_guard<std::mutex> lk(stats_mu);
  ++stats.graph_replays;
#else
  (void)sample, (void)t1, (void)ehs, (void)result, (void)ctx;
  fail("UNet.forward: graph needs the CUDA backend (this build has none)");
#endif
}

void Model::clear_graphs() {
  std::shared_ptr<Model> self = shared_from_this();
  Impl* mp = impl_.get();
  // In stream order: passes enqueued before still find their graphs.
  stream_for(impl_->device).enqueue([self, mp] { mp->graphs.clear(); });
}

InputGrads Model::backward(const Tensor& dout, bool accumulate) {
  Impl& m = *impl_;
  const char* op = "UNet.backward";
  IE_CHECK(m.saved_pending, op, ": nothing to differentiate: call forward with train: true first (each training "
                                "forward allows one backward)");
  IE_CHECK(dout.defined(), op, ": gradOut is not a tensor (undefined or disposed)");
  IE_CHECK((dout.dtype() == DType::F32 || dout.dtype() == m.compute) && dout.device() == m.device, op,
           ": gradOut must be float32 on ", m.device.str(), ", got ", dout.desc());
  Shape want{m.sample_shape[0], m.cfg.out_channels, m.sample_shape[2], m.sample_shape[3]};
  IE_CHECK(dout.shape() == want, op, ": gradOut must have the output's shape ", shape_str(want), ", got ",
           dout.desc());
  const bool fresh = m.store.ensure_grads(m.grads, m.gviews, m.device);
  m.saved_pending = false;
  InputGrads g{Tensor::empty(m.sample_shape, DType::F32, m.device), Tensor::empty(m.ehs_shape, DType::F32, m.device)};
  std::shared_ptr<Model> self = shared_from_this();
  Impl* mp = &m;
  stream_for(m.device).enqueue([self, mp, dout, g, accumulate, fresh] {
    if (fresh) memory_zero(mp->grads.raw(), mp->grads.nbytes(), mp->device);  // padding too, and accumulate starts at 0
    const DType D = mp->compute;
    Ctx ctx;
    ctx.model = "UNet";
    ctx.values = D == DType::F32 ? &mp->store.views : &mp->cviews;  // what the forward used
    ctx.grads = &mp->gviews;
    ctx.accumulate = accumulate;
    memory_reset_peak(mp->device);
    int64_t base = memory_in_use(mp->device);
    IE_CHECK(mp->s.sample.defined(), "UNet.backward: the training forward did not complete (it failed or was "
                                     "cancelled), so there is nothing to differentiate");
    try {
      InputGrads r = mp->run_backward(dout.dtype() == D ? dout : ops::cast(dout, D), ctx);
      auto f32 = [](const Tensor& t) { return t.dtype() == DType::F32 ? t : ops::cast(t, DType::F32); };
      ops::assign(g.sample, f32(r.sample), false);
      ops::assign(g.encoder_hidden_states, f32(r.encoder_hidden_states), false);
    } catch (...) {
      mp->clear_saved();
      throw;
    }
    std::lock_guard<std::mutex> lk(mp->stats_mu);
    mp->stats.backward_peak_bytes = memory_peak(mp->device) - base;
  });
  return g;
}

}  // namespace ie::unet
