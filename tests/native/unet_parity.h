// The diffusers parity check of the UNet (../shared/parity/unet_tiny2): output, input gradients
// and every parameter gradient of a training forward + backward, with and without checkpointing,
// then an inference forward. Shared by the CPU test (test_unet.cc) and the GPU one
// (test_cuda_unet.cc), which loads the model and moves the inputs to its device first.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "fixtures.h"
#include "harness.h"
#include "ie/safetensors.h"
#include "ie/unet.h"
#include "io/json.h"
#include "models/unet/config.h"

namespace iet {

inline ie::unet::Config unet_tiny2_config() {
  ie::json::Value m = ie::json::parse(manifest_text());
  return ie::unet::detail::config_from_value(*m.find("fixtures")->find("unet_tiny2")->find("config"), "manifest");
}

struct UNetParityInputs {
  ie::Tensor sample, t, ehs, R;  // on the model's device
};

// The fixture's inputs, moved to `device`.
inline UNetParityInputs unet_tiny2_inputs(const std::string& dir, ie::Device device) {
  namespace st = ie::safetensors;
  st::Reader in = st::Reader::open(dir + "/inputs.safetensors");
  auto to = [&](const ie::Tensor& x) { return ie::ops::to_device(x, device); };
  return {to(in.load("sample")), to(ie::ops::cast(in.load("timestep"), ie::DType::F32)),
          to(in.load("encoder_hidden_states")), to(in.load("R"))};
}

// Relative-L2 tolerances against diffusers' float32 outputs.
struct UNetParityTolerance {
  double out = 1e-4, input_grad = 1e-4, worst_param_grad = 1e-3;
};

// Runs the check on a loaded model; `tag` names the device/dtype in failures and the printed line.
inline void check_unet_parity(ie::unet::Model& model, const UNetParityInputs& x, const std::string& dir,
                              const UNetParityTolerance& tol, const std::string& tag) {
  namespace st = ie::safetensors;
  st::Reader outs = st::Reader::open(dir + "/outputs.safetensors");
  st::Reader grads = st::Reader::open(dir + "/grads.safetensors");
  std::vector<float> ref = host(outs.load("out"));
  for (bool checkpoint : {false, true}) {
    std::string what = tag + (checkpoint ? " (checkpointed)" : "");
    ie::unet::ForwardOptions o;
    o.train = true;
    o.checkpoint = checkpoint;
    double e = rel_l2(host(model.forward(x.sample, x.t, x.ehs, o)), ref);
    IE_EXPECT_REL(e, tol.out, "output" + what);
    ie::unet::InputGrads g = model.backward(x.R);
    IE_EXPECT_REL(rel_l2(host(g.sample), host(grads.load("sample"))), tol.input_grad, "d sample" + what);
    IE_EXPECT_REL(rel_l2(host(g.encoder_hidden_states), host(grads.load("encoder_hidden_states"))), tol.input_grad,
                  "d encoder_hidden_states" + what);
    double worst = 0;
    std::string worst_name;
    for (const auto& p : model.params()) {
      double pe = rel_l2(host(model.grad(p.name)), host(grads.load("param." + p.name)));
      if (pe > worst) worst = pe, worst_name = p.name;
    }
    IE_EXPECT_REL(worst, tol.worst_param_grad, "worst parameter gradient (" + worst_name + ")" + what);
    if (!checkpoint)
      std::printf(" %s out rel %.2e, worst param grad rel %.2e (%s)\n", tag.c_str(), e, worst, worst_name.c_str());
  }
  // Inference alone matches too (and keeps nothing).
  IE_EXPECT_REL(rel_l2(host(model.forward(x.sample, x.t, x.ehs)), ref), tol.out, "inference output" + tag);
  IE_EXPECT(!model.has_saved(), "inference keeps nothing for backward" + tag);
}

}  // namespace iet
