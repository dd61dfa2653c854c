// AutoencoderKL: parity with diffusers (../shared/parity/vae_tiny2: moments, mean, logvar, std,
// decoded image and named intermediates), legacy attention names, the real SD VAE's layout, config and
// shape errors, cancellation, and tiling (exact for a local function; bounded difference for the model).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.h"
#include "fixtures.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/vae.h"
#include "io/json.h"
#include "models/vae/tiling.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
using ie::vae::Config;
using ie::vae::Model;

using iet::host;
using iet::read_text;
using iet::shared_dir;

std::string fixture_dir() { return shared_dir() + "/parity/vae_tiny2"; }
bool have_fixture() {
  if (iet::exists(fixture_dir())) return true;
  std::printf("  skipped: %s not found (set IE_SHARED_DIR)\n", fixture_dir().c_str());
  return false;
}
double rel(const std::vector<float>& a, const std::vector<float>& ref) {
  return iet::rel_error(a, iet::to_double(ref));
}
// The manifest's JSON value at fixtures.<name>.<field>, re-serialised through the config parser.
ie::json::Value manifest() {
  std::string text = read_text(shared_dir() + "/parity/manifest.json");
  for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
  return ie::json::parse(text);
}
Config tiny2_config() {
  ie::json::Value m = manifest();
  return Config::from_json(iet::json_dump(*m.find("fixtures")->find("vae_tiny2")->find("config")), "manifest");
}
float silu(float x) { return x / (1.f + std::exp(-x)); }

// A 3-level random model (downscale 4) small enough to run many tiles.
Config small_config() {
  Config c;
  c.block_out_channels = {8, 16, 16};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  return c;
}

}  // namespace

IE_TEST(vae, parity_vae_tiny2) {
  if (!have_fixture()) return;
  auto model = Model::create(tiny2_config());
  model->load(st::Reader::open(fixture_dir() + "/vae.safetensors"));
  st::Reader in = st::Reader::open(fixture_dir() + "/inputs.safetensors");
  st::Reader out = st::Reader::open(fixture_dir() + "/outputs.safetensors");
  st::Reader mid = st::Reader::open(fixture_dir() + "/intermediates.safetensors");

  std::map<std::string, std::vector<float>> taps;
  ie::vae::RunOptions o;
  o.tap = [&](const std::string& name, const Tensor& v) { taps[name] = host(v); };
  ie::vae::Moments m = model->encode(in.load("image"), o);
  Tensor decoded = model->decode(in.load("latent"), o);
  struct Check {
    const char* name;
    Tensor got;
  } checks[] = {{"moments", m.moments}, {"mean", m.mean}, {"mode", m.mean},
                {"logvar", m.logvar},   {"std", m.std},   {"decoded", decoded}};
  for (const Check& c : checks) {
    IE_EXPECT(c.got.shape() == out.find(c.name)->shape, std::string(c.name) + " shape " + ie::shape_str(c.got.shape()));
    double e = rel(host(c.got), host(out.load(c.name)));
    std::printf("  %-8s rel %.2e\n", c.name, e);
    IE_EXPECT_REL(e, 1e-4, c.name);
  }
  // Every recorded intermediate (the fixture stores GroupNorm outputs before the SiLU).
  for (const st::TensorInfo& t : mid.tensors()) {
    auto it = taps.find(t.name);
    IE_EXPECT(it != taps.end(), "no intermediate named " + t.name);
    if (it == taps.end()) continue;
    std::vector<float> ref = host(mid.load(t.name));
    if (t.name.find("conv_norm_out") != std::string::npos)
      for (float& v : ref) v = silu(v);
    double e = rel(it->second, ref);
    IE_EXPECT_REL(e, 1e-4, "intermediate " + t.name);
  }
}

