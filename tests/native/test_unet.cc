// UNet2DConditionModel: parity with diffusers (../shared/parity/unet_tiny2: output, input and parameter
// gradients), finite differences on a tiny random config, gradient checkpointing, config errors.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "harness.h"
#include "fixtures.h"
#include "unet_parity.h"
#include "ie/allocator.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/unet.h"
#include "io/json.h"
#include "models/unet/config.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
using ie::unet::Config;
using ie::unet::Model;

using iet::exists;
using iet::host;
using iet::read_text;
using iet::shared_dir;

using iet::rel_l2;
double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

Config tiny2_config() { return iet::unet_tiny2_config(); }

// A tiny config for finite differences: two levels, non-square input, 2 heads, 2 transformer layers.
Config tiny_config() {
  Config c;
  c.in_channels = 5;
  c.out_channels = 3;
  c.block_out_channels = {8, 16};
  c.down_block_types = {"CrossAttnDownBlock2D", "DownBlock2D"};
  c.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D"};
  c.layers_per_block = {1, 1};
  c.num_heads = {2, 2};
  c.cross_attention_dim = {6, 6};
  c.transformer_layers = {2, 2};
  c.norm_num_groups = 4;
  return c;
}

void randomize(Model& m, uint64_t seed) { m.init_random(seed); }

double loss_of(Model& m, const Tensor& x, const Tensor& t, const Tensor& ehs, const std::vector<float>& R) {
  return dot(host(m.forward(x, t, ehs)), R);
}

}  // namespace

