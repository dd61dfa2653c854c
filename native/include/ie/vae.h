// AutoencoderKL: the Stable Diffusion VAE, computing what diffusers' class of the same name computes
// (../shared/parity/SPEC.md §4), forward only (the VAE is frozen when the UNet is trained).
//
// encode(image) -> the latent distribution's moments; decode(z) -> image. Both return at once: they
// validate, allocate their results and enqueue the whole pass as one task on the device's stream
// (ops inside it run inline, so each activation is freed as soon as it is consumed). Large images are
// processed in overlapping tiles blended linearly across the seams, so memory stays bounded by one
// tile's activations.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ie/params.h"
#include "ie/safetensors.h"
#include "ie/tensor.h"

namespace ie::vae {

struct Config {
  int64_t in_channels = 3, out_channels = 3, latent_channels = 4, sample_size = 256;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;
  bool has_shift_factor = false;  // shift_factor: null (SD1.x) or a number (SD3/Flux VAEs)
  double shift_factor = 0;
  bool force_upcast = true;  // no effect: compute is float32
  bool use_quant_conv = true, use_post_quant_conv = true, mid_block_add_attention = true;

  // Parses a diffusers AutoencoderKL config.json. Unknown keys and unsupported values are errors
  // naming the key (`source` names the file in messages); keys starting with "_" are ignored.
  static Config from_json(const std::string& text, const std::string& source = "config");
  // The Stable Diffusion 1.x / InstructPix2Pix VAE (SPEC §4).
  static Config sd();
  std::string to_json() const;
  // Image size / latent size (2^(levels-1): 8 for SD).
  int64_t downscale() const { return int64_t(1) << (block_out_channels.size() - 1); }
};

using ParamInfo = ie::ParamInfo;  // name = the diffusers state_dict key (new attention names)

// Tiling: the image (or latent) is cut into overlapping square tiles, each run through the model
// alone, and the outputs blended with linear ramps across every overlap. Not exact: GroupNorm
// statistics and mid-block attention see one tile instead of the whole image (see the README for
// the measured difference).
struct Tiling {
  enum class Mode { Auto, Off, On };
  Mode mode = Mode::Auto;
  int64_t tile_size = 512;                // pixels (a multiple of downscale()); latent tiles are /downscale
  double overlap = 0.25;                  // fraction of a tile shared with each neighbour, in [0, 0.75]
  int64_t auto_threshold = 1024 * 1024;   // Auto: tile when height·width (pixels) exceeds this
};

struct RunOptions {
  Tiling tiling;
  std::shared_ptr<std::atomic<bool>> cancel;  // checked between blocks and tiles; set -> "cancelled"
  // Debugging: called on the stream's thread with named intermediates (diffusers module names, e.g.
  // "encoder.down_blocks.0", "decoder.mid_block"; per tile when tiled). GroupNorm+SiLU outputs
  // ("*.conv_norm_out") are after the SiLU.
  std::function<void(const std::string& name, const Tensor& value)> tap;
};

// The latent distribution of encode(): mean and logvar split from `moments` (quant_conv's output,
// [B, 2·latent_channels, h, w]); logvar clamped to [-30, 20]; std = exp(logvar / 2).
struct Moments {
  Tensor mean, logvar, std, moments;
};

struct Stats {
  int64_t encode_peak_bytes = -1;  // peak host memory above the pass's starting point (last encode)
  int64_t decode_peak_bytes = -1;  // the same for the last decode
  int64_t encode_tiles = 0;        // tiles the last encode used (1 = untiled)
  int64_t decode_tiles = 0;
};

class Model : public std::enable_shared_from_this<Model> {
 public:
  static std::shared_ptr<Model> create(const Config& config, Device device = {});
  ~Model();

  const Config& config() const;
  const std::vector<ParamInfo>& params() const;
  int64_t num_params() const;
  Tensor flat_params() const;
  Tensor param(const std::string& name) const;

  // Seeded random parameters like the parity fixtures (enqueued on the stream).
  void init_random(uint64_t seed);
  // Loads every parameter from `reader`; the mid-block attention may use the legacy names
  // (query/key/value/proj_attn). Missing, unexpected or misshaped tensors are one error listing them.
  void load(const safetensors::Reader& reader);

  // image [B, in_channels, H, W] (H, W multiples of downscale()), values nominally in [-1, 1].
  Moments encode(const Tensor& image, const RunOptions& options = {});
  // z [B, latent_channels, h, w]: latents already divided by scaling_factor -> [B, out, h·8, w·8].
  Tensor decode(const Tensor& z, const RunOptions& options = {});
  Stats stats() const;  // read after the stream has run the passes

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ie::vae