IE_TEST(vae, legacy_attention_names_load_the_same) {
  if (!have_fixture()) return;
  st::Reader r = st::Reader::open(fixture_dir() + "/vae.safetensors");
  std::vector<std::pair<std::string, Tensor>> legacy;
  int renamed = 0;
  for (const st::TensorInfo& t : r.tensors()) {
    std::string n = t.name;
    for (auto [from, to] : {std::pair{".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."},
                            {".to_out.0.", ".proj_attn."}}) {
      size_t at = n.find(from);
      if (at != std::string::npos) {
        n = n.substr(0, at) + to + n.substr(at + std::string(from).size());
        ++renamed;
      }
    }
    legacy.emplace_back(n, r.load(t.name));
  }
  IE_EXPECT(renamed == 16, "16 attention tensors renamed, got " + std::to_string(renamed));
  std::string path = "/tmp/ie_vae_legacy_" + std::to_string(getpid()) + ".safetensors";
  st::save(path, legacy);
  auto a = Model::create(tiny2_config()), b = Model::create(tiny2_config());
  a->load(r);
  b->load(st::Reader::open(path));
  std::remove(path.c_str());
  for (const ie::ParamInfo& p : a->params())  // per parameter: the padding between them is not written
    IE_EXPECT(host(a->param(p.name)) == host(b->param(p.name)), "same " + p.name + " from new and legacy names");
  // Both names for one tensor is an error, not a silent choice.
  legacy.emplace_back("decoder.mid_block.attentions.0.to_q.weight", r.load("decoder.mid_block.attentions.0.to_q.weight"));
  st::save(path, legacy);
  try {
    b->load(st::Reader::open(path));
    IE_EXPECT(false, "a file with both names must be refused");
  } catch (const ie::Error& e) {
    IE_EXPECT(std::string(e.what()).find("stored twice") != std::string::npos, e.what());
  }
  std::remove(path.c_str());
}

IE_TEST(vae, sd_layout_matches_the_real_checkpoint) {
  std::string text = read_text(shared_dir() + "/parity/real_arch_keys/keys.json");
  if (text.empty()) return;
  ie::json::Value keys = ie::json::parse(text);
  const ie::json::Value& vae = *keys.find("vae");
  Config c = Config::from_json(iet::json_dump(*vae.find("config")), "keys.json");
  auto model = Model::create(c);
  IE_EXPECT(model->num_params() == int64_t(vae.find("n_params")->integer),
            "parameter count " + std::to_string(model->num_params()));
  const ie::json::Value& ks = *vae.find("keys");
  IE_EXPECT(model->params().size() == ks.keys.size(), "tensor count " + std::to_string(model->params().size()));
  for (size_t i = 0; i < ks.keys.size() && i < model->params().size(); ++i) {
    const ie::ParamInfo& p = model->params()[i];
    ie::Shape want;
    for (const auto& d : ks.items[i].items) want.push_back(d.integer);
    IE_EXPECT(p.name == ks.keys[i] && p.shape == want,
              "param " + std::to_string(i) + ": " + p.name + " " + ie::shape_str(p.shape) + " vs " + ks.keys[i]);
  }
  IE_EXPECT(c.downscale() == 8 && c.scaling_factor == 0.18215, "SD VAE downscale and scaling factor");
}

