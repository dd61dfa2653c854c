// The UNet's instructedit extensions (docs/unet-extensions.md): input_coordinates (conv_in also reads
// x/y coordinate planes) and output_skip_channel (output = conv_out(...) + a slice of the input).
// Checked against what they are defined to be — a plain model fed the coordinate planes by hand, the
// identity when conv_out is zero — and their backward against finite differences.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "harness.h"
#include "finite_diff.h"
#include "fixtures.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/unet.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
using ie::unet::Config;
using ie::unet::Model;
using iet::dot;
using iet::host;

// Two levels, non-square input; 5 input channels (noisy 3 + 2 "source"), 3 out; skip from channel 2.
Config ext_config(bool coords, int64_t skip) {
  Config c;
  c.in_channels = 5;
  c.out_channels = 3;
  c.block_out_channels = {8, 16};
  c.down_block_types = {"CrossAttnDownBlock2D", "DownBlock2D"};
  c.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D"};
  c.layers_per_block = {1, 1};
  c.num_heads = {2, 2};
  c.cross_attention_dim = {6, 6};
  c.transformer_layers = {1, 1};
  c.norm_num_groups = 4;
  c.input_coordinates = coords;
  c.output_skip_channel = skip;
  return c;
}

Tensor from(const std::vector<float>& v, const ie::Shape& s) { return ops::from_host(v.data(), v.size() * 4, s, ie::DType::F32, {}); }

}  // namespace

IE_TEST(unet_extensions, coordinates_equal_a_plain_model_fed_the_planes) {
  const int64_t B = 2, H = 6, W = 4;
  auto with = Model::create(ext_config(true, -1));
  with->init_random(5);
  Config plain_cfg = ext_config(false, -1);
  plain_cfg.in_channels = 7;  // the sample's 5 channels + x + y, given by hand
  auto plain = Model::create(plain_cfg);
  ops::assign(plain->flat_params(), with->flat_params(), false);  // same layout, same weights
  Tensor x = ops::randn({B, 5, H, W}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({B, 3, 6}, 2, 0, 0, 1, ie::DType::F32, {});
  std::vector<float> tv{10.f, 900.f};
  Tensor t = from(tv, {B});
  std::vector<float> planes(size_t(B * 2 * H * W));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        planes[size_t(((b * 2 + 0) * H + y) * W + xx)] = float((2.0 * xx + 1) / W - 1);  // x: left -1 .. right +1
        planes[size_t(((b * 2 + 1) * H + y) * W + xx)] = float((2.0 * y + 1) / H - 1);   // y: top -1 .. bottom +1
      }
  Tensor x7 = ops::concat({x, from(planes, {B, 2, H, W})}, 1);
  std::vector<float> a = host(with->forward(x, t, ehs)), b = host(plain->forward(x7, t, ehs));
  double err = iet::rel_l2(a, b);
  IE_EXPECT_REL(err, 1e-6, "coordinates model vs plain model with the planes appended");
  // And the planes matter: the coordinate weights are not inert.
  Tensor x7z = ops::concat({x, ops::zeros({B, 2, H, W}, ie::DType::F32, {})}, 1);
  IE_EXPECT(iet::rel_l2(a, host(plain->forward(x7z, t, ehs))) > 1e-3, "coordinates change the output");
}

IE_TEST(unet_extensions, output_skip_with_zero_conv_out_is_the_identity_of_its_slice) {
  const int64_t B = 2, H = 5, W = 7;
  auto m = Model::create(ext_config(true, 2));
  m->init_random(9);
  ops::assign(m->param("conv_out.weight"), ops::zeros(m->param("conv_out.weight").shape(), ie::DType::F32, {}), false);
  ops::assign(m->param("conv_out.bias"), ops::zeros(m->param("conv_out.bias").shape(), ie::DType::F32, {}), false);
  Tensor x = ops::randn({B, 5, H, W}, 3, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({B, 3, 6}, 4, 0, 0, 1, ie::DType::F32, {});
  std::vector<float> tv{999.f};
  std::vector<float> y = host(m->forward(x, from(tv, {1}), ehs)), xs = host(x);
  size_t bad = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < H * W; ++i)
        if (y[size_t((b * 3 + c) * H * W + i)] != xs[size_t((b * 5 + 2 + c) * H * W + i)]) ++bad;
  IE_EXPECT(bad == 0, std::to_string(bad) + " outputs differ from sample[:, 2:5]");
}

