// AutoencoderKL (SPEC §4): encoder, decoder and the latent distribution, over the shared layers.
#include <algorithm>
#include <cmath>

#include "ie/allocator.h"
#include "ie/device_memory.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/vae.h"
#include "models/common/layers.h"
#include "models/vae/tiling.h"

namespace ie::vae {

using nn::Conv2d;
using nn::Ctx;
using nn::GroupNorm;
using nn::Linear;
using nn::ParamTable;
using ops::Binary;

namespace {

using Tap = std::function<void(const std::string&, const Tensor&)>;
constexpr double kEps = 1e-6;  // every GroupNorm of the VAE

// ResnetBlock2D without a time embedding (SPEC §2.3 / §4).
struct Resnet {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2, shortcut;
  bool has_shortcut = false;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t groups) {
    norm1.init(t, name + ".norm1", in, groups, kEps, true);
    conv1.init(t, name + ".conv1", in, out, 3, 1, 1);
    norm2.init(t, name + ".norm2", out, groups, kEps, true);
    conv2.init(t, name + ".conv2", out, out, 3, 1, 1);
    has_shortcut = in != out;
    if (has_shortcut) shortcut.init(t, name + ".conv_shortcut", in, out, 1, 1, 0);
  }
  Tensor forward(const Ctx& c, const Tensor& x) const {
    Tensor h = conv1.forward(c, norm1.forward(c, x).y);  // conv1(SiLU(GN(x)))
    h = conv2.forward(c, norm2.forward(c, h).y);
    return ops::binary(Binary::Add, has_shortcut ? shortcut.forward(c, x) : x, h);
  }
};

// Single-head self-attention over all positions (SPEC §4.4). The NCHW <-> token transposes are
// folded into the projections' matmul flags.
struct MidAttention {
  GroupNorm norm;
  Linear q, k, v, out;
  int64_t C = 0;
  void init(ParamTable& t, const std::string& name, int64_t channels, int64_t groups) {
    C = channels;
    norm.init(t, name + ".group_norm", C, groups, kEps, false);
    q.init(t, name + ".to_q", C, C, true);
    k.init(t, name + ".to_k", C, C, true);
    v.init(t, name + ".to_v", C, C, true);
    out.init(t, name + ".to_out.0", C, C, true);
  }
  Tensor forward(const Ctx& c, const Tensor& x) const {
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
    Tensor n = norm.forward(c, x).y.reshape({B, C, H * W});
    // tokens[b, l, o] = Σ_c W[o, c] · n[b, c, l] + bias[o]
    auto project = [&](const Linear& l) {
      return ops::binary(Binary::Add, ops::matmul(n, c.P(l.w), true, true), c.P(l.b));
    };
    Tensor qt = project(q), kt = project(k), vt = project(v);
    n = Tensor();
    Tensor o = ops::attention(qt, kt, vt, 1, 0.0, false).out;  // scale 1/√C
    qt = kt = vt = Tensor();
    // y[b, c, l] = Σ_i W_out[c, i] · o[b, l, i] + bias[c]
    Tensor y = ops::binary(Binary::Add, ops::matmul(c.P(out.w), o, false, true), c.P(out.b).reshape({C, 1}));
    return ops::binary(Binary::Add, y.reshape({B, C, H, W}), x);
  }
};

struct MidBlock {
  Resnet r0, r1;
  MidAttention attn;
  bool has_attn = true;
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t groups, bool attention) {
    has_attn = attention;
    // diffusers registers the attentions before the resnets (state_dict order).
    if (has_attn) attn.init(t, name + ".attentions.0", C, groups);
    r0.init(t, name + ".resnets.0", C, C, groups);
    r1.init(t, name + ".resnets.1", C, C, groups);
  }
  Tensor forward(const Ctx& c, const Tensor& x, const Tap& tap, const std::string& name) const {
    Tensor h = r0.forward(c, x);
    if (tap) tap(name + ".resnets.0", h);
    if (has_attn) h = attn.forward(c, h);
    if (tap && has_attn) tap(name + ".attentions.0", h);
    return r1.forward(c, h);
  }
};

struct Level {
  std::vector<Resnet> resnets;
  bool resample = false;  // down: pad + stride-2 conv; up: nearest x2 + conv
  Conv2d conv;
};

// The VAE downsampler pads right and bottom by one (SPEC §4.2), then a 3x3 stride-2 conv without
// padding; the zero row and column are appended with concat (exact, and the conv stays symmetric).
Tensor pad_right_bottom(const Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor xw = ops::concat({x, ops::zeros({B, C, H, 1}, DType::F32, x.device())}, 3);
  return ops::concat({xw, ops::zeros({B, C, 1, W + 1}, DType::F32, x.device())}, 2);
}

}  // namespace

