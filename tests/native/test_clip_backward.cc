// CLIPTextModel backward (training the text encoder): parameter gradients of <R, last_hidden_state>
// against finite differences, all at once and per parameter group (so a wrong gradient cannot hide
// in the sum); token rows the ids never used get exactly zero; accumulate adds; errors.
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <string>

#include "harness.h"
#include "finite_diff.h"
#include "fixtures.h"
#include "ie/clip.h"
#include "ie/error.h"
#include "ie/ops.h"

namespace {

using ie::Tensor;
namespace ops = ie::ops;
using ie::clip::Config;
using ie::clip::TextModel;
using iet::dot;
using iet::host;

Config grad_config(const std::string& act) {
  Config c;
  c.vocab_size = 30;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.max_position_embeddings = 10;
  c.hidden_act = act;
  return c;
}

Tensor from(const std::vector<float>& v, const ie::Shape& s) { return ops::from_host(v.data(), v.size() * 4, s, ie::DType::F32, {}); }

}  // namespace

IE_TEST(clip_backward, parameter_gradients_match_finite_differences) {
  for (const std::string act : {"quick_gelu", "gelu"}) {
    auto m = TextModel::create(grad_config(act));
    m->init_random(31);
    const int64_t B = 2, L = 7, D = 16;
    std::vector<int32_t> ids{5, 9, 9, 3, 17, 1, 1, 4, 22, 8, 8, 8, 13, 0};  // repeats: scatter-add must sum them
    std::vector<float> R = host(ops::randn({B, L, D}, 3, 0, 0, 1, ie::DType::F32, {}));
    ie::clip::ForwardOptions train;
    train.train = true;
    m->forward(ids.data(), B, L, train);
    m->backward(from(R, {B, L, D}));
    std::vector<float> dp = host(m->flat_grads());
    auto loss = [&] { return dot(host(m->forward(ids.data(), B, L).last_hidden_state), R); };

    iet::check_param_groups(m->params(), m->flat_params(), dp, loss,
                            {"", "token_embedding", "position_embedding", "self_attn.q_proj", "self_attn.k_proj",
                             "self_attn.v_proj", "self_attn.out_proj", "layer_norm1", "layer_norm2", "mlp.fc1",
                             "mlp.fc2", "final_layer_norm"},
                            1e-2f, 1e-2, act);

    // Token rows never used get exactly zero; positions beyond L too.
    std::set<int32_t> used(ids.begin(), ids.end());
    for (const auto& p : m->params()) {
      if (p.name == "text_model.embeddings.token_embedding.weight") {
        for (int64_t r = 0; r < p.shape[0]; ++r) {
          double n = 0;
          for (int64_t k = 0; k < D; ++k) n += std::fabs(dp[size_t(p.offset + r * D + k)]);
          IE_EXPECT(used.count(int32_t(r)) ? n > 0 : n == 0, "token row " + std::to_string(r) + " gradient " + std::to_string(n));
        }
      }
      if (p.name == "text_model.embeddings.position_embedding.weight") {
        for (int64_t r = L; r < p.shape[0]; ++r)
          for (int64_t k = 0; k < D; ++k) IE_EXPECT(dp[size_t(p.offset + r * D + k)] == 0, "position rows >= L get no gradient");
      }
    }
  }
}

IE_TEST(clip_backward, accumulate_adds_and_errors_name_the_problem) {
  auto m = TextModel::create(grad_config("quick_gelu"));
  m->init_random(4);
  const int64_t B = 1, L = 5, D = 16;
  std::vector<int32_t> ids{1, 2, 3, 4, 5};
  Tensor R = ops::randn({B, L, D}, 8, 0, 0, 1, ie::DType::F32, {});
  ie::clip::ForwardOptions train;
  train.train = true;
  m->forward(ids.data(), B, L, train);
  m->backward(R);
  std::vector<float> g1 = host(m->flat_grads());
  // An inference forward in between does not disturb a pending training forward.
  m->forward(ids.data(), B, L, train);
  m->forward(ids.data(), B, L);
  m->backward(R, /*accumulate=*/true);
  std::vector<float> g2 = host(m->flat_grads());
  double worst = 0;
  for (size_t i = 0; i < g1.size(); ++i) worst = std::max(worst, double(std::fabs(g2[i] - 2 * g1[i])));
  IE_EXPECT(worst < 1e-5, "accumulate: twice the gradient (worst " + std::to_string(worst) + ")");
  auto error_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const ie::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  IE_EXPECT(error_of([&] { m->backward(R); }).find("call forward with train: true first") != std::string::npos,
            "backward without a training forward");
  m->forward(ids.data(), B, L, train);
  IE_EXPECT(error_of([&] { m->backward(ops::randn({B, L + 1, D}, 1, 0, 0, 1, ie::DType::F32, {})); }).find("shape") !=
                std::string::npos,
            "wrong gradient shape");
}
