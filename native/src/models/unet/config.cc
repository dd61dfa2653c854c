// Parsing a diffusers UNet2DConditionModel config.json into unet::Config.
//
// Every key diffusers 0.30 writes is known. Keys that change the computation are read; keys whose
// feature is not implemented must hold their "off" value (null, false, the default string), else the
// error names the key and the value. A key diffusers never writes is an error too (a typo must not
// silently fall back to a default).
#include <cmath>
#include <set>
#include <sstream>

#include "ie/error.h"
#include "ie/unet.h"
#include "io/json.h"
#include "models/common/config_json.h"
#include "models/unet/config.h"

namespace ie::unet {

namespace {

using json::Type;
using json::Value;

struct Parser {
  const Value& root;
  std::string src;

  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    fail(src, ": \"", key, "\" ", why);
  }
  const Value* get(const std::string& key) const {
    const Value* v = root.find(key);
    return (v && v->type != Type::Null) ? v : nullptr;
  }
  int64_t integer(const Value& v, const std::string& key, int64_t lo) const {
    if (v.type != Type::Number || !(v.is_int || v.number == std::floor(v.number)))
      bad(key, "must be an integer, got " + (v.type == Type::Number ? v.text : std::string(json::type_name(v.type))));
    int64_t i = v.is_int ? v.integer : int64_t(v.number);
    if (i < lo || i > (int64_t(1) << 24)) bad(key, "must be in [" + std::to_string(lo) + ", 16777216], got " + v.text);
    return i;
  }
  int64_t integer(const std::string& key, int64_t def, int64_t lo = 1) const {
    const Value* v = get(key);
    return v ? integer(*v, key, lo) : def;
  }
  double number(const std::string& key, double def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Number) bad(key, std::string("must be a number, got ") + json::type_name(v->type));
    return v->number;
  }
  bool boolean(const std::string& key, bool def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Bool) bad(key, std::string("must be true or false, got ") + json::type_name(v->type));
    return v->boolean;
  }
  std::string string(const std::string& key, const std::string& def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::String) bad(key, std::string("must be a string, got ") + json::type_name(v->type));
    return v->text;
  }
  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& def) const {
    const Value* v = get(key);
    if (!v) return def;
    if (v->type != Type::Array || v->items.empty()) bad(key, "must be a non-empty list of strings");
    std::vector<std::string> out;
    for (const Value& e : v->items) {
      if (e.type != Type::String) bad(key, "must be a list of strings");
      out.push_back(e.text);
    }
    return out;
  }
  // An int, or a list with one int per block; expanded to `n` entries.
  std::vector<int64_t> per_block(const std::string& key, int64_t def, size_t n) const {
    const Value* v = get(key);
    if (!v) return std::vector<int64_t>(n, def);
    if (v->type == Type::Number) return std::vector<int64_t>(n, integer(*v, key, 1));
    if (v->type != Type::Array) bad(key, "must be an integer or a list of integers (one per block)");
    if (v->items.size() != n)
      bad(key, "has " + std::to_string(v->items.size()) + " entries but the model has " + std::to_string(n) +
                   " down blocks");
    std::vector<int64_t> out;
    for (const Value& e : v->items) out.push_back(integer(e, key, 1));
    return out;
  }
  // The key must be absent, null, or hold exactly `off` (its "feature disabled" value).
  void must_be_off(const std::string& key, const std::string& what) const {
    const Value* v = root.find(key);
    if (!v || v->type == Type::Null) return;
    bool ok = false;
    if (what == "false") ok = v->type == Type::Bool && !v->boolean;
    else if (what == "0") ok = v->type == Type::Number && v->number == 0;
    else if (what == "1") ok = v->type == Type::Number && v->number == 1;
    else ok = v->type == Type::String && v->text == what;
    if (!ok) {
      std::string got = v->type == Type::String ? "\"" + v->text + "\"" : v->type == Type::Bool ? (v->boolean ? "true" : "false") : v->type == Type::Number ? v->text : json::type_name(v->type);
      bad(key, "= " + got + " is not supported (instructedit supports the SD1.x/2.x UNet: " + key +
                   " must be " + (what == "false" || what == "0" || what == "1" ? what : "\"" + what + "\"") +
                   " or null)");
    }
  }
};

// Keys whose value does not change the computation (or is checked elsewhere).
const std::set<std::string> kIgnored = {"sample_size", "addition_embed_type_num_heads", "dropout",
                                        "projection_class_embeddings_input_dim", "class_embeddings_concat",
                                        "mid_block_only_cross_attention", "num_class_embeds",
                                        "addition_time_embed_dim", "upcast_attention"};

}  // namespace

Config Config::from_json(const std::string& text, const std::string& source) {
  return detail::config_from_value(nn::parse_config(text, source), source);
}

