// CLIPTextModel: parity with transformers (../shared/parity/clip_text_tiny: last hidden state, every
// layer's hidden state, pooled output), the real ViT-L/14 layout, causality, the pooler rules, config,
// load and input errors.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fixtures.h"
#include "harness.h"
#include "ie/cuda.h"
#include "ie/clip.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "io/json.h"
#include "models/clip/config.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;
using ie::clip::Config;
using ie::clip::TextModel;
using iet::exists;
using iet::host;
using iet::rel_l2;
using iet::shared_dir;

const ie::json::Value* manifest_fixture(ie::json::Value& m, const char* name) {
  m = ie::json::parse(iet::manifest_text());
  return m.find("fixtures")->find(name);
}

Config tiny_config() {
  ie::json::Value m;
  return ie::clip::detail::config_from_value(*manifest_fixture(m, "clip_text_tiny")->find("config"), "manifest");
}

std::vector<int32_t> host_ids(const Tensor& t) {
  std::vector<int32_t> v(size_t(t.numel()));
  ops::copy_to_host(t, v.data());
  return v;
}

using iet::error_of;
void expect_error(const std::function<void()>& f, const std::string& needle, const std::string& what) {
  std::string msg = error_of(f);
  IE_EXPECT(!msg.empty(), what + ": no error");
  IE_EXPECT(msg.find(needle) != std::string::npos, what + ": error should mention \"" + needle + "\", got: " + msg);
}

// A small random model for the tests that need no fixture.
Config small_config() {
  Config c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.max_position_embeddings = 12;
  c.eos_token_id = 2;
  return c;
}

}  // namespace