struct Model::Impl {
  Config cfg;
  Device device;
  nn::ParamStore store;
  Conv2d enc_in, enc_out, dec_in, dec_out, quant, post_quant;
  std::vector<Level> downs, ups;
  MidBlock enc_mid, dec_mid;
  GroupNorm enc_norm_out, dec_norm_out;
  Stats stats;

  void build();
  Tensor encoder(const Ctx& c, const Tap& tap, const Tensor& x) const;  // -> moments
  Tensor decoder(const Ctx& c, const Tap& tap, const Tensor& z) const;  // -> image
  Ctx ctx(const RunOptions& o) const {
    Ctx c;
    c.model = "VAE";
    c.values = &store.views;
    c.cancel = o.cancel.get();
    return c;
  }
};

void Model::Impl::build() {
  const Config& c = cfg;
  const size_t n = c.block_out_channels.size();
  const int64_t G = c.norm_num_groups, L = c.latent_channels;
  ParamTable& t = store.table;
  // Registration in diffusers' module order (= state_dict order): encoder, decoder, quant convs.
  enc_in.init(t, "encoder.conv_in", c.in_channels, c.block_out_channels[0], 3, 1, 1);
  downs.resize(n);
  int64_t ch = c.block_out_channels[0];
  for (size_t i = 0; i < n; ++i) {
    const std::string name = "encoder.down_blocks." + std::to_string(i);
    const int64_t out = c.block_out_channels[i];
    downs[i].resnets.resize(size_t(c.layers_per_block));
    for (int64_t j = 0; j < c.layers_per_block; ++j)
      downs[i].resnets[size_t(j)].init(t, name + ".resnets." + std::to_string(j), j == 0 ? ch : out, out, G);
    downs[i].resample = i + 1 < n;
    if (downs[i].resample) downs[i].conv.init(t, name + ".downsamplers.0.conv", out, out, 3, 2, 0);
    ch = out;
  }
  enc_mid.init(t, "encoder.mid_block", ch, G, c.mid_block_add_attention);
  enc_norm_out.init(t, "encoder.conv_norm_out", ch, G, kEps, true);
  enc_out.init(t, "encoder.conv_out", ch, 2 * L, 3, 1, 1);

  dec_in.init(t, "decoder.conv_in", L, ch, 3, 1, 1);
  // diffusers creates decoder.up_blocks before decoder.mid_block.
  ups.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string name = "decoder.up_blocks." + std::to_string(i);
    const int64_t out = c.block_out_channels[n - 1 - i];
    ups[i].resnets.resize(size_t(c.layers_per_block + 1));
    for (int64_t j = 0; j <= c.layers_per_block; ++j)
      ups[i].resnets[size_t(j)].init(t, name + ".resnets." + std::to_string(j), j == 0 ? ch : out, out, G);
    ups[i].resample = i + 1 < n;
    if (ups[i].resample) ups[i].conv.init(t, name + ".upsamplers.0.conv", out, out, 3, 1, 1);
    ch = out;
  }
  dec_mid.init(t, "decoder.mid_block", c.block_out_channels.back(), G, c.mid_block_add_attention);
  dec_norm_out.init(t, "decoder.conv_norm_out", ch, G, kEps, true);
  dec_out.init(t, "decoder.conv_out", ch, c.out_channels, 3, 1, 1);
  if (c.use_quant_conv) quant.init(t, "quant_conv", 2 * L, 2 * L, 1, 1, 0);
  if (c.use_post_quant_conv) post_quant.init(t, "post_quant_conv", L, L, 1, 1, 0);
  store.allocate(device);
}

Tensor Model::Impl::encoder(const Ctx& c, const Tap& tap, const Tensor& x) const {
  auto t = [&](const char* name, const Tensor& v) {
    if (tap) tap(name, v);
    return v;
  };
  Tensor h = t("encoder.conv_in", enc_in.forward(c, x));
  for (size_t i = 0; i < downs.size(); ++i) {
    const Level& d = downs[i];
    c.check_cancel();
    for (const Resnet& r : d.resnets) h = r.forward(c, h);
    if (d.resample) h = d.conv.forward(c, pad_right_bottom(h));
    if (tap) tap("encoder.down_blocks." + std::to_string(i), h);
  }
  c.check_cancel();
  h = t("encoder.mid_block", enc_mid.forward(c, h, tap, "encoder.mid_block"));
  h = t("encoder", enc_out.forward(c, t("encoder.conv_norm_out", enc_norm_out.forward(c, h).y)));
  return cfg.use_quant_conv ? t("quant_conv", quant.forward(c, h)) : h;
}