IE_TEST(unet, parity_unet_tiny2_forward_and_gradients) {
  const std::string dir = shared_dir() + "/parity/unet_tiny2";
  if (!exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  auto model = Model::create(tiny2_config());
  model->load(st::Reader::open(dir + "/unet.safetensors"));
  iet::check_unet_parity(*model, iet::unet_tiny2_inputs(dir, {}), dir, {}, "");
}

IE_TEST(unet, backward_matches_finite_differences) {
  auto model = Model::create(tiny_config());
  randomize(*model, 77);
  const int64_t B = 2, H = 8, W = 6, S = 3;
  Tensor x = ops::randn({B, 5, H, W}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({B, S, 6}, 2, 0, 0, 1, ie::DType::F32, {});
  std::vector<float> tv{37.5f, 801.f};
  Tensor t = ops::from_host(tv.data(), 8, {B}, ie::DType::F32, {});
  std::vector<float> R = host(ops::randn({B, 3, H, W}, 3, 0, 0, 1, ie::DType::F32, {}));
  Tensor Rt = ops::from_host(R.data(), R.size() * 4, {B, 3, H, W}, ie::DType::F32, {});

  ie::unet::ForwardOptions o;
  o.train = true;
  model->forward(x, t, ehs, o);
  ie::unet::InputGrads g = model->backward(Rt);
  std::vector<float> dx = host(g.sample), dehs = host(g.encoder_hidden_states), dp = host(model->flat_grads());

  // Central differences along random directions, Richardson-extrapolated (fd(h/2)·4 − fd(h))/3 so the
  // O(h²) curvature term cancels (random tiny nets are strongly curved); float32 forward -> tolerance 1e-2.
  auto along = [&](const Tensor& base, const std::vector<float>& dir, float s) {
    std::vector<float> b = host(base);
    for (size_t i = 0; i < b.size(); ++i) b[i] += s * dir[i];
    return ops::from_host(b.data(), b.size() * 4, base.shape(), ie::DType::F32, {});
  };
  std::vector<float> vx = host(ops::randn(x.shape(), 10, 0, 0, 1, ie::DType::F32, {}));
  auto richardson = [&](const std::function<double(float)>& L, float h = 4e-3f) {
    double f1 = (L(h) - L(-h)) / (2 * h), f2 = (L(h / 2) - L(-h / 2)) / h;
    return (4 * f2 - f1) / 3;
  };
  double fd = richardson([&](float s) { return loss_of(*model, along(x, vx, s), t, ehs, R); });
  IE_EXPECT_REL(std::fabs(dot(dx, vx) - fd) / std::fabs(fd), 1e-2, "d sample vs finite differences");

  std::vector<float> ve = host(ops::randn(ehs.shape(), 11, 0, 0, 1, ie::DType::F32, {}));
  fd = richardson([&](float s) { return loss_of(*model, x, t, along(ehs, ve, s), R); });
  IE_EXPECT_REL(std::fabs(dot(dehs, ve) - fd) / std::fabs(fd), 1e-2, "d encoder_hidden_states vs finite differences");

  // All parameters at once, then each parameter group (so a wrong gradient cannot hide in the sum).
  Tensor flat = model->flat_params();
  std::vector<float> p0 = host(flat);
  auto set_params = [&](const std::vector<float>& v) {
    ops::assign(flat, ops::from_host(v.data(), v.size() * 4, flat.shape(), ie::DType::F32, {}), false);
  };
  auto check_dir = [&](const std::vector<float>& vp, const std::string& what) {
    std::vector<float> p = p0;
    double f = richardson([&](float s) {
      for (size_t i = 0; i < p.size(); ++i) p[i] = p0[i] + s * vp[i];
      set_params(p);
      return loss_of(*model, x, t, ehs, R);
    }, 1e-3f);
    set_params(p0);
    double an = dot(dp, vp);
    double err = std::fabs(an - f) / std::fabs(f);
    std::printf("  d params (%s): analytic %.6f, numeric %.6f, rel %.1e\n", what.c_str(), an, f, err);
    IE_EXPECT_REL(err, 1e-2, "d params (" + what + ") vs finite differences: analytic " + std::to_string(an) +
                                 ", numeric " + std::to_string(f));
  };
  std::vector<float> vall = host(ops::randn(flat.shape(), 12, 0, 0, 1, ie::DType::F32, {}));
  check_dir(vall, "all");
  for (const char* group : {"conv_in", "time_embedding", "down_blocks.0.resnets", "down_blocks.0.attentions",
                            "attn1", "attn2", "ff.net", "mid_block", "up_blocks.1.resnets", "upsamplers",
                            "conv_norm_out", "conv_out"}) {
    std::vector<float> v(vall.size(), 0.f);
    for (const auto& p : model->params())
      if (p.name.find(group) != std::string::npos)
        for (int64_t i = 0; i < ie::shape_numel(p.shape); ++i) v[size_t(p.offset + i)] = vall[size_t(p.offset + i)];
    check_dir(v, group);
  }
}

IE_TEST(unet, checkpointing_same_gradients_less_memory) {
  Config c = tiny_config();
  c.block_out_channels = {16, 32};
  c.norm_num_groups = 8;
  auto model = Model::create(c);
  randomize(*model, 5);
  const int64_t B = 2, H = 32, W = 24;
  Tensor x = ops::randn({B, 5, H, W}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({B, 4, 6}, 2, 0, 0, 1, ie::DType::F32, {});
  Tensor t = ops::full({B}, 500, ie::DType::F32, {});
  Tensor R = ops::randn({B, 3, H, W}, 3, 0, 0, 1, ie::DType::F32, {});
  std::vector<float> grads[2], dx[2];
  int64_t peak[2], saved[2];
  for (int ck = 0; ck < 2; ++ck) {
    ie::unet::ForwardOptions o;
    o.train = true;
    o.checkpoint = ck == 1;
    ie::stream_for({}).sync();
    ie::cpu_reset_peak();
    int64_t base = int64_t(ie::cpu_alloc_stats().in_use);
    model->forward(x, t, ehs, o);
    ie::unet::InputGrads g = model->backward(R);
    ie::stream_for({}).sync();
    peak[ck] = int64_t(ie::cpu_alloc_stats().peak_in_use) - base;
    saved[ck] = model->stats().saved_bytes;
    grads[ck] = host(model->flat_grads());
    dx[ck] = host(g.sample);
  }
  std::printf("  training step peak: %lld bytes stored, %lld checkpointed; saved activations %lld vs %lld\n",
              (long long)peak[0], (long long)peak[1], (long long)saved[0], (long long)saved[1]);
  IE_EXPECT_REL(rel_l2(grads[1], grads[0]), 1e-6, "parameter gradients with checkpointing");
  IE_EXPECT_REL(rel_l2(dx[1], dx[0]), 1e-6, "sample gradient with checkpointing");
  IE_EXPECT(saved[1] * 2 < saved[0], "checkpointing saves far less: " + std::to_string(saved[1]) + " vs " +
                                         std::to_string(saved[0]));
  IE_EXPECT(peak[1] < peak[0], "checkpointing lowers the peak: " + std::to_string(peak[1]) + " vs " +
                                   std::to_string(peak[0]));
}

IE_TEST(unet, odd_sizes_and_broadcast_timestep) {
  // 12x10 latent with 3 levels: 12 -> 6 -> 3 (and 10 -> 5 -> 3); the up path interpolates to 6x5.
  Config c = tiny_config();
  c.block_out_channels = {8, 8, 16};
  c.down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"};
  c.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  c.layers_per_block = {1, 2, 1};
  c.num_heads = {2, 1, 4};
  c.cross_attention_dim = {6, 6, 6};
  c.transformer_layers = {1, 1, 1};
  auto model = Model::create(c);
  randomize(*model, 9);
  Tensor x = ops::randn({3, 5, 12, 10}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({3, 2, 6}, 2, 0, 0, 1, ie::DType::F32, {});
  Tensor t1 = ops::full({1}, 250, ie::DType::F32, {}), t3 = ops::full({3}, 250, ie::DType::F32, {});
  Tensor y = model->forward(x, t1, ehs);
  IE_EXPECT(y.shape() == ie::Shape({3, 3, 12, 10}), "output shape " + ie::shape_str(y.shape()));
  std::vector<float> a = host(y), b = host(model->forward(x, t3, ehs));
  IE_EXPECT(a == b, "a single timestep broadcasts to the batch");
  for (float v : a) IE_EXPECT(std::isfinite(v), "finite output");
}

IE_TEST(unet, config_errors_name_the_key) {
  auto expect_error = [](const std::string& json, const std::string& needle) {
    try {
      Config::from_json(json, "config.json");
      IE_EXPECT(false, "no error for " + json);
    } catch (const ie::Error& e) {
      IE_EXPECT(std::string(e.what()).find(needle) != std::string::npos,
                "error for " + json + " should mention " + needle + ", got: " + e.what());
    }
  };
  expect_error("{\"in_chanels\": 8}", "unknown config key \"in_chanels\"");
  expect_error("{\"class_embed_type\": \"timestep\"}", "class_embed_type");
  expect_error("{\"act_fn\": \"gelu\"}", "act_fn");
  expect_error("{\"down_block_types\": [\"SimpleCrossAttnDownBlock2D\"], \"up_block_types\": [\"UpBlock2D\"], "
               "\"block_out_channels\": [32]}",
               "SimpleCrossAttnDownBlock2D");
  expect_error("{\"block_out_channels\": [320, 640]}", "block_out_channels has 2 entries");
  expect_error("{\"attention_head_dim\": [8, 8]}", "attention_head_dim");
  expect_error("{\"norm_num_groups\": 7}", "not divisible by norm_num_groups");
  expect_error("{\"in_channels\": 2.5}", "in_channels");
  expect_error("{\"dropout\": 0.1}", "dropout");
  expect_error("[1, 2]", "must be a JSON object");
  expect_error("{\"in_channels\": 8,}", "not valid JSON");
  // The real InstructPix2Pix config parses, with 8 heads everywhere.
  std::string text = read_text(shared_dir() + "/parity/manifest.json");
  if (!text.empty()) {
    for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
    ie::json::Value m = ie::json::parse(text);
    Config c = ie::unet::detail::config_from_value(*m.find("ip2p_real_unet_config"), "manifest");
    IE_EXPECT(c.in_channels == 8 && c.num_heads == std::vector<int64_t>({8, 8, 8, 8}), "ip2p config");
    auto model = Model::create(c);
    IE_EXPECT(model->num_params() == 859532484, "SD1.5 parameter count " + std::to_string(model->num_params()));
    IE_EXPECT(model->params().size() == 686, "686 tensors, got " + std::to_string(model->params().size()));
  }
}

IE_TEST(unet, load_errors_list_the_keys) {
  const std::string dir = shared_dir() + "/parity/unet_tiny2";
  if (!exists(dir)) return;
  Config c = tiny2_config();
  c.cross_attention_dim = {16, 16};  // every attn2.to_k/to_v now has the wrong shape
  auto model = Model::create(c);
  try {
    model->load(st::Reader::open(dir + "/unet.safetensors"));
    IE_EXPECT(false, "loading mismatched weights must fail");
  } catch (const ie::Error& e) {
    std::string m = e.what();
    IE_EXPECT(m.find("wrong shape") != std::string::npos && m.find("attn2.to_k.weight") != std::string::npos &&
                  m.find("[32, 16]") != std::string::npos,
              "message lists the mismatched keys: " + m);
  }
  // An 8-channel model from a file whose conv_in has 8 channels loaded into a 12-channel model: refused
  // unless asked to widen; then the new channels are zero and the rest is kept.
  Config w = tiny2_config();
  w.in_channels = 12;
  auto wide = Model::create(w);
  try {
    wide->load(st::Reader::open(dir + "/unet.safetensors"));
    IE_EXPECT(false, "conv_in mismatch must fail without in_channels");
  } catch (const ie::Error& e) {
    IE_EXPECT(std::string(e.what()).find("conv_in.weight") != std::string::npos, e.what());
  }
  ie::unet::LoadOptions lo;
  lo.in_channels = 12;
  wide->load(st::Reader::open(dir + "/unet.safetensors"), lo);
  std::vector<float> ww = host(wide->param("conv_in.weight"));
  std::vector<float> orig = host(st::Reader::open(dir + "/unet.safetensors").load("conv_in.weight"));
  bool ok = true;
  for (int64_t o = 0; o < 32; ++o)
    for (int64_t i = 0; i < 12; ++i)
      for (int64_t k = 0; k < 9; ++k) {
        float v = ww[size_t((o * 12 + i) * 9 + k)];
        ok &= i < 8 ? v == orig[size_t((o * 8 + i) * 9 + k)] : v == 0.f;
      }
  IE_EXPECT(ok, "widened conv_in keeps the original channels and zeroes the new ones");
}

IE_TEST(unet, linear_projection_equals_1x1_conv_projection) {
  // use_linear_projection (SD2.x) stores proj_in/proj_out as Linear [C, C] instead of 1x1 conv
  // [C, C, 1, 1]; with the same numbers both compute the same function.
  Config a = tiny_config(), b = tiny_config();
  b.use_linear_projection = true;
  auto ma = Model::create(a), mb = Model::create(b);
  ma->init_random(21);
  IE_EXPECT(mb->param("down_blocks.0.attentions.0.proj_in.weight").shape() == ie::Shape({8, 8}), "Linear shape");
  IE_EXPECT(ma->param("down_blocks.0.attentions.0.proj_in.weight").shape() == ie::Shape({8, 8, 1, 1}), "conv shape");
  ops::assign(mb->flat_params(), ma->flat_params(), false);
  Tensor x = ops::randn({1, 5, 8, 8}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor e = ops::randn({1, 4, 6}, 2, 0, 0, 1, ie::DType::F32, {});
  Tensor t = ops::full({1}, 100, ie::DType::F32, {});
  IE_EXPECT(host(ma->forward(x, t, e)) == host(mb->forward(x, t, e)), "same output");
}