Config detail::config_from_value(const json::Value& root, const std::string& source) {
  IE_CHECK(root.type == Type::Object, source, ": must be a JSON object, got ", json::type_name(root.type));
  Parser p{root, source};

  static const std::set<std::string> kRead = {
      "in_channels", "out_channels", "block_out_channels", "down_block_types", "up_block_types", "mid_block_type",
      "layers_per_block", "attention_head_dim", "num_attention_heads", "cross_attention_dim",
      "transformer_layers_per_block", "norm_num_groups", "norm_eps", "flip_sin_to_cos", "freq_shift",
      "use_linear_projection", "downsample_padding", "act_fn", "center_input_sample", "only_cross_attention",
      "dual_cross_attention", "class_embed_type", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
      "resnet_time_scale_shift", "resnet_skip_time_act", "resnet_out_scale_factor", "time_embedding_type",
      "time_embedding_dim", "time_embedding_act_fn", "timestep_post_act", "time_cond_proj_dim", "conv_in_kernel",
      "conv_out_kernel", "attention_type", "cross_attention_norm", "reverse_transformer_layers_per_block",
      "mid_block_scale_factor", "input_coordinates", "output_skip_channel"};
  std::vector<std::string> unknown;
  for (const std::string& k : root.keys)
    if (k.empty() || (k[0] != '_' && !kRead.count(k) && !kIgnored.count(k))) unknown.push_back(k);
  if (!unknown.empty()) {
    std::string list;
    for (const auto& k : unknown) list += (list.empty() ? "\"" : ", \"") + k + "\"";
    fail(source, ": unknown config key", unknown.size() > 1 ? "s " : " ", list,
         " (not a diffusers UNet2DConditionModel field; check the spelling)");
  }

  // Features this implementation does not have: each must be off.
  p.must_be_off("center_input_sample", "false");
  p.must_be_off("only_cross_attention", "false");
  p.must_be_off("dual_cross_attention", "false");
  p.must_be_off("resnet_skip_time_act", "false");
  p.must_be_off("class_embed_type", "none");
  p.must_be_off("addition_embed_type", "none");
  p.must_be_off("encoder_hid_dim", "none");
  p.must_be_off("encoder_hid_dim_type", "none");
  p.must_be_off("time_embedding_dim", "none");
  p.must_be_off("time_embedding_act_fn", "none");
  p.must_be_off("timestep_post_act", "none");
  p.must_be_off("time_cond_proj_dim", "none");
  p.must_be_off("cross_attention_norm", "none");
  p.must_be_off("reverse_transformer_layers_per_block", "none");
  p.must_be_off("act_fn", "silu");
  p.must_be_off("resnet_time_scale_shift", "default");
  p.must_be_off("time_embedding_type", "positional");
  p.must_be_off("attention_type", "default");
  p.must_be_off("resnet_out_scale_factor", "1");
  p.must_be_off("mid_block_scale_factor", "1");
  if (p.integer("conv_in_kernel", 3) != 3) p.bad("conv_in_kernel", "must be 3 (the only size supported)");
  if (p.integer("conv_out_kernel", 3) != 3) p.bad("conv_out_kernel", "must be 3 (the only size supported)");
  {
    const Value* d = p.get("dropout");
    if (d && (d->type != Type::Number || d->number != 0))
      p.bad("dropout", "must be 0 (dropout is not implemented)");
  }

  Config c;
  c.in_channels = p.integer("in_channels", 4);
  c.out_channels = p.integer("out_channels", 4);
  c.sample_size = p.integer("sample_size", 64);
  c.down_block_types = p.strings("down_block_types", c.down_block_types);
  c.up_block_types = p.strings("up_block_types", c.up_block_types);
  c.mid_block_type = p.string("mid_block_type", c.mid_block_type);
  size_t n = c.down_block_types.size();
  {
    const Value* v = p.get("block_out_channels");
    if (v) {
      if (v->type != Type::Array || v->items.empty()) p.bad("block_out_channels", "must be a non-empty list of integers");
      c.block_out_channels.clear();
      for (const Value& e : v->items) c.block_out_channels.push_back(p.integer(e, "block_out_channels", 1));
    }
  }
  if (c.block_out_channels.size() != n)
    fail(source, ": block_out_channels has ", c.block_out_channels.size(), " entries but down_block_types has ", n);
  if (c.up_block_types.size() != n)
    fail(source, ": up_block_types has ", c.up_block_types.size(), " entries but down_block_types has ", n);
  for (const auto& t : c.down_block_types)
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      p.bad("down_block_types", "contains \"" + t + "\"; supported: CrossAttnDownBlock2D, DownBlock2D");
  for (const auto& t : c.up_block_types)
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
      p.bad("up_block_types", "contains \"" + t + "\"; supported: CrossAttnUpBlock2D, UpBlock2D");
  if (c.mid_block_type != "UNetMidBlock2DCrossAttn")
    p.bad("mid_block_type", "= \"" + c.mid_block_type + "\" is not supported (only UNetMidBlock2DCrossAttn)");

  c.layers_per_block = p.per_block("layers_per_block", 2, n);
  // diffusers: num_attention_heads defaults to attention_head_dim (a historical naming slip: SD1.x's
  // "attention_head_dim": 8 means 8 heads).
  c.num_heads = p.get("num_attention_heads") ? p.per_block("num_attention_heads", 8, n)
                                             : p.per_block("attention_head_dim", 8, n);
  c.cross_attention_dim = p.per_block("cross_attention_dim", 1280, n);
  c.transformer_layers = p.per_block("transformer_layers_per_block", 1, n);
  c.norm_num_groups = p.integer("norm_num_groups", 32);
  c.norm_eps = p.number("norm_eps", 1e-5);
  if (!(c.norm_eps > 0 && c.norm_eps < 1)) p.bad("norm_eps", "must be in (0, 1)");
  c.flip_sin_to_cos = p.boolean("flip_sin_to_cos", true);
  c.freq_shift = p.number("freq_shift", 0);
  if (!std::isfinite(c.freq_shift) || c.freq_shift == double(c.block_out_channels[0] / 2))
    p.bad("freq_shift", "must be finite and differ from block_out_channels[0] / 2");
  c.use_linear_projection = p.boolean("use_linear_projection", false);
  c.upcast_attention = p.boolean("upcast_attention", false);
  c.downsample_padding = p.integer("downsample_padding", 1, 0);
  if (c.downsample_padding != 1) p.bad("downsample_padding", "must be 1 (the UNet's stride-2 convs pad by 1)");

  c.input_coordinates = p.boolean("input_coordinates", false);
  c.output_skip_channel = p.integer("output_skip_channel", -1, -1);
  if (c.output_skip_channel >= 0 && c.output_skip_channel + c.out_channels > c.in_channels)
    p.bad("output_skip_channel", "= " + std::to_string(c.output_skip_channel) + " needs input channels [" +
                                     std::to_string(c.output_skip_channel) + ", " +
                                     std::to_string(c.output_skip_channel + c.out_channels) + ") but in_channels is " +
                                     std::to_string(c.in_channels));

  for (size_t i = 0; i < n; ++i) {
    int64_t C = c.block_out_channels[i];
    if (C % c.norm_num_groups != 0)
      fail(source, ": block_out_channels[", i, "] = ", C, " is not divisible by norm_num_groups = ", c.norm_num_groups);
    if (C % c.num_heads[i] != 0)
      fail(source, ": block_out_channels[", i, "] = ", C, " is not divisible by its number of attention heads (",
           c.num_heads[i], ")");
  }
  return c;
}