IE_TEST(clip, parity_clip_text_tiny) {
  const std::string dir = shared_dir() + "/parity/clip_text_tiny";
  if (!exists(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  auto model = TextModel::create(tiny_config());
  model->load(st::Reader::open(dir + "/text_encoder.safetensors"));
  Tensor ids_t = st::Reader::open(dir + "/inputs.safetensors").load("input_ids");  // I64 -> int32
  IE_EXPECT(ids_t.dtype() == ie::DType::I32 && ids_t.ndim() == 2, "input_ids " + ids_t.desc());
  std::vector<int32_t> ids = host_ids(ids_t);
  st::Reader ref = st::Reader::open(dir + "/outputs.safetensors");

  ie::clip::ForwardOptions o;
  o.hidden_states = true;
  ie::clip::Output out = model->forward(ids.data(), ids_t.size(0), ids_t.size(1), o);
  double e = rel_l2(host(out.last_hidden_state), host(ref.load("last_hidden_state")));
  std::printf("  last_hidden_state rel err %.3g\n", e);
  IE_EXPECT_REL(e, 1e-4, "last_hidden_state");
  IE_EXPECT(out.hidden_states.size() == 3, "3 hidden states, got " + std::to_string(out.hidden_states.size()));
  for (size_t i = 0; i < out.hidden_states.size(); ++i) {
    double eh = rel_l2(host(out.hidden_states[i]), host(ref.load("hidden_states." + std::to_string(i))));
    std::printf("  hidden_states.%zu rel err %.3g\n", i, eh);
    IE_EXPECT_REL(eh, 1e-4, "hidden_states." + std::to_string(i));
  }
  double ep = rel_l2(host(out.pooled), host(ref.load("pooler_output")));
  std::printf("  pooler_output rel err %.3g\n", ep);
  IE_EXPECT_REL(ep, 1e-4, "pooler_output");
  IE_EXPECT(out.pooled.shape() == ie::Shape({3, 32}), "pooled shape " + out.pooled.desc());

  // Without hidden states: the same last state, no extra outputs.
  ie::clip::Output plain = model->forward(ids.data(), ids_t.size(0), ids_t.size(1));
  IE_EXPECT(plain.hidden_states.empty(), "no hidden states unless asked");
  IE_EXPECT(host(plain.last_hidden_state) == host(out.last_hidden_state), "same output with and without hidden states");
}

IE_TEST(clip, position_ids_buffer_is_ignored_and_mismatches_are_listed) {
  const std::string dir = shared_dir() + "/parity/clip_text_tiny";
  if (!exists(dir)) return;
  st::Reader r = st::Reader::open(dir + "/text_encoder.safetensors");
  std::vector<std::pair<std::string, Tensor>> ts;
  for (const auto& t : r.tensors()) ts.emplace_back(t.name, r.load(t.name));
  std::vector<int32_t> pos(77);
  for (int i = 0; i < 77; ++i) pos[size_t(i)] = i;
  auto with_pos = ts;
  with_pos.emplace_back("text_model.embeddings.position_ids",
                        ops::from_host(pos.data(), pos.size() * 4, {1, 77}, ie::DType::I32, {}));
  const std::string tmp = "/tmp/ie_test_clip_" + std::to_string(::getpid());
  st::save(tmp + "_pos.safetensors", with_pos);
  auto a = TextModel::create(tiny_config());
  a->load(st::Reader::open(tmp + "_pos.safetensors"));
  auto b = TextModel::create(tiny_config());
  b->load(r);
  for (const auto& p : a->params())
    IE_EXPECT(host(a->param(p.name)) == host(b->param(p.name)), "position_ids must not change " + p.name);

  // A missing tensor, an unexpected one (a projection head) and a wrong shape: one error naming all three.
  auto bad = ts;
  bad.erase(bad.begin());  // position_embedding (sorted first)
  bad.emplace_back("text_projection.weight", ops::zeros({32, 32}, ie::DType::F32, {}));
  for (auto& [n, t] : bad)
    if (n == "text_model.final_layer_norm.bias") t = ops::zeros({31}, ie::DType::F32, {});
  st::save(tmp + "_bad.safetensors", bad);
  std::string msg = error_of([&] { TextModel::create(tiny_config())->load(st::Reader::open(tmp + "_bad.safetensors")); });
  for (const char* needle : {"missing (1): text_model.embeddings.position_embedding.weight",
                             "unexpected (1): text_projection.weight", "text_model.final_layer_norm.bias (file [31]"})
    IE_EXPECT(msg.find(needle) != std::string::npos, std::string("load error should mention ") + needle + ", got: " + msg);
  std::remove((tmp + "_pos.safetensors").c_str());
  std::remove((tmp + "_bad.safetensors").c_str());
}

IE_TEST(clip, vit_l14_layout_matches_transformers) {
  const std::string file = shared_dir() + "/parity/real_arch_keys/keys.json";
  if (!exists(file)) return;
  ie::json::Value k = ie::json::parse(iet::read_text(file));
  const ie::json::Value& te = *k.find("text_encoder");
  Config parsed = ie::clip::detail::config_from_value(*te.find("config"), "keys.json");
  Config c = Config::vit_l14();
  IE_EXPECT(parsed.to_json() == c.to_json(), "vit_l14() must equal the real config: " + parsed.to_json() + " vs " + c.to_json());
  auto m = TextModel::create(c);
  IE_EXPECT(m->num_params() == te.find("n_params")->integer, "parameter count " + std::to_string(m->num_params()));
  const ie::json::Value& keys = *te.find("keys");
  IE_EXPECT(m->params().size() == keys.keys.size(), "tensor count " + std::to_string(m->params().size()));
  for (size_t i = 0; i < keys.keys.size() && i < m->params().size(); ++i) {
    ie::Shape s;
    for (const auto& d : keys.items[i].items) s.push_back(d.integer);
    IE_EXPECT(m->params()[i].name == keys.keys[i] && m->params()[i].shape == s,
              "param " + std::to_string(i) + ": " + m->params()[i].name + " vs " + keys.keys[i]);
  }
}

// Causal attention, padding unmasked: position i depends on tokens 0..i only, every row of a batch is
// computed independently, and the outputs at padding positions depend on the text before them.
IE_TEST(clip, causal_and_batch_independent) {
  Config c = small_config();
  auto m = TextModel::create(c);
  m->init_random(7);
  const int64_t L = 10, D = c.hidden_size;
  std::vector<int32_t> a = {0, 5, 9, 13, 2, 1, 1, 1, 1, 1};
  std::vector<int32_t> b = a;
  b[6] = 44;  // change a token after position 5
  std::vector<int32_t> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  std::vector<float> ya = host(m->forward(a.data(), 1, L).last_hidden_state);
  std::vector<float> yb = host(m->forward(b.data(), 1, L).last_hidden_state);
  std::vector<float> yab = host(m->forward(ab.data(), 2, L).last_hidden_state);
  std::vector<float> pa(ya.begin(), ya.begin() + 6 * D), pb(yb.begin(), yb.begin() + 6 * D);
  IE_EXPECT(pa == pb, "positions 0..5 must not see token 6");
  IE_EXPECT(rel_l2({ya.begin() + 6 * D, ya.end()}, {yb.begin() + 6 * D, yb.end()}) > 1e-3,
            "positions 6.. must see token 6");
  IE_EXPECT_REL(rel_l2({yab.begin(), yab.begin() + L * D}, ya), 1e-6, "batch row 0");
  IE_EXPECT_REL(rel_l2({yab.begin() + L * D, yab.end()}, yb), 1e-6, "batch row 1");
  // A shorter sequence gives the prefix of the longer one's states (positions are arange(L)).
  std::vector<float> y6 = host(m->forward(a.data(), 1, 6).last_hidden_state);
  IE_EXPECT_REL(rel_l2(y6, pa), 1e-6, "prefix");
}

IE_TEST(clip, pooler_rules) {
  Config c = small_config();
  std::vector<int32_t> ids = {0, 7, 49, 3, 2, 2, 3, 49};  // largest id first at 2; first 3 at 3; first 2 at 4
  auto pooled_row = [&](int64_t eos, int64_t* row) {
    Config cc = c;
    cc.eos_token_id = eos;
    auto m = TextModel::create(cc);
    m->init_random(3);
    ie::clip::Output o = m->forward(ids.data(), 1, 8);
    std::vector<float> y = host(o.last_hidden_state), p = host(o.pooled);
    *row = -1;
    for (int64_t i = 0; i < 8; ++i)
      if (std::equal(p.begin(), p.end(), y.begin() + i * c.hidden_size)) {
        *row = i;
        break;
      }
  };
  int64_t r = -2;
  pooled_row(2, &r);
  IE_EXPECT(r == 2, "eos_token_id 2 pools at argmax(ids) = 2, got " + std::to_string(r));
  pooled_row(3, &r);
  IE_EXPECT(r == 3, "eos_token_id 3 pools at the first 3, got " + std::to_string(r));
  pooled_row(11, &r);
  IE_EXPECT(r == 0, "an absent eos pools at 0, got " + std::to_string(r));
}

IE_TEST(clip, random_init_scheme) {
  Config c = small_config();
  auto m = TextModel::create(c);
  m->init_random(11);
  auto stdev = [](const std::vector<float>& v, double mean) {
    double s = 0;
    for (float x : v) s += (x - mean) * (x - mean);
    return std::sqrt(s / double(v.size()));
  };
  double se = stdev(host(m->param("text_model.embeddings.token_embedding.weight")), 0);
  IE_EXPECT(se > 0.18 && se < 0.22, "token embedding std " + std::to_string(se));
  double sw = stdev(host(m->param("text_model.encoder.layers.0.mlp.fc2.weight")), 0);
  IE_EXPECT(std::abs(sw - 1 / std::sqrt(24.0)) < 0.03, "fc2 weight std " + std::to_string(sw));
  std::vector<float> g = host(m->param("text_model.final_layer_norm.weight"));
  double mean = 0;
  for (float x : g) mean += x / double(g.size());
  IE_EXPECT(std::abs(mean - 1) < 0.1, "norm scale mean " + std::to_string(mean));
  auto m2 = TextModel::create(c);
  m2->init_random(11);
  for (const auto& p : m->params())  // (the flat buffer's alignment padding is not initialised)
    IE_EXPECT(host(m2->param(p.name)) == host(m->param(p.name)), "same seed, same " + p.name);
}

IE_TEST(clip, input_errors) {
  Config c = small_config();
  auto m = TextModel::create(c);
  m->init_random(1);
  std::vector<int32_t> ids(13, 1);
  expect_error([&] { m->forward(ids.data(), 1, 13); }, "longer than the model's 12 positions", "too long");
  expect_error([&] { m->forward(ids.data(), 0, 5); }, "batch and length >= 1", "empty batch");
  ids[4] = 50;
  expect_error([&] { m->forward(ids.data(), 1, 5); }, "token id 50 at [0, 4] is outside the vocabulary [0, 50)", "id too big");
  ids[4] = -1;
  expect_error([&] { m->forward(ids.data(), 1, 5); }, "token id -1", "negative id");
  // Nothing was enqueued by the failed calls: the stream has no error to report.
  ie::stream_for({}).sync();

  // A cancelled pass fails on the stream with "cancelled".
  ids[4] = 3;
  ie::clip::ForwardOptions o;
  o.cancel = std::make_shared<std::atomic<bool>>(true);
  m->forward(ids.data(), 1, 5, o);
  expect_error([] { ie::stream_for({}).sync(); }, "CLIPTextModel: cancelled", "cancel");
}

IE_TEST(clip, config_errors_name_the_key) {
  auto parse = [](const std::string& json) { return [json] { Config::from_json(json, "config.json"); }; };
  expect_error(parse("{\"hiden_size\": 8}"), "unknown config key \"hiden_size\"", "typo");
  expect_error(parse("{\"hidden_act\": \"relu\"}"), "hidden_act", "activation");
  expect_error(parse("{\"hidden_size\": 30, \"num_attention_heads\": 4}"), "divisible by num_attention_heads", "heads");
  expect_error(parse("{\"num_hidden_layers\": 2.5}"), "num_hidden_layers", "non-integer");
  expect_error(parse("{\"vocab_size\": 0}"), "vocab_size", "zero vocab");
  expect_error(parse("{\"layer_norm_eps\": -1}"), "layer_norm_eps", "eps");
  expect_error(parse("{\"model_type\": \"t5\"}"), "not a CLIP text model config", "model type");
  expect_error(parse("{\"pruned_heads\": {\"0\": [1]}}"), "pruned_heads", "pruned");
  expect_error(parse("{\"text_config\": {\"hidden_sizes\": 8}}"), "config.json (text_config): unknown config key", "nested typo");
  expect_error(parse("[1]"), "must be a JSON object", "array");
  expect_error(parse("{\"vocab_size\": 8,}"), "not valid JSON", "bad JSON");

  // Missing keys take transformers' CLIPTextConfig defaults; a CLIPConfig's text_config is used.
  Config d = Config::from_json("{}");
  IE_EXPECT(d.hidden_size == 512 && d.num_attention_heads == 8 && d.eos_token_id == 49407, "defaults " + d.to_json());
  Config n = Config::from_json(
      "{\"model_type\": \"clip\", \"projection_dim\": 768, \"logit_scale_init_value\": 2.6592, \"vision_config\": "
      "{\"hidden_size\": 1024}, \"text_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072, "
      "\"num_attention_heads\": 12, \"projection_dim\": 768, \"eos_token_id\": 2, \"bos_token_id\": 0}}");
  IE_EXPECT(n.to_json() == Config::vit_l14().to_json(), "nested text_config: " + n.to_json());
  // to_json round-trips.
  IE_EXPECT(Config::from_json(Config::vit_l14().to_json()).to_json() == Config::vit_l14().to_json(), "round trip");
  if (ie::cuda::device_count() == 0)  // with a GPU the model is made there (test_cuda_models)
    expect_error([] { TextModel::create(Config::vit_l14(), ie::Device{ie::DeviceType::CUDA, 0}); }, "not available",
                 "cuda without a GPU");
}
