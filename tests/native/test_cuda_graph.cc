// CUDA graph capture and replay: the Graph API (capture records without running, replay runs,
// refused host copies leave no stream in capture mode, the pool's memory comes back), and the
// UNet's graph: true forward against its eager forward bit for bit (float32 and float16 compute,
// several replays with new inputs, two input shapes = two graphs, parameters changed in place), the
// allocator's in_use back to its starting value once the graphs are dropped, and the refusals
// (train: true, a CPU model). Skipped without a GPU.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fixtures.h"
#include "harness.h"
#include "ie/cuda.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/unet.h"
#if defined(IE_WITH_CUDA)
#include "cuda/graph.h"
#endif

namespace {

using ie::DType;
using ie::Tensor;
namespace ops = ie::ops;
using ie::unet::Config;
using ie::unet::Model;
using iet::host;

const ie::Device kGpu{ie::DeviceType::CUDA, 0};

// The config of the parity fixture unet_tiny2 (../shared/parity/manifest.json), written out so the
// test needs no shared directory: 8 input channels, blocks 32/64 (cross-attention down, plain
// down; plain up, cross-attention up), 1 layer per block, 8 groups, cross_attention_dim 32, 8 heads.
Config tiny2() {
  return Config::from_json(R"({
    "sample_size": 16, "in_channels": 8, "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "block_out_channels": [32, 64],
    "layers_per_block": 1, "norm_num_groups": 8, "norm_eps": 1e-05, "cross_attention_dim": 32,
    "attention_head_dim": 8, "flip_sin_to_cos": true, "freq_shift": 0})",
                           "tiny2");
}

Tensor gpu_randn(const ie::Shape& s, uint64_t seed) {
  return ops::to_device(ops::randn(s, seed, 0, 0.f, 1.f, DType::F32, {}), kGpu);
}
Tensor gpu_values(const std::vector<float>& v) {
  return ops::from_host(v.data(), v.size() * sizeof(float), {int64_t(v.size())}, DType::F32, kGpu);
}

size_t in_use() {
  ie::stream_for(kGpu).sync();
  return ie::cuda::alloc_stats(0).in_use;
}

// Bitwise comparison with a message that locates the first difference.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  if (got.size() != want.size()) {
    IE_EXPECT(false, what + ": " + std::to_string(got.size()) + " values, expected " + std::to_string(want.size()));
    return;
  }
  if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0) return;
  size_t first = 0, diffs = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want[i], 4);
    if (a == b) continue;
    if (diffs++ == 0) first = i;
    worst = std::fmax(worst, std::fabs(double(got[i]) - want[i]));
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, ": %zu of %zu values differ (first at %zu: %.9g vs eager %.9g; max |diff| %.3g)",
                diffs, got.size(), first, double(got[first]), double(want[first]), worst);
  IE_EXPECT(false, what + buf);
}

// Runs fn as one task on the GPU's stream (so ops launch inline on the thread that captures).
void on_stream(const std::function<void()>& fn) {
  ie::stream_for(kGpu).enqueue(fn);
  ie::stream_for(kGpu).sync();
}

}  // namespace