Tensor Model::Impl::decoder(const Ctx& c, const Tap& tap, const Tensor& z) const {
  auto t = [&](const char* name, const Tensor& v) {
    if (tap) tap(name, v);
    return v;
  };
  Tensor h = dec_in.forward(c, cfg.use_post_quant_conv ? t("post_quant_conv", post_quant.forward(c, z)) : z);
  h = t("decoder.mid_block", dec_mid.forward(c, t("decoder.conv_in", h), tap, "decoder.mid_block"));
  for (size_t i = 0; i < ups.size(); ++i) {
    const Level& u = ups[i];
    c.check_cancel();
    for (const Resnet& r : u.resnets) h = r.forward(c, h);
    if (u.resample) h = u.conv.forward(c, ops::upsample_nearest(h, 2 * h.size(2), 2 * h.size(3)));
    if (tap) tap("decoder.up_blocks." + std::to_string(i), h);
  }
  c.check_cancel();
  return t("decoder", dec_out.forward(c, t("decoder.conv_norm_out", dec_norm_out.forward(c, h).y)));
}

namespace {

// Validates the tiling options and turns them into a grid in latent cells (or none: untiled).
bool tile_grid(const Tiling& t, int64_t f, int64_t H, int64_t W, const char* op, detail::TileGrid* g) {
  IE_CHECK(t.tile_size >= f && t.tile_size % f == 0, op, ": tiling.tileSize must be a positive multiple of ", f,
           " (pixels), got ", t.tile_size);
  IE_CHECK(t.overlap >= 0 && t.overlap <= 0.75, op, ": tiling.overlap must be in [0, 0.75], got ", t.overlap);
  IE_CHECK(t.auto_threshold >= 0, op, ": the automatic tiling threshold must be >= 0, got ", t.auto_threshold);
  bool on = t.mode == Tiling::Mode::On || (t.mode == Tiling::Mode::Auto && H * W > t.auto_threshold);
  if (!on) return false;
  g->tile = t.tile_size / f;
  g->stride = std::max<int64_t>(1, g->tile - int64_t(std::lround(double(g->tile) * t.overlap)));
  return true;
}

void check_input(const Tensor& x, const char* op, const char* arg, const Device& dev) {
  IE_CHECK(x.defined(), op, ": ", arg, " is not a tensor (undefined or disposed)");
  IE_CHECK(x.dtype() == DType::F32, op, ": ", arg, " must be float32, got ", x.desc());
  IE_CHECK(x.device() == dev, op, ": ", arg, " is on ", x.device().str(), " but the model is on ", dev.str());
}

// Runs `pass` as one stream task, keeping the model alive and recording the pass's peak memory.
template <typename F>
void enqueue_pass(const std::shared_ptr<Model>& self, Device dev, int64_t* peak, F pass) {
  stream_for(dev).enqueue([self, dev, peak, pass] {
    memory_reset_peak(dev);
    int64_t base = memory_in_use(dev);
    pass();
    *peak = memory_peak(dev) - base;
  });
}

}  // namespace

// ---- public API ----

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<Model> Model::create(const Config& config, Device device) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->device = device;
  impl->build();
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

const Config& Model::config() const { return impl_->cfg; }
const std::vector<ParamInfo>& Model::params() const { return impl_->store.table.infos; }
int64_t Model::num_params() const { return impl_->store.num_params(); }
Tensor Model::flat_params() const { return impl_->store.flat; }
Tensor Model::param(const std::string& name) const {
  int i = impl_->store.find(name);
  IE_CHECK(i >= 0, "VAE: no parameter named \"", name, "\"");
  return impl_->store.views[size_t(i)];
}
Stats Model::stats() const { return impl_->stats; }

void Model::init_random(uint64_t seed) { nn::init_random(impl_->store, seed, impl_->device); }

void Model::load(const safetensors::Reader& reader) {
  nn::LoadSpec spec;
  spec.model = "VAE";
  // Older diffusers checkpoints (the former AttentionBlock) name the mid-block attention
  // query/key/value/proj_attn (SPEC §4.4); diffusers renames them on load, and so do we.
  spec.rename = [](const std::string& key) {
    static const std::pair<const char*, const char*> legacy[] = {
        {".query.", ".to_q."}, {".key.", ".to_k."}, {".value.", ".to_v."}, {".proj_attn.", ".to_out.0."}};
    if (key.find(".mid_block.attentions.") == std::string::npos) return key;
    for (const auto& [from, to] : legacy) {
      size_t at = key.find(from);
      if (at != std::string::npos) return key.substr(0, at) + to + key.substr(at + std::string(from).size());
    }
    return key;
  };
  nn::load(impl_->store, reader, spec, impl_->device);
}

