// CLIPTextModel: the text encoder of Stable Diffusion 1.x and InstructPix2Pix, computing what
// transformers' class of the same name computes (../shared/parity/SPEC.md §5): token + position
// embeddings, pre-LN transformer layers with causal self-attention (padding is not masked: the SD
// pipelines pass no attention mask) and a quick_gelu MLP, then a final LayerNorm. Forward only.
//
// Parameters live in one flat float32 buffer in transformers' state_dict order. forward() validates
// the token ids on the caller's thread, allocates the outputs and enqueues the whole pass as one
// task on the device's stream (ops inside it run inline).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ie/params.h"
#include "ie/safetensors.h"
#include "ie/tensor.h"

namespace ie::clip {

// The CLIPTextConfig fields that change the computation. Defaults are transformers' CLIPTextConfig
// defaults (used for keys a config.json leaves out), not ViT-L/14's: see vit_l14().
struct Config {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // or "gelu" (erf form)
  double layer_norm_eps = 1e-5;
  // Pooler rule: 2 (legacy configs, SD1.x) pools at argmax(ids), otherwise at the first eos_token_id.
  int64_t eos_token_id = 49407;
  // Not used by the computation; kept so to_json() round-trips a real config.
  int64_t bos_token_id = 49406, pad_token_id = 1, projection_dim = 512;

  // Parses a transformers CLIPTextConfig config.json, or a CLIPConfig one (its "text_config" is
  // used). Unknown keys and unsupported values are errors naming the key (`source` names the file).
  static Config from_json(const std::string& text, const std::string& source = "config");
  // openai/clip-vit-large-patch14's text tower: the SD1.x / InstructPix2Pix text encoder.
  static Config vit_l14();
  std::string to_json() const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

struct ForwardOptions {
  bool hidden_states = false;                 // also return every layer's input/output (before the final LN)
  bool train = false;                         // keep what backward() needs (one backward per training forward)
  std::shared_ptr<std::atomic<bool>> cancel;  // checked between layers; set -> the pass fails "cancelled"
};

struct Output {
  Tensor last_hidden_state;           // [B, L, hidden] after the final LayerNorm (what SD consumes)
  Tensor pooled;                      // [B, hidden]: the row at the eos position (see Config::eos_token_id)
  std::vector<Tensor> hidden_states;  // with ForwardOptions::hidden_states: num_hidden_layers + 1 × [B, L, hidden]
};

class TextModel : public std::enable_shared_from_this<TextModel> {
 public:
  // A model with uninitialised parameters (load or fill them before use).
  static std::shared_ptr<TextModel> create(const Config& config, Device device = {});
  ~TextModel();

  const Config& config() const;
  const std::vector<ParamInfo>& params() const;
  int64_t num_params() const;  // elements (without alignment padding)
  Tensor flat_params() const;
  Tensor param(const std::string& name) const;  // a view into flat_params(); throws for an unknown name

  // Seeded random parameters like the parity fixture: weights N(0, 1/fan_in), norm scales
  // 1 + 0.1·N(0,1), biases 0.05·N(0,1), token and position embeddings N(0, 0.2²). Enqueued.
  void init_random(uint64_t seed);
  // Loads every parameter (F16/BF16/F64 converted to float32); `text_model.embeddings.position_ids`
  // (a buffer older checkpoints store) is ignored. Any mismatch is one error listing it all.
  void load(const safetensors::Reader& reader);

  // ids: batch × length token ids, row-major (host memory, copied). Checked here: 1 <= length <=
  // max_position_embeddings, every id in [0, vocab_size).
  Output forward(const int32_t* ids, int64_t batch, int64_t length, const ForwardOptions& options = {});
  // Gradient of the last training forward's last_hidden_state [batch, length, hidden] -> parameter
  // gradients in flat_grads() (overwritten, or added to with accumulate). Every parameter gets one:
  // the token embedding in the rows of the ids the forward saw (zero elsewhere), the position
  // embedding in its first `length` rows. The pooled output has no gradient path (SD does not use
  // it). Frees the saved activations.
  void backward(const Tensor& grad_last_hidden_state, bool accumulate = false);
  // Whether a training forward is waiting for its backward (as enqueued so far).
  bool has_saved() const;
  // Gradients of the last backward, same layout as flat_params(); undefined before the first one.
  Tensor flat_grads() const;

  struct Impl;

 private:
  explicit TextModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ie::clip
