// Parsing a transformers CLIPTextConfig config.json into clip::Config.
//
// The keys that shape the model are read and range-checked. The generic keys every transformers
// PretrainedConfig writes (generation settings, label maps, dtype, ...) are listed and ignored: they
// do not change a text encoder's forward. Any other key is an error naming it, so a typo or a
// different model's config does not silently become a default.
#include <cmath>
#include <set>
#include <sstream>

#include "ie/clip.h"
#include "ie/error.h"
#include "io/json.h"
#include "models/common/config_json.h"
#include "models/clip/config.h"

namespace ie::clip {

namespace {

using json::Type;
using json::Value;

const std::set<std::string> kModelKeys = {
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "max_position_embeddings", "hidden_act", "layer_norm_eps", "eos_token_id", "bos_token_id", "pad_token_id",
    "projection_dim", "pruned_heads", "model_type"};

// PretrainedConfig's generic keys (transformers 4.x to_dict()) and CLIPTextConfig's training-only ones.
const std::set<std::string> kGenericKeys = {
    "return_dict", "output_hidden_states", "output_attentions", "torchscript", "torch_dtype", "use_bfloat16",
    "tf_legacy_loss", "tie_word_embeddings", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
    "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "architectures",
    "finetuning_task", "id2label", "label2id", "num_labels", "tokenizer_class", "prefix", "sep_token_id",
    "decoder_start_token_id", "task_specific_params", "problem_type", "transformers_version",
    "gradient_checkpointing", "attention_dropout", "dropout", "initializer_range", "initializer_factor",
    "output_router_logits", "attn_implementation"};

struct Fields {
  const Value& obj;
  const std::string& src;

  [[noreturn]] void bad(const std::string& key, const std::string& why) const { fail(src, ": \"", key, "\" ", why); }
  const Value* get(const char* key) const {
    const Value* v = obj.find(key);
    return v && v->type != Type::Null ? v : nullptr;
  }
  void read_int(const char* key, int64_t& out, int64_t lo, int64_t hi) const {
    const Value* v = get(key);
    if (!v) return;
    bool whole = v->type == Type::Number && (v->is_int || v->number == std::floor(v->number));
    double x = whole ? (v->is_int ? double(v->integer) : v->number) : 0;
    if (!whole || x < double(lo) || x > double(hi))
      bad(key, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                   (v->type == Type::Number ? v->text : std::string(json::type_name(v->type))));
    out = int64_t(x);
  }
};

}  // namespace

Config Config::from_json(const std::string& text, const std::string& source) {
  return detail::config_from_value(nn::parse_config(text, source), source);
}

Config detail::config_from_value(const json::Value& root, const std::string& source) {
  IE_CHECK(root.type == Type::Object, source, ": must be a JSON object, got ", json::type_name(root.type));
  // A whole-CLIP config (CLIPConfig, model_type "clip"): its text tower's settings are "text_config".
  const Value* nested = root.find("text_config");
  std::string src = source;
  if (nested && nested->type != Type::Null) {
    IE_CHECK(nested->type == Type::Object, source, ": \"text_config\" must be an object");
    src = source + " (text_config)";
  }
  const Value& obj = nested && nested->type == Type::Object ? *nested : root;
  Fields f{obj, src};

  std::vector<std::string> unknown;
  for (const std::string& k : obj.keys)
    if (k.empty() || (k[0] != '_' && !kModelKeys.count(k) && !kGenericKeys.count(k))) unknown.push_back(k);
  if (!unknown.empty()) {
    std::string list;
    for (const auto& k : unknown) list += (list.empty() ? "\"" : ", \"") + k + "\"";
    fail(src, ": unknown config key", unknown.size() > 1 ? "s " : " ", list,
         " (not a transformers CLIPTextConfig field; check the spelling)");
  }
  if (const Value* mt = f.get("model_type")) {
    if (mt->type != Type::String || mt->text != "clip_text_model")
      f.bad("model_type", "is " + (mt->type == Type::String ? "\"" + mt->text + "\"" : std::string("not a string")) +
                              ": this is not a CLIP text model config (expected \"clip_text_model\")");
  }
  if (const Value* ph = f.get("pruned_heads")) {
    if (ph->type != Type::Object || !ph->items.empty())
      f.bad("pruned_heads", "must be empty (pruned attention heads are not supported)");
  }

  Config c;
  const int64_t big = int64_t(1) << 24;
  f.read_int("vocab_size", c.vocab_size, 1, int64_t(1) << 30);
  f.read_int("hidden_size", c.hidden_size, 1, big);
  f.read_int("intermediate_size", c.intermediate_size, 1, big);
  f.read_int("num_hidden_layers", c.num_hidden_layers, 1, 1024);
  f.read_int("num_attention_heads", c.num_attention_heads, 1, big);
  f.read_int("max_position_embeddings", c.max_position_embeddings, 1, big);
  f.read_int("eos_token_id", c.eos_token_id, 0, int64_t(1) << 31);
  f.read_int("bos_token_id", c.bos_token_id, 0, int64_t(1) << 31);
  f.read_int("pad_token_id", c.pad_token_id, 0, int64_t(1) << 31);
  f.read_int("projection_dim", c.projection_dim, 1, big);
  if (const Value* a = f.get("hidden_act")) {
    if (a->type != Type::String || (a->text != "quick_gelu" && a->text != "gelu"))
      f.bad("hidden_act", "= " + (a->type == Type::String ? "\"" + a->text + "\"" : std::string(json::type_name(a->type))) +
                              " is not supported (expected \"quick_gelu\" or \"gelu\")");
    c.hidden_act = a->text;
  }
  if (const Value* e = f.get("layer_norm_eps")) {
    if (e->type != Type::Number || !(e->number > 0 && e->number < 1)) f.bad("layer_norm_eps", "must be a number in (0, 1)");
    c.layer_norm_eps = e->number;
  }
  IE_CHECK(c.hidden_size % c.num_attention_heads == 0, src, ": hidden_size (", c.hidden_size,
           ") must be divisible by num_attention_heads (", c.num_attention_heads, ")");
  return c;
}

Config Config::vit_l14() {
  Config c;
  c.hidden_size = 768;
  c.intermediate_size = 3072;
  c.num_attention_heads = 12;
  c.projection_dim = 768;
  c.eos_token_id = 2;  // the legacy value its config.json stores (pooler at argmax(ids))
  c.bos_token_id = 0;
  return c;
}

std::string Config::to_json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"model_type\": \"clip_text_model\", \"vocab_size\": " << vocab_size << ", \"hidden_size\": " << hidden_size
     << ", \"intermediate_size\": " << intermediate_size << ", \"num_hidden_layers\": " << num_hidden_layers
     << ", \"num_attention_heads\": " << num_attention_heads
     << ", \"max_position_embeddings\": " << max_position_embeddings << ", \"hidden_act\": \"" << hidden_act
     << "\", \"layer_norm_eps\": " << layer_norm_eps << ", \"bos_token_id\": " << bos_token_id
     << ", \"eos_token_id\": " << eos_token_id << ", \"pad_token_id\": " << pad_token_id
     << ", \"projection_dim\": " << projection_dim << "}";
  return os.str();
}

}  // namespace ie::clip
