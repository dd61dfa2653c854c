// UNet2DConditionModel: the denoiser of Stable Diffusion 1.x/2.x and InstructPix2Pix, computing what
// diffusers' class of the same name computes (../shared/parity/SPEC.md §2), forward and backward.
//
// The model is built from a diffusers config.json. Its parameters live in one flat float32 buffer
// (in the order of `params()`), its gradients in another of the same layout, so an optimizer can
// treat them as two vectors. forward() and backward() return at once: they validate, allocate their
// results and enqueue the whole pass as one task on the device's stream (ops inside it run inline,
// so each activation is freed as soon as nothing needs it). Synchronise through the stream (e.g. read
// a result back) before looking at the results.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ie/params.h"
#include "ie/safetensors.h"
#include "ie/tensor.h"

namespace ie::unet {

// The config fields that change the computation, with per-block lists already expanded (one entry per
// down block, in down-block order; up blocks use them reversed, the mid block uses the last).
struct Config {
  int64_t in_channels = 4, out_channels = 4, sample_size = 64;
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "DownBlock2D"};
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";
  std::vector<int64_t> layers_per_block;     // per down block
  std::vector<int64_t> num_heads;            // per down block (attention_head_dim in SD1.x configs)
  std::vector<int64_t> cross_attention_dim;  // per down block
  std::vector<int64_t> transformer_layers;   // per down block
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  bool use_linear_projection = false;
  bool upcast_attention = false;  // no effect: attention is computed in float32 anyway
  int64_t downsample_padding = 1;
  // instructedit extensions (not diffusers keys; off by default, see docs/unet-extensions.md):
  // input_coordinates: conv_in also reads two coordinate channels (x, y in [-1, 1] across the image,
  // CoordConv), appended after the sample's channels, so the network knows where each pixel is.
  bool input_coordinates = false;
  // output_skip_channel = k >= 0: the output is conv_out(...) + sample[:, k : k + out_channels], so a
  // model whose conv_out is zero is the identity of that slice (InstructPix2Pix: k = out_channels, the
  // source image; the network then learns the edit, not the copy). -1 = off.
  int64_t output_skip_channel = -1;

  // Parses a diffusers UNet config.json. Unknown keys and unsupported values are errors naming the
  // key (`source` names the file in messages).
  static Config from_json(const std::string& text, const std::string& source = "config");
  // The SD1.5 / InstructPix2Pix configuration with `in_channels` input channels.
  static Config sd15(int64_t in_channels = 8);
  // A diffusers-style config.json of this config.
  std::string to_json() const;
  int64_t time_embed_dim() const { return 4 * block_out_channels[0]; }
  int64_t conv_in_channels() const { return in_channels + (input_coordinates ? 2 : 0); }
};

using ParamInfo = ie::ParamInfo;  // name = the diffusers state_dict key

struct LoadOptions {
  // Widen conv_in to this many input channels when the file has fewer (new channels zero, the rest
  // kept): turns a 4-channel text-to-image UNet into an 8-channel InstructPix2Pix one. 0 = as stored.
  int64_t in_channels = 0;
};

struct ForwardOptions {
  bool train = false;       // save what backward needs (otherwise nothing is kept)
  bool checkpoint = false;  // with train: keep only block inputs, recompute the rest in backward
  std::shared_ptr<std::atomic<bool>> cancel;  // checked between blocks; set -> the pass fails "cancelled"
  // CUDA graph replay (CUDA only, inference only: train must be false). The model keeps one graph
  // per (sample shape and dtype, encoder_hidden_states shape and dtype, timesteps count): the first
  // call for a key runs eagerly (a warm-up: lazy initialisation happens outside any capture), then
  // captures one forward over static input/output buffers; later calls copy their inputs into those
  // buffers on the stream, replay the graph (one launch instead of ~1000) and copy the output out.
  // Results are bit-for-bit those of the eager pass. A capture that fails leaves that key eager
  // (stats().graph_error says why). Memory: each graph pins its static buffers and its private pool
  // (about one forward's peak activation memory) until clear_graphs() or the model's destruction.
  // The cancel token is checked before a replay, not during it.
  bool graph = false;
};

struct InputGrads {
  Tensor sample, encoder_hidden_states;
};

struct Stats {
  int64_t forward_peak_bytes = -1;   // peak host memory above the pass's starting point (last forward)
  int64_t backward_peak_bytes = -1;  // the same for the last backward
  int64_t saved_bytes = -1;          // activations kept for backward by the last training forward
  // graph: true forwards (counted as the stream runs them): graphs captured, replays, and the error
  // of the last capture that failed ("" when none did; that key's passes then run eagerly).
  int64_t graph_captures = 0, graph_replays = 0;
  std::string graph_error;
};

class Model : public std::enable_shared_from_this<Model> {
 public:
  // A model with uninitialised parameters (load or fill them before use). `compute`: the dtype the
  // passes compute in; float16/bfloat16 (CUDA only) keep the float32 parameters as the master copy
  // and compute with a cast copy; inputs, outputs and parameter gradients stay float32.
  static std::shared_ptr<Model> create(const Config& config, Device device = {}, DType compute = DType::F32);
  ~Model();

  const Config& config() const;
  DType compute_dtype() const;
  const std::vector<ParamInfo>& params() const;
  int64_t num_params() const;  // elements (without alignment padding)
  Tensor flat_params() const;  // [total], with padding between parameters
  // Gradients of the last backward; allocated by the first backward (undefined before it).
  Tensor flat_grads() const;
  Tensor param(const std::string& name) const;  // a view into flat_params(); throws for an unknown name
  Tensor grad(const std::string& name) const;   // a view into flat_grads()

  // Fills the parameters with seeded random values like the parity fixtures: weights N(0, 1/fan_in),
  // norm scales 1 + 0.1·N(0,1), biases 0.05·N(0,1) (a test or benchmark model; enqueued on the stream).
  void init_random(uint64_t seed);
  // Loads every parameter from `reader` (converting F16/BF16/F64 to float32). Missing, unexpected or
  // wrongly shaped tensors are one error listing them all. Runs on the calling thread.
  void load(const safetensors::Reader& reader, const LoadOptions& options = {});

  // sample [B, in, H, W], timesteps [B] or [1] (float32, may be fractional), encoder_hidden_states
  // [B, S, cross_attention_dim]; returns [B, out, H, W].
  Tensor forward(const Tensor& sample, const Tensor& timesteps, const Tensor& encoder_hidden_states,
                 const ForwardOptions& options = {});
  // Gradient of the last training forward's output -> gradients of its sample and text states;
  // parameter gradients go to flat_grads() (added to it with accumulate). Frees the saved activations.
  InputGrads backward(const Tensor& grad_out, bool accumulate = false);
  // Whether a training forward's activations are waiting for backward (as enqueued so far).
  bool has_saved() const;
  Stats stats() const;  // read after the stream has run the passes
  // Drops the CUDA graphs of graph: true forwards (and the memory they pin), in stream order: passes
  // enqueued before still replay them. A later graph: true forward captures again.
  void clear_graphs();

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ie::unet