IE_TEST(unet_extensions, backward_matches_finite_differences) {
  for (int64_t skip : {0, 2}) {
    auto model = Model::create(ext_config(true, skip));
    model->init_random(77);
    const int64_t B = 2, H = 8, W = 6;
    Tensor x = ops::randn({B, 5, H, W}, 1, 0, 0, 1, ie::DType::F32, {});
    Tensor ehs = ops::randn({B, 3, 6}, 2, 0, 0, 1, ie::DType::F32, {});
    std::vector<float> tv{37.5f, 801.f};
    Tensor t = from(tv, {B});
    std::vector<float> R = host(ops::randn({B, 3, H, W}, 3, 0, 0, 1, ie::DType::F32, {}));
    ie::unet::ForwardOptions o;
    o.train = true;
    model->forward(x, t, ehs, o);
    ie::unet::InputGrads g = model->backward(from(R, {B, 3, H, W}));
    std::vector<float> dx = host(g.sample), dp = host(model->flat_grads());
    IE_EXPECT(g.sample.shape() == x.shape(), "d sample has the sample's shape (coordinate channels dropped)");
    auto loss = [&](const Tensor& xi) { return dot(host(model->forward(xi, t, ehs)), R); };
    std::vector<float> x0 = host(x), vx = host(ops::randn(x.shape(), 10, 0, 0, 1, ie::DType::F32, {}));
    double fd = iet::richardson([&](float s) {
      std::vector<float> xi = x0;
      for (size_t i = 0; i < xi.size(); ++i) xi[i] += s * vx[i];
      return loss(from(xi, x.shape()));
    }, 4e-3f);
    std::string tag = " (skip " + std::to_string(skip) + ")";
    IE_EXPECT_REL(std::fabs(dot(dx, vx) - fd) / std::fabs(fd), 1e-2, "d sample vs finite differences" + tag);
    iet::check_param_groups(model->params(), model->flat_params(), dp, [&] { return loss(x); }, {"", "conv_in", "conv_out"},
                            1e-3f, 1e-2, tag);
  }
}

IE_TEST(unet_extensions, config_keys_parse_and_round_trip) {
  Config c = Config::from_json("{\"in_channels\": 8, \"out_channels\": 4, \"input_coordinates\": true, \"output_skip_channel\": 4}");
  IE_EXPECT(c.input_coordinates && c.output_skip_channel == 4 && c.conv_in_channels() == 10, "parsed");
  Config r = Config::from_json(c.to_json());
  IE_EXPECT(r.input_coordinates && r.output_skip_channel == 4, "to_json round trip");
  IE_EXPECT(Config::from_json("{}").to_json().find("output_skip") == std::string::npos, "off: not written");
  auto model = Model::create(c);
  IE_EXPECT(model->param("conv_in.weight").size(1) == 10, "conv_in reads 8 + 2 channels");
  for (const std::string& bad : {std::string("{\"in_channels\": 8, \"out_channels\": 4, \"output_skip_channel\": 5}"),
                                 std::string("{\"output_skip_channel\": -2}"), std::string("{\"input_coordinates\": 1}")}) {
    bool threw = false;
    try {
      Config::from_json(bad, "config.json");
    } catch (const ie::Error& e) {
      threw = std::string(e.what()).find("config.json") != std::string::npos;
    }
    IE_EXPECT(threw, "no clear error for " + bad);
  }
}