IE_TEST(vae, config_and_shape_errors) {
  auto expect_error = [](const std::function<void()>& fn, const std::string& needle) {
    try {
      fn();
      IE_EXPECT(false, "no error (expected one mentioning " + needle + ")");
    } catch (const ie::Error& e) {
      IE_EXPECT(std::string(e.what()).find(needle) != std::string::npos,
                "error should mention " + needle + ", got: " + e.what());
    }
  };
  auto cfg = [&](const std::string& json, const std::string& needle) {
    expect_error([&] { Config::from_json(json, "vae/config.json"); }, needle);
  };
  cfg("{\"latent_chanels\": 4}", "unknown config key \"latent_chanels\"");
  cfg("{\"act_fn\": \"gelu\"}", "act_fn");
  cfg("{\"down_block_types\": [\"DownBlock2D\"]}", "DownBlock2D");
  cfg("{\"up_block_types\": [\"UpDecoderBlock2D\"]}", "up_block_types has 1 entries");
  cfg("{\"norm_num_groups\": 7}", "not divisible by norm_num_groups");
  cfg("{\"latents_mean\": [0, 0, 0, 0]}", "latents_mean");
  cfg("{\"scaling_factor\": -1}", "scaling_factor");
  cfg("{\"shift_factor\": \"x\"}", "shift_factor");
  cfg("{\"use_quant_conv\": 1}", "use_quant_conv");
  cfg("{\"layers_per_block\": 0}", "layers_per_block");
  cfg("[1]", "must be a JSON object");
  cfg("{\"in_channels\": 3,}", "not valid JSON");
  // Accepted: "_" keys, nulls, a shift factor; and to_json round-trips.
  Config ok = Config::from_json(
      "{\"_class_name\": \"AutoencoderKL\", \"_diffusers_version\": \"0.30.3\", \"shift_factor\": 0.0609, "
      "\"latents_mean\": null, \"block_out_channels\": [32, 64], \"norm_num_groups\": 16, \"use_quant_conv\": false}");
  IE_EXPECT(ok.has_shift_factor && ok.shift_factor == 0.0609 && !ok.use_quant_conv && ok.downscale() == 2, "parsed");
  Config back = Config::from_json(ok.to_json());
  IE_EXPECT(back.to_json() == ok.to_json(), "to_json round-trips: " + ok.to_json());

  auto model = Model::create(small_config());  // downscale 4
  model->init_random(1);
  auto img = [](int64_t c, int64_t h, int64_t w) { return ops::zeros({1, c, h, w}, ie::DType::F32, {}); };
  expect_error([&] { model->encode(img(3, 18, 16)); }, "multiples of 4");
  expect_error([&] { model->encode(img(4, 16, 16)); }, "image must be [batch, 3, height, width]");
  expect_error([&] { model->encode(ops::zeros({1, 3, 8, 8}, ie::DType::F16, {})); }, "must be float32");
  expect_error([&] { model->decode(img(3, 4, 4)); }, "z must be [batch, 4, height, width]");
  expect_error([&] { model->encode(Tensor()); }, "not a tensor");
  ie::vae::RunOptions o;
  o.tiling.mode = ie::vae::Tiling::Mode::On;
  o.tiling.tile_size = 6;
  expect_error([&] { model->decode(img(4, 4, 4), o); }, "tileSize must be a positive multiple of 4");
  o.tiling.tile_size = 16;
  o.tiling.overlap = 0.9;
  expect_error([&] { model->decode(img(4, 4, 4), o); }, "overlap must be in [0, 0.75]");
  // A model without quant convs or attention has no such parameters and still runs.
  Config bare = small_config();
  bare.use_quant_conv = bare.use_post_quant_conv = bare.mid_block_add_attention = false;
  auto m2 = Model::create(bare);
  m2->init_random(2);
  for (const auto& p : m2->params())
    IE_EXPECT(p.name.find("quant_conv") == std::string::npos && p.name.find("attentions") == std::string::npos, p.name);
  Tensor y = m2->decode(m2->encode(img(3, 16, 12)).mean);
  IE_EXPECT(y.shape() == ie::Shape({1, 3, 16, 12}), "round trip shape " + ie::shape_str(y.shape()));
  for (float v : host(y)) IE_EXPECT(std::isfinite(v), "finite");
}

IE_TEST(vae, cancel_stops_the_pass) {
  auto model = Model::create(small_config());
  model->init_random(3);
  ie::vae::RunOptions o;
  o.cancel = std::make_shared<std::atomic<bool>>(true);
  model->decode(ops::zeros({1, 4, 8, 8}, ie::DType::F32, {}), o);
  try {
    ie::stream_for({}).sync();
    IE_EXPECT(false, "a cancelled pass reports an error");
  } catch (const ie::Error& e) {
    IE_EXPECT(std::string(e.what()).find("VAE: cancelled") != std::string::npos, e.what());
  }
  // The model works afterwards.
  IE_EXPECT(host(model->decode(ops::zeros({1, 4, 4, 4}, ie::DType::F32, {}))).size() == 3 * 16 * 16, "decode");
}