#if defined(IE_WITH_CUDA)
IE_TEST(cuda_graph, graph_api_records_replays_and_refuses_host_copies) {
  if (!iet::cuda_device_or_skip()) return;
  const int64_t n = 1000;
  const size_t bytes = size_t(n) * 4;
  Tensor x = ops::full({n}, 1.0, DType::F32, kGpu);
  const size_t start = in_use();
  {
    auto g = std::make_unique<ie::cuda::Graph>();
    // x = 3 through a temporary allocated (and freed) during the capture: pool memory.
    on_stream([&] {
      g->capture(0, [&] {
        IE_EXPECT(ie::cuda::thread_capturing(), "the capturing thread reports it captures");
        Tensor tmp = ops::full({n}, 3.0, DType::F32, kGpu);
        ie::cuda::copy_d2d(x.raw(), tmp.raw(), bytes, 0);
      });
    });
    IE_EXPECT(g->captured() && !g->capturing(), "captured after capture()");
    IE_EXPECT(!ie::cuda::thread_capturing(), "the test thread never captured");
    IE_EXPECT(host(x) == std::vector<float>(size_t(n), 1.f), "a capture records the work without running it");
    IE_EXPECT(g->pool_bytes() > 0, "the temporary came from the graph's pool");
    on_stream([&] { g->replay(); });
    IE_EXPECT(host(x) == std::vector<float>(size_t(n), 3.f), "replay runs the recorded work");
    // The graph is stream-ordered with eager work: overwrite x, replay again.
    ie::cuda::fill_u32(x.raw(), ie::float_bits(5.f), n, 0);
    IE_EXPECT(host(x) == std::vector<float>(size_t(n), 5.f), "eager fill between replays");
    on_stream([&] { g->replay(); });
    IE_EXPECT(host(x) == std::vector<float>(size_t(n), 3.f), "second replay");
    // Replay from another thread (the test thread) works too: it launches on the device's stream.
    ie::cuda::fill_u32(x.raw(), ie::float_bits(5.f), n, 0);
    g->replay();
    IE_EXPECT(host(x) == std::vector<float>(size_t(n), 3.f), "replay from the test thread");
  }
  IE_EXPECT(in_use() == start, "in_use back to its starting value once the graph is destroyed");

  // Host copies and syncs are refused during a capture with an error naming them; the capture ends
  // (no stream left capturing) and the device works as before.
  struct Refused {
    const char* what;
    std::function<void()> body;
  };
  std::vector<float> h(static_cast<size_t>(n));
  Refused cases[] = {
      {"device-to-host copy", [&] { ie::cuda::copy_d2h(h.data(), x.raw(), bytes, 0); }},
      {"host-to-device copy", [&] { ie::cuda::copy_h2d(x.raw(), h.data(), bytes, 0); }},
      {"stream synchronisation", [&] { ie::cuda::synchronize(0); }},
  };
  for (const Refused& c : cases) {
    ie::cuda::Graph g;
    std::string err;
    on_stream([&] {
      err = iet::error_of([&] {
        g.capture(0, [&] {
          Tensor tmp = ops::full({n}, 7.0, DType::F32, kGpu);  // pool memory the failed capture gives back
          c.body();
        });
      });
      IE_EXPECT(!ie::cuda::thread_capturing(), std::string(c.what) + ": the thread no longer captures");
    });
    IE_EXPECT(err.find("CUDA graph capture failed") != std::string::npos && err.find(c.what) != std::string::npos,
              std::string(c.what) + ": refused with a message naming it, got \"" + err + "\"");
    IE_EXPECT(!g.captured() && !g.capturing(), std::string(c.what) + ": the graph is not captured");
    IE_EXPECT(iet::throws_with([&] { g.replay(); }, "without a successful capture"),
              std::string(c.what) + ": replaying a failed capture is an error");
    IE_EXPECT(host(ops::full({3}, 2.0, DType::F32, kGpu)) == std::vector<float>(3, 2.f),
              std::string(c.what) + ": the device works after the failed capture");
  }
  IE_EXPECT(host(x) == std::vector<float>(size_t(n), 3.f), "failed captures ran nothing");
  IE_EXPECT(in_use() == start, "in_use back to its starting value after the failed captures");
}
#endif

