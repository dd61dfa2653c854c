// The CLIP text encoder and the VAE on CUDA (float32): transformers/diffusers parity fixtures, and
// the tiled VAE decode against the CPU's. Skipped without a GPU.
#include <cstdio>
#include <map>

#include "fixtures.h"
#include "harness.h"
#include "ie/clip.h"
#include "ie/ops.h"
#include "ie/vae.h"
#include "io/json.h"
#include "models/clip/config.h"

namespace {
using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
using iet::host;
using iet::rel_l2;
const ie::Device kGpu{ie::DeviceType::CUDA, 0};
Tensor gpu(const Tensor& t) { return ops::to_device(t, kGpu); }
}  // namespace

IE_TEST(cuda_models, parity_clip_text_tiny_f32) {
  if (!iet::cuda_device_or_skip()) return;
  const std::string dir = iet::shared_dir() + "/parity/clip_text_tiny";
  if (!iet::exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR)\n", dir.c_str());
    return;
  }
  ie::json::Value m = ie::json::parse(iet::manifest_text());
  ie::clip::Config c =
      ie::clip::detail::config_from_value(*m.find("fixtures")->find("clip_text_tiny")->find("config"), "manifest");
  auto model = ie::clip::TextModel::create(c, kGpu);
  model->load(st::Reader::open(dir + "/text_encoder.safetensors"));
  Tensor ids_t = st::Reader::open(dir + "/inputs.safetensors").load("input_ids");
  std::vector<int32_t> ids(size_t(ids_t.numel()));
  ops::copy_to_host(ids_t, ids.data());
  st::Reader ref = st::Reader::open(dir + "/outputs.safetensors");
  ie::clip::Output out = model->forward(ids.data(), ids_t.size(0), ids_t.size(1));
  IE_EXPECT(out.last_hidden_state.device() == kGpu, "the output stays on the GPU");
  IE_EXPECT_REL(rel_l2(host(out.last_hidden_state), host(ref.load("last_hidden_state"))), 1e-4, "last_hidden_state");
  IE_EXPECT_REL(rel_l2(host(out.pooled), host(ref.load("pooler_output"))), 1e-4, "pooler_output");
}

IE_TEST(cuda_models, parity_vae_tiny2_f32) {
  if (!iet::cuda_device_or_skip()) return;
  const std::string dir = iet::shared_dir() + "/parity/vae_tiny2";
  if (!iet::exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR)\n", dir.c_str());
    return;
  }
  // The config through the CPU model's loader: read it from the manifest as test_vae does.
  ie::json::Value mf = ie::json::parse(iet::manifest_text());
  const ie::json::Value* cfg = mf.find("fixtures")->find("vae_tiny2")->find("config");
  ie::vae::Config c = ie::vae::Config::from_json(iet::json_dump(*cfg), "manifest");
  auto model = ie::vae::Model::create(c, kGpu);
  model->load(st::Reader::open(dir + "/vae.safetensors"));
  st::Reader in = st::Reader::open(dir + "/inputs.safetensors");
  st::Reader out = st::Reader::open(dir + "/outputs.safetensors");
  ie::vae::Moments mo = model->encode(gpu(in.load("image")));
  Tensor decoded = model->decode(gpu(in.load("latent")));
  struct Check {
    const char* name;
    Tensor got;
  } checks[] = {{"moments", mo.moments}, {"mean", mo.mean}, {"logvar", mo.logvar}, {"std", mo.std}, {"decoded", decoded}};
  for (const Check& k : checks) {
    double e = rel_l2(host(k.got), host(out.load(k.name)));
    std::printf("  cuda %-8s rel %.2e\n", k.name, e);
    IE_EXPECT_REL(e, 1e-4, k.name);
  }
}

IE_TEST(cuda_models, tiled_vae_decode_matches_cpu) {
  if (!iet::cuda_device_or_skip()) return;
  ie::vae::Config c;
  c.block_out_channels = {8, 16, 16};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  auto cpu = ie::vae::Model::create(c), cu = ie::vae::Model::create(c, kGpu);
  cpu->init_random(7);
  cu->init_random(7);
  Tensor z = ops::randn({1, 4, 64, 48}, 8, 0, 0, 1, ie::DType::F32, {});
  ie::vae::RunOptions on;
  on.tiling.mode = ie::vae::Tiling::Mode::On;
  on.tiling.tile_size = 128;
  on.tiling.overlap = 0.25;
  std::vector<float> a = host(cpu->decode(z, on)), b = host(cu->decode(gpu(z), on));
  IE_EXPECT(cu->stats().decode_tiles == 6, "3x2 tiles on cuda, got " + std::to_string(cu->stats().decode_tiles));
  IE_EXPECT_REL(rel_l2(b, a), 1e-5, "tiled decode, cuda vs cpu");
}