IE_TEST(vae, tile_starts_cover_evenly) {
  using ie::vae::detail::tile_starts;
  IE_EXPECT(tile_starts(64, 64, 48) == std::vector<int64_t>({0}), "one tile");
  IE_EXPECT(tile_starts(10, 64, 48) == std::vector<int64_t>({0}), "smaller than a tile");
  IE_EXPECT(tile_starts(128, 64, 48) == std::vector<int64_t>({0, 32, 64}), "128 -> 0, 32, 64");
  for (int64_t size : {65, 100, 111, 200, 257})
    for (int64_t stride : {1, 7, 48, 64}) {
      std::vector<int64_t> s = tile_starts(size, 64, stride);
      bool ok = s.front() == 0 && s.back() + 64 == size;
      for (size_t i = 1; i < s.size(); ++i) ok &= s[i] > s[i - 1] && s[i] - s[i - 1] <= stride;
      IE_EXPECT(ok, "starts for size " + std::to_string(size) + ", stride " + std::to_string(stride));
    }
}

IE_TEST(vae, tiling_is_exact_for_a_local_function) {
  // Nearest x4 upsampling (local): every tile agrees with its neighbours on the overlaps, so the
  // blended result must equal the untiled one (up to the weighted mean's rounding).
  Tensor x = ops::randn({2, 3, 23, 37}, 5, 0, 0, 1, ie::DType::F32, {});
  auto up = [](const Tensor& t) { return ops::upsample_nearest(t, 4 * t.size(2), 4 * t.size(3)); };
  std::vector<float> ref = host(up(x));
  for (auto [tile, stride] : {std::pair<int64_t, int64_t>{8, 6}, {8, 8}, {5, 2}, {16, 12}}) {
    ie::vae::detail::TileGrid g;
    g.tile = tile;
    g.stride = stride;
    g.out_cell = 4;
    int64_t tiles = 0;
    Tensor y;
    ie::stream_for({}).enqueue([&] { y = ie::vae::detail::tiled(x, g, up, nullptr, &tiles); });
    ie::stream_for({}).sync();
    IE_EXPECT(tiles > 4, "split into tiles: " + std::to_string(tiles));
    IE_EXPECT_REL(rel(host(y), ref), 1e-6, "tiled nearest upsampling, tile " + std::to_string(tile));
  }
  // And the other direction (4x4 average pooling as a stand-in for the encoder: in_cell 4).
  auto pool = [](const Tensor& t) {
    std::vector<float> w(16, 1.f / 16);
    Tensor k = ops::from_host(w.data(), 64, {1, 1, 4, 4}, ie::DType::F32, {});
    const int64_t B = t.size(0), C = t.size(1);
    ops::Conv2dParams p;
    p.stride_h = p.stride_w = 4;
    return ops::conv2d(t.reshape({B * C, 1, t.size(2), t.size(3)}), k, nullptr, p)
        .reshape({B, C, t.size(2) / 4, t.size(3) / 4});
  };
  Tensor img = ops::randn({1, 2, 4 * 19, 4 * 26}, 6, 0, 0, 1, ie::DType::F32, {});
  ie::vae::detail::TileGrid g;
  g.tile = 8;
  g.stride = 5;
  g.in_cell = 4;
  Tensor y;
  ie::stream_for({}).enqueue([&] { y = ie::vae::detail::tiled(img, g, pool, nullptr, nullptr); });
  ie::stream_for({}).sync();
  IE_EXPECT_REL(rel(host(y), host(pool(img))), 1e-6, "tiled pooling");
}