Moments Model::encode(const Tensor& image, const RunOptions& o) {
  Impl& m = *impl_;
  const Config& c = m.cfg;
  const char* op = "VAE.encode";
  const int64_t f = c.downscale(), L = c.latent_channels;
  check_input(image, op, "image", m.device);
  IE_CHECK(image.ndim() == 4 && image.size(1) == c.in_channels && image.size(0) >= 1, op, ": image must be [batch, ",
           c.in_channels, ", height, width], got ", image.desc());
  const int64_t B = image.size(0), H = image.size(2), W = image.size(3);
  IE_CHECK(H >= f && W >= f && H % f == 0 && W % f == 0, op, ": image height and width must be positive multiples of ",
           f, " (the VAE downsamples by ", f, "), got ", H, "x", W);
  detail::TileGrid g;
  g.in_cell = f;
  const bool tiled = tile_grid(o.tiling, f, H, W, op, &g);

  Moments r;
  r.moments = Tensor::empty({B, 2 * L, H / f, W / f}, DType::F32, m.device);
  r.mean = Tensor::empty({B, L, H / f, W / f}, DType::F32, m.device);
  r.logvar = Tensor::empty(r.mean.shape(), DType::F32, m.device);
  r.std = Tensor::empty(r.mean.shape(), DType::F32, m.device);
  Impl* mp = &m;
  enqueue_pass(shared_from_this(), m.device, &m.stats.encode_peak_bytes, [mp, image, o, g, tiled, r, L] {
    Ctx ctx = mp->ctx(o);
    auto run = [&](const Tensor& x) { return mp->encoder(ctx, o.tap, x); };
    int64_t tiles = 1;
    Tensor mom = tiled ? detail::tiled(image, g, run, [&] { ctx.check_cancel(); }, &tiles) : run(image);
    mp->stats.encode_tiles = tiles;
    ops::assign(r.moments, mom, false);
    // mean = channels [0, L), logvar = [L, 2L) clamped to [-30, 20], std = exp(logvar / 2); latent-sized.
    // Computed in host memory: latent-sized, so a GPU model pays two small copies for it.
    const int64_t B = mom.size(0), hw = mom.size(2) * mom.size(3);
    const bool gpu = !mom.device().is_cpu();
    const Device host{};
    Tensor hm = gpu ? ops::to_device(mom, host) : mom;
    Tensor hmean = gpu ? Tensor::empty(r.mean.shape(), DType::F32, host) : r.mean;
    Tensor hlv = gpu ? Tensor::empty(r.mean.shape(), DType::F32, host) : r.logvar;
    Tensor hsd = gpu ? Tensor::empty(r.mean.shape(), DType::F32, host) : r.std;
    const float* src = hm.data<float>();
    float *mean = hmean.data<float>(), *lv = hlv.data<float>(), *sd = hsd.data<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < L * hw; ++i) {
        const int64_t o = b * L * hw + i;
        mean[o] = src[b * 2 * L * hw + i];
        lv[o] = std::min(20.f, std::max(-30.f, src[(b * 2 + 1) * L * hw + i]));
        sd[o] = std::exp(0.5f * lv[o]);
      }
    if (gpu) {
      ops::assign(r.mean, ops::to_device(hmean, mom.device()), false);
      ops::assign(r.logvar, ops::to_device(hlv, mom.device()), false);
      ops::assign(r.std, ops::to_device(hsd, mom.device()), false);
    }
  });
  return r;
}

Tensor Model::decode(const Tensor& z, const RunOptions& o) {
  Impl& m = *impl_;
  const Config& c = m.cfg;
  const char* op = "VAE.decode";
  const int64_t f = c.downscale();
  check_input(z, op, "z", m.device);
  IE_CHECK(z.ndim() == 4 && z.size(1) == c.latent_channels && z.size(0) >= 1 && z.size(2) >= 1 && z.size(3) >= 1, op,
           ": z must be [batch, ", c.latent_channels, ", height, width] (latents divided by scaling_factor), got ",
           z.desc());
  detail::TileGrid g;
  g.out_cell = f;
  const bool tiled = tile_grid(o.tiling, f, z.size(2) * f, z.size(3) * f, op, &g);
  Tensor result = Tensor::empty({z.size(0), c.out_channels, z.size(2) * f, z.size(3) * f}, DType::F32, m.device);
  Impl* mp = &m;
  enqueue_pass(shared_from_this(), m.device, &m.stats.decode_peak_bytes, [mp, z, o, g, tiled, result] {
    Ctx ctx = mp->ctx(o);
    auto run = [&](const Tensor& x) { return mp->decoder(ctx, o.tap, x); };
    int64_t tiles = 1;
    Tensor y = tiled ? detail::tiled(z, g, run, [&] { ctx.check_cancel(); }, &tiles) : run(z);
    mp->stats.decode_tiles = tiles;
    ops::assign(result, y, false);
  });
  return result;
}

}  // namespace ie::vae
