// The UNet on CUDA (float32): diffusers parity (../shared/parity/unet_tiny2: output, input and
// parameter gradients, with and without checkpointing) and agreement with the CPU model on a random
// config. Skipped without a GPU.
#include <cstdio>

#include "fixtures.h"
#include "unet_parity.h"
#include "harness.h"
#include "ie/ops.h"
#include "ie/unet.h"
#include "io/json.h"
#include "models/unet/config.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
using ie::unet::Config;
using ie::unet::Model;
using iet::host;
using iet::rel_l2;

const ie::Device kGpu{ie::DeviceType::CUDA, 0};

Config tiny2_config() { return iet::unet_tiny2_config(); }

Tensor gpu(const Tensor& t) { return ops::to_device(t, kGpu); }

}  // namespace

IE_TEST(cuda_unet, parity_unet_tiny2_forward_and_gradients_f32) {
  if (!iet::cuda_device_or_skip()) return;
  const std::string dir = iet::shared_dir() + "/parity/unet_tiny2";
  if (!iet::exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  auto model = Model::create(tiny2_config(), kGpu);
  model->load(st::Reader::open(dir + "/unet.safetensors"));
  iet::check_unet_parity(*model, iet::unet_tiny2_inputs(dir, kGpu), dir, {}, " [cuda]");
}

IE_TEST(cuda_unet, random_model_matches_cpu) {
  if (!iet::cuda_device_or_skip()) return;
  // Same config and seed on both devices: the parameters are the same (counter-based init; the GPU's
  // sinf/logf may differ in the last bit), so outputs and gradients agree to float32 rounding.
  Config c = tiny2_config();
  auto cpu = Model::create(c), cu = Model::create(c, kGpu);
  cpu->init_random(5);
  cu->init_random(5);
  IE_EXPECT_REL(rel_l2(host(cu->flat_params()), host(cpu->flat_params())), 1e-6, "random init vs CPU");
  const int64_t B = 2, H = 16, W = 12;
  Tensor x = ops::randn({B, c.in_channels, H, W}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor ehs = ops::randn({B, 7, c.cross_attention_dim[0]}, 2, 0, 0, 1, ie::DType::F32, {});
  Tensor t = ops::full({B}, 421.0, ie::DType::F32, {});
  Tensor dy = ops::randn({B, c.out_channels, H, W}, 3, 0, 0, 1, ie::DType::F32, {});
  ie::unet::ForwardOptions o;
  o.train = true;
  Tensor y0 = cpu->forward(x, t, ehs, o);
  Tensor y1 = cu->forward(gpu(x), gpu(t), gpu(ehs), o);
  IE_EXPECT_REL(rel_l2(host(y1), host(y0)), 1e-5, "forward output vs CPU");
  ie::unet::InputGrads g0 = cpu->backward(dy), g1 = cu->backward(gpu(dy));
  IE_EXPECT_REL(rel_l2(host(g1.sample), host(g0.sample)), 1e-4, "d sample vs CPU");
  IE_EXPECT_REL(rel_l2(host(cu->flat_grads()), host(cpu->flat_grads())), 1e-4, "flat parameter gradients vs CPU");
}

// Half compute (float16 / bfloat16 copy of the float32 parameters; float32 in and out): the parity
// fixture within half-precision tolerances. Tolerances (relative L2 vs diffusers' float32):
// output 1e-2 (f16) / 3e-2 (bf16: 8 mantissa bits); input gradients 2e-2 / 6e-2; all parameter
// gradients together (the flat buffer) 3e-2 / 8e-2.
IE_TEST(cuda_unet, parity_unet_tiny2_half) {
  if (!iet::cuda_device_or_skip()) return;
  const std::string dir = iet::shared_dir() + "/parity/unet_tiny2";
  if (!iet::exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  st::Reader in = st::Reader::open(dir + "/inputs.safetensors");
  Tensor sample = gpu(in.load("sample")), ehs = gpu(in.load("encoder_hidden_states")), R = gpu(in.load("R"));
  Tensor t = gpu(ops::cast(in.load("timestep"), ie::DType::F32));
  st::Reader outs = st::Reader::open(dir + "/outputs.safetensors");
  st::Reader grads = st::Reader::open(dir + "/grads.safetensors");
  std::vector<float> ref = host(outs.load("out"));
  struct Case {
    ie::DType dt;
    double out, in_grad, param_grad;
  } cases[] = {{ie::DType::F16, 1e-2, 2e-2, 3e-2}, {ie::DType::BF16, 3e-2, 6e-2, 8e-2}};
  for (const Case& k : cases) {
    std::string tag = std::string(" (") + ie::dtype_name(k.dt) + ")";
    auto model = Model::create(tiny2_config(), kGpu, k.dt);
    model->load(st::Reader::open(dir + "/unet.safetensors"));
    ie::unet::ForwardOptions o;
    o.train = true;
    Tensor out = model->forward(sample, t, ehs, o);
    IE_EXPECT(out.dtype() == ie::DType::F32, "output is float32" + tag);
    double e = rel_l2(host(out), ref);
    IE_EXPECT_REL(e, k.out, "output" + tag);
    ie::unet::InputGrads g = model->backward(R);
    IE_EXPECT_REL(rel_l2(host(g.sample), host(grads.load("sample"))), k.in_grad, "d sample" + tag);
    IE_EXPECT_REL(rel_l2(host(g.encoder_hidden_states), host(grads.load("encoder_hidden_states"))), k.in_grad,
                  "d encoder_hidden_states" + tag);
    std::vector<float> got, want;
    for (const auto& p : model->params()) {
      std::vector<float> a = host(model->grad(p.name)), b = host(grads.load("param." + p.name));
      got.insert(got.end(), a.begin(), a.end());
      want.insert(want.end(), b.begin(), b.end());
    }
    double pe = rel_l2(got, want);
    IE_EXPECT_REL(pe, k.param_grad, "all parameter gradients" + tag);
    std::printf("  %s: out rel %.2e, parameter gradients rel %.2e\n", ie::dtype_name(k.dt), e, pe);
  }
  IE_EXPECT(iet::throws_with([] { Model::create(tiny2_config(), {}, ie::DType::F16); }, "CUDA only"),
            "half compute on the CPU must be refused");
}