IE_TEST(cuda_graph, unet_graph_replay_matches_eager_bit_for_bit) {
  if (!iet::cuda_device_or_skip()) return;
  const Config cfg = tiny2();
  const int64_t D = cfg.cross_attention_dim[0];
  for (DType dt : {DType::F32, DType::F16}) {
    const std::string tag = std::string(" (") + ie::dtype_name(dt) + " compute)";
    auto model = Model::create(cfg, kGpu, dt);
    model->init_random(11);
    // Shape A: batch 2, 16x16, 7 tokens, one timestep per sample; shape B: batch 3, 8x12 (not
    // square), 5 tokens, one timestep for all. Different inputs (and timesteps) per call.
    struct In {
      Tensor x, t, e;
    };
    std::vector<In> A, B;
    for (int i = 0; i < 4; ++i)
      A.push_back({gpu_randn({2, cfg.in_channels, 16, 16}, 100 + i), gpu_values({37.5f + 100 * i, 900.f - 50 * i}),
                   gpu_randn({2, 7, D}, 200 + i)});
    for (int i = 0; i < 2; ++i)
      B.push_back({gpu_randn({3, cfg.in_channels, 8, 12}, 300 + i), gpu_values({421.f + 33 * i}),
                   gpu_randn({3, 5, D}, 400 + i)});
    auto eager = [&](const In& in) { return host(model->forward(in.x, in.t, in.e)); };
    std::vector<std::vector<float>> refA, refB;
    for (const In& in : A) refA.push_back(eager(in));
    for (const In& in : B) refB.push_back(eager(in));
    const size_t start = in_use();  // after the eager passes: the half compute copy exists

    ie::unet::ForwardOptions go;
    go.graph = true;
    auto graphed = [&](const In& in) { return host(model->forward(in.x, in.t, in.e, go)); };
    // A0 warms up and captures graph A; B0 captures graph B; the others replay, interleaved.
    struct Call {
      char shape;
      int i;
    } calls[] = {{'A', 0}, {'A', 1}, {'B', 0}, {'A', 2}, {'B', 1}, {'A', 3}, {'A', 0}, {'B', 0}};
    for (const Call& c : calls) {
      const In& in = c.shape == 'A' ? A[size_t(c.i)] : B[size_t(c.i)];
      const auto& ref = c.shape == 'A' ? refA[size_t(c.i)] : refB[size_t(c.i)];
      expect_same_bits(graphed(in), ref, std::string("graph forward ") + c.shape + std::to_string(c.i) + tag);
    }
    ie::unet::Stats st = model->stats();
    IE_EXPECT(st.graph_error.empty(), "no capture failed" + tag + ", got: " + st.graph_error);
    IE_EXPECT(st.graph_captures == 2, "two graphs (two shapes) captured" + tag + ", got " +
                                          std::to_string(st.graph_captures));
    IE_EXPECT(st.graph_replays == 6, "six replays" + tag + ", got " + std::to_string(st.graph_replays));

    // New parameters, changed in place (init_random writes the float32 master copy; the half copy
    // is refreshed in place before the replay): the graph computes with them.
    model->init_random(12);
    std::vector<float> ref1 = eager(A[1]);
    IE_EXPECT(ref1 != refA[1], "new parameters change the output" + tag);
    expect_same_bits(graphed(A[1]), ref1, "graph forward after the parameters changed" + tag);
    IE_EXPECT(model->stats().graph_replays == 7, "that call replayed the existing graph" + tag);

    // Dropping the graphs gives their memory back; a later graph call captures again.
    model->clear_graphs();
    IE_EXPECT(in_use() == start, "in_use back to its starting value after clear_graphs" + tag + " (start " +
                                     std::to_string(start) + ", now " + std::to_string(in_use()) + ")");
    expect_same_bits(graphed(A[2]), eager(A[2]), "graph forward after clear_graphs (captures again)" + tag);
    expect_same_bits(graphed(A[3]), eager(A[3]), "replay after recapturing" + tag);
    IE_EXPECT(model->stats().graph_captures == 3, "recaptured after clear_graphs" + tag);
    model->clear_graphs();
    IE_EXPECT(in_use() == start, "in_use back to its starting value after the second clear_graphs" + tag);
  }
}

IE_TEST(cuda_graph, unet_graph_refusals) {
  if (!iet::cuda_device_or_skip()) return;
  const Config cfg = tiny2();
  auto model = Model::create(cfg, kGpu);
  model->init_random(1);
  Tensor x = gpu_randn({1, cfg.in_channels, 8, 8}, 1), t = gpu_values({10.f}), e = gpu_randn({1, 3, 32}, 2);
  ie::unet::ForwardOptions o;
  o.graph = true;
  o.train = true;
  IE_EXPECT(iet::throws_with([&] { model->forward(x, t, e, o); }, "train must be false"),
            "graph with train is refused");
  IE_EXPECT(!model->has_saved(), "the refused call saved nothing");
  auto cpu = Model::create(cfg);
  cpu->init_random(1);
  ie::unet::ForwardOptions g;
  g.graph = true;
  Tensor xc = ops::randn({1, cfg.in_channels, 8, 8}, 1, 0, 0.f, 1.f, DType::F32, {});
  Tensor tc = ops::full({1}, 10.0, DType::F32, {});
  Tensor ec = ops::randn({1, 3, 32}, 2, 0, 0.f, 1.f, DType::F32, {});
  IE_EXPECT(iet::throws_with([&] { cpu->forward(xc, tc, ec, g); }, "CUDA only"), "graph on a CPU model is refused");
}