// Tiled vs untiled decode of a random model: the tiles' GroupNorm statistics and attention see a
// tile instead of the whole latent, so they differ everywhere a little and most at the seams.
// Measured (seed 7, 3 levels, 64x48 latent in 32-cell tiles, overlap 0.25, 3x2 tiles): output rms
// 0.79, max abs difference 0.27 away from the seams and 0.40 at them, relative L2 0.065; encode mean
// relative L2 0.050. The bounds below (about 1.5x that) are the documented tolerance (README "Tiling").
IE_TEST(vae, tiled_decode_and_encode_close_to_untiled) {
  auto model = Model::create(small_config());  // downscale 4
  model->init_random(7);
  const int64_t f = 4, h = 64, w = 48;
  Tensor z = ops::randn({1, 4, h, w}, 8, 0, 0, 1, ie::DType::F32, {});
  ie::vae::RunOptions off, on;
  off.tiling.mode = ie::vae::Tiling::Mode::Off;
  on.tiling.mode = ie::vae::Tiling::Mode::On;
  on.tiling.tile_size = 32 * f;
  on.tiling.overlap = 0.25;
  std::vector<float> ref = host(model->decode(z, off)), til = host(model->decode(z, on));
  IE_EXPECT(model->stats().decode_tiles == 6, "3x2 tiles, got " + std::to_string(model->stats().decode_tiles));
  // Rows 0, 16, 32 and columns 0, 16 start tiles of 32 cells; "at a seam": within 8 latent cells of
  // a band where two tiles overlap.
  auto starts_y = ie::vae::detail::tile_starts(h, 32, 24), starts_x = ie::vae::detail::tile_starts(w, 32, 24);
  auto near = [&](const std::vector<int64_t>& s, int64_t p) {  // p in latent cells
    for (size_t i = 1; i < s.size(); ++i)
      if (p >= s[i] - 8 && p < s[i - 1] + 32 + 8) return true;
    return false;
  };
  const int64_t H = h * f, W = w * f;
  double far_max = 0, seam_max = 0, ref_sq = 0, diff_sq = 0;
  int64_t n_far = 0;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        size_t i = size_t((c * H + y) * W + x);
        double d = std::fabs(double(til[i]) - ref[i]);
        ref_sq += double(ref[i]) * ref[i];
        diff_sq += d * d;
        if (near(starts_y, y / f) || near(starts_x, x / f)) {
          seam_max = std::max(seam_max, d);
        } else {
          far_max = std::max(far_max, d);
          ++n_far;
        }
      }
  double ref_std = std::sqrt(ref_sq / double(3 * H * W));
  std::printf("  decode: output rms %.3f; tiled-untiled max abs away from seams %.3g (%lld px), at seams %.3g; "
              "rel L2 %.3g\n",
              ref_std, far_max, (long long)n_far, seam_max, std::sqrt(diff_sq / ref_sq));
  IE_EXPECT(n_far > 0, "some pixels are away from the seams");
  IE_EXPECT(far_max < 0.4, "away-from-seam max abs difference " + std::to_string(far_max));
  IE_EXPECT(seam_max < 0.6, "at-seam max abs difference " + std::to_string(seam_max));
  IE_EXPECT(std::sqrt(diff_sq / ref_sq) < 0.1, "relative L2 difference");

  // Encode: the image of that decode, in 32-cell (128 px) tiles.
  Tensor img = ops::randn({1, 3, H, W}, 9, 0, 0, 0.5f, ie::DType::F32, {});
  std::vector<float> mref = host(model->encode(img, off).mean), mtil = host(model->encode(img, on).mean);
  IE_EXPECT(model->stats().encode_tiles == 6, "encode tiles " + std::to_string(model->stats().encode_tiles));
  double e = rel(mtil, mref);
  std::printf("  encode: tiled-untiled mean rel L2 %.3g\n", e);
  IE_EXPECT(e < 0.075, "encode relative L2 difference " + std::to_string(e));
  // Auto mode tiles only above the threshold; a tile as large as the image is exactly untiled.
  ie::vae::RunOptions autom;
  autom.tiling.tile_size = 32 * f;
  autom.tiling.auto_threshold = H * W;
  IE_EXPECT(host(model->decode(z, autom)) == ref && model->stats().decode_tiles == 1, "auto: at the threshold, untiled");
  autom.tiling.auto_threshold = H * W - 1;
  IE_EXPECT(host(model->decode(z, autom)) == til, "auto: above the threshold, tiled");
  on.tiling.tile_size = 64 * f;
  IE_EXPECT(host(model->decode(z, on)) == ref, "one tile covering the image equals untiled");
}
