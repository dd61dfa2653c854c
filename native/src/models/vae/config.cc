// Parsing a diffusers AutoencoderKL config.json into vae::Config.
//
// Every key diffusers 0.30 writes for AutoencoderKL is known; a key it never writes is an error (a
// typo must not silently fall back to a default). Features not implemented (SpatialNorm decoders,
// latents_mean/std normalisation, other block types or activations) are errors naming the key.
#include <cmath>
#include <functional>
#include <map>
#include <sstream>

#include "ie/error.h"
#include "ie/vae.h"
#include "io/json.h"

namespace ie::vae {

namespace {

using json::Type;
using json::Value;

std::string shown(const Value& v) {
  switch (v.type) {
    case Type::String: return "\"" + v.text + "\"";
    case Type::Number: return v.text;
    case Type::Bool: return v.boolean ? "true" : "false";
    default: return json::type_name(v.type);
  }
}

int64_t as_int(const Value& v, const std::string& src, const std::string& key, int64_t lo) {
  bool whole = v.type == Type::Number && (v.is_int || v.number == std::floor(v.number));
  int64_t i = whole ? (v.is_int ? v.integer : int64_t(v.number)) : 0;
  if (!whole || i < lo || i > (int64_t(1) << 20))
    fail(src, ": \"", key, "\" must be an integer in [", lo, ", 1048576], got ", shown(v));
  return i;
}

bool as_bool(const Value& v, const std::string& src, const std::string& key) {
  if (v.type != Type::Bool) fail(src, ": \"", key, "\" must be true or false, got ", shown(v));
  return v.boolean;
}

// Every block of the list must be `want` (the only block type of the VAE).
int64_t block_list(const Value& v, const std::string& src, const std::string& key, const char* want) {
  if (v.type != Type::Array || v.items.empty()) fail(src, ": \"", key, "\" must be a non-empty list of strings");
  for (const Value& e : v.items)
    if (e.type != Type::String || e.text != want)
      fail(src, ": \"", key, "\" contains ", shown(e), "; only \"", want, "\" is supported");
  return int64_t(v.items.size());
}

}  // namespace

Config Config::from_json(const std::string& text, const std::string& src) {
  Value root;
  try {
    root = json::parse(text);
  } catch (const json::ParseError& e) {
    fail(src, ": not valid JSON (", e.what(), " at byte ", e.offset, ")");
  }
  IE_CHECK(root.type == Type::Object, src, ": must be a JSON object, got ", json::type_name(root.type));
  Config c;
  int64_t n_down = -1, n_up = -1;
  // One handler per known key; a null value means "the default" (as diffusers writes for unset keys).
  const std::map<std::string, std::function<void(const Value&, const std::string&)>> handlers = {
      {"in_channels", [&](const Value& v, const std::string& k) { c.in_channels = as_int(v, src, k, 1); }},
      {"out_channels", [&](const Value& v, const std::string& k) { c.out_channels = as_int(v, src, k, 1); }},
      {"latent_channels", [&](const Value& v, const std::string& k) { c.latent_channels = as_int(v, src, k, 1); }},
      {"sample_size", [&](const Value& v, const std::string& k) {
         // diffusers allows [h, w]; only used as documentation here.
         if (v.type == Type::Array) return;
         c.sample_size = as_int(v, src, k, 1);
       }},
      {"layers_per_block", [&](const Value& v, const std::string& k) { c.layers_per_block = as_int(v, src, k, 1); }},
      {"norm_num_groups", [&](const Value& v, const std::string& k) { c.norm_num_groups = as_int(v, src, k, 1); }},
      {"block_out_channels", [&](const Value& v, const std::string& k) {
         if (v.type != Type::Array || v.items.empty() || v.items.size() > 8)
           fail(src, ": \"", k, "\" must be a list of 1 to 8 integers");
         c.block_out_channels.clear();
         for (const Value& e : v.items) c.block_out_channels.push_back(as_int(e, src, k, 1));
       }},
      {"down_block_types", [&](const Value& v, const std::string& k) { n_down = block_list(v, src, k, "DownEncoderBlock2D"); }},
      {"up_block_types", [&](const Value& v, const std::string& k) { n_up = block_list(v, src, k, "UpDecoderBlock2D"); }},
      {"act_fn", [&](const Value& v, const std::string& k) {
         if (v.type != Type::String || v.text != "silu") fail(src, ": \"", k, "\" = ", shown(v), " is not supported (only \"silu\")");
       }},
      {"scaling_factor", [&](const Value& v, const std::string& k) {
         if (v.type != Type::Number || !(v.number > 0) || !std::isfinite(v.number))
           fail(src, ": \"", k, "\" must be a positive number, got ", shown(v));
         c.scaling_factor = v.number;
       }},
      {"shift_factor", [&](const Value& v, const std::string& k) {
         if (v.type != Type::Number || !std::isfinite(v.number)) fail(src, ": \"", k, "\" must be null or a number, got ", shown(v));
         c.has_shift_factor = true;
         c.shift_factor = v.number;
       }},
      {"latents_mean", [&](const Value&, const std::string& k) {
         fail(src, ": \"", k, "\" must be null (per-channel latent statistics are not supported)");
       }},
      {"latents_std", [&](const Value&, const std::string& k) {
         fail(src, ": \"", k, "\" must be null (per-channel latent statistics are not supported)");
       }},
      {"force_upcast", [&](const Value& v, const std::string& k) { c.force_upcast = as_bool(v, src, k); }},
      {"use_quant_conv", [&](const Value& v, const std::string& k) { c.use_quant_conv = as_bool(v, src, k); }},
      {"use_post_quant_conv", [&](const Value& v, const std::string& k) { c.use_post_quant_conv = as_bool(v, src, k); }},
      {"mid_block_add_attention", [&](const Value& v, const std::string& k) { c.mid_block_add_attention = as_bool(v, src, k); }},
  };
  std::string unknown;
  for (size_t i = 0; i < root.keys.size(); ++i) {
    const std::string& k = root.keys[i];
    if (!k.empty() && k[0] == '_') continue;  // _class_name, _diffusers_version, _name_or_path
    auto h = handlers.find(k);
    if (h == handlers.end()) {
      unknown += (unknown.empty() ? "\"" : ", \"") + k + "\"";
      continue;
    }
    if (root.items[i].type != Type::Null) h->second(root.items[i], k);
  }
  if (!unknown.empty())
    fail(src, ": unknown config key ", unknown, " (not a diffusers AutoencoderKL field; check the spelling)");

  const int64_t n = int64_t(c.block_out_channels.size());
  if (n_down >= 0 && n_down != n)
    fail(src, ": down_block_types has ", n_down, " entries but block_out_channels has ", n);
  if (n_up >= 0 && n_up != n) fail(src, ": up_block_types has ", n_up, " entries but block_out_channels has ", n);
  for (int64_t i = 0; i < n; ++i)
    if (c.block_out_channels[size_t(i)] % c.norm_num_groups != 0)
      fail(src, ": block_out_channels[", i, "] = ", c.block_out_channels[size_t(i)],
           " is not divisible by norm_num_groups = ", c.norm_num_groups);
  return c;
}

Config Config::sd() { return Config{}; }

std::string Config::to_json() const {
  std::ostringstream os;
  os.precision(17);
  os << "{\"_class_name\": \"AutoencoderKL\", \"in_channels\": " << in_channels << ", \"out_channels\": " << out_channels
     << ", \"down_block_types\": [";
  for (size_t i = 0; i < block_out_channels.size(); ++i) os << (i ? ", " : "") << "\"DownEncoderBlock2D\"";
  os << "], \"up_block_types\": [";
  for (size_t i = 0; i < block_out_channels.size(); ++i) os << (i ? ", " : "") << "\"UpDecoderBlock2D\"";
  os << "], \"block_out_channels\": [";
  for (size_t i = 0; i < block_out_channels.size(); ++i) os << (i ? ", " : "") << block_out_channels[i];
  os << "], \"layers_per_block\": " << layers_per_block << ", \"act_fn\": \"silu\", \"latent_channels\": "
     << latent_channels << ", \"norm_num_groups\": " << norm_num_groups << ", \"sample_size\": " << sample_size
     << ", \"scaling_factor\": " << scaling_factor << ", \"shift_factor\": ";
  if (has_shift_factor)
    os << shift_factor;
  else
    os << "null";
  os << ", \"latents_mean\": null, \"latents_std\": null, \"force_upcast\": " << (force_upcast ? "true" : "false")
     << ", \"use_quant_conv\": " << (use_quant_conv ? "true" : "false")
     << ", \"use_post_quant_conv\": " << (use_post_quant_conv ? "true" : "false")
     << ", \"mid_block_add_attention\": " << (mid_block_add_attention ? "true" : "false") << "}";
  return os.str();
}

}  // namespace ie::vae