Config Config::sd15(int64_t in_channels) {
  Config c;
  c.in_channels = in_channels;
  c.layers_per_block = {2, 2, 2, 2};
  c.num_heads = {8, 8, 8, 8};
  c.cross_attention_dim = {768, 768, 768, 768};
  c.transformer_layers = {1, 1, 1, 1};
  return c;
}

std::string Config::to_json() const {
  auto ints = [](const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  auto strs = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
    return s + "]";
  };
  std::ostringstream os;
  os.precision(17);
  os << "{\"_class_name\": \"UNet2DConditionModel\", \"in_channels\": " << in_channels
     << ", \"out_channels\": " << out_channels << ", \"sample_size\": " << sample_size
     << ", \"block_out_channels\": " << ints(block_out_channels) << ", \"down_block_types\": " << strs(down_block_types)
     << ", \"up_block_types\": " << strs(up_block_types) << ", \"mid_block_type\": \"" << mid_block_type
     << "\", \"layers_per_block\": " << ints(layers_per_block) << ", \"num_attention_heads\": " << ints(num_heads)
     << ", \"cross_attention_dim\": " << ints(cross_attention_dim)
     << ", \"transformer_layers_per_block\": " << ints(transformer_layers) << ", \"norm_num_groups\": " << norm_num_groups
     << ", \"norm_eps\": " << norm_eps << ", \"flip_sin_to_cos\": " << (flip_sin_to_cos ? "true" : "false")
     << ", \"freq_shift\": " << freq_shift << ", \"use_linear_projection\": " << (use_linear_projection ? "true" : "false")
     << ", \"upcast_attention\": " << (upcast_attention ? "true" : "false")
     << ", \"downsample_padding\": " << downsample_padding;
  // Extensions are written only when on, so a plain config stays a plain diffusers config.
  if (input_coordinates) os << ", \"input_coordinates\": true";
  if (output_skip_channel >= 0) os << ", \"output_skip_channel\": " << output_skip_channel;
  os << "}";
  return os.str();
}

}  // namespace ie::unet
