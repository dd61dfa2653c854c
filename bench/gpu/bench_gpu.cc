// GPU benchmark of instructedit's CUDA ops and models: the same rows as bench/gpu/torch_peer.py
// (keep the two lists in sync), timed with CUDA events on the library's stream. Not a test.
//
//   ie_bench_gpu [--only kernels,unet,train,edit] [--iters N]
//
// Prints one JSON object per line, like torch_peer.py:
//   {"name", "impl": "instructedit", "dtype", "ms", "tflops"?, "gbps"?, "flop"?, "bytes"?}
//   {"name", "impl": "instructedit", "status": "not implemented" | "not available" | "no CUDA device", "error"?}
// A row whose op throws ie::Error (a kernel not ported yet, a model that cannot run on CUDA yet)
// prints its status and the message and the run goes on. scripts/test-gpu.sh joins both outputs
// into the summary table (bench/gpu/summary.py).
//
// Timing: each row runs as ONE task on the device's ie::Stream, so the ops inside it launch inline
// on the calling thread (as a model's forward does) and the CUDA events are recorded on the same
// CUDA stream as the kernels: warm-up calls, then the median of `iters` samples; a sample repeats the
// call back to back until it lasts >= 1 ms, and ms is per call.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/cublas_loader.h"
#include "ie/cuda.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"
#include "ie/scheduler.h"
#include "ie/unet.h"
#include "ie/vae.h"

namespace ie::cuda {
cudaStream_t stream(int device);  // native/src/cuda/runtime.cu (declared in common.cuh, a CUDA header)
}

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;
const ie::Device kGpu{ie::DeviceType::CUDA, 0};
int g_iters = 10, g_warmup = 3;

// ---- the rows (the same shapes as torch_peer.py) ----
struct Gemm { int64_t M, N, K; };
const Gemm kGemms[] = {{4096, 320, 320}, {12288, 320, 320}, {4096, 2560, 320}, {4096, 320, 1280},
                       {4096, 1280, 320}, {1024, 640, 640},  {256, 1280, 1280}};
struct Conv { int64_t N, C, H, W; };  // 3x3, pad 1, C -> C
const Conv kConvs[] = {{3, 320, 64, 64}, {3, 1280, 16, 16}};
struct Attn { int64_t B, H, Lq, Lk, D; };
const Attn kAttnFwd[] = {{3, 8, 4096, 4096, 40}, {3, 8, 4096, 77, 40}, {3, 8, 1024, 1024, 80}};
const Attn kAttnBwd[] = {{16, 8, 1024, 1024, 40}, {16, 8, 1024, 77, 40}};
const Conv kGroupNorms[] = {{3, 320, 64, 64}, {16, 640, 16, 16}};
const int64_t kAdamwN = 859532484;  // the SD1.5 / InstructPix2Pix UNet's parameter count

struct Dt { const char* tag; DType dtype; };
const Dt kAllDts[] = {{"f16", DType::F16}, {"bf16", DType::BF16}, {"f32", DType::F32}};
const Dt kHalfDts[] = {{"f16", DType::F16}, {"bf16", DType::BF16}};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o;
}

void status_row(const std::string& name, const char* status, const std::string& error = "") {
  std::printf("{\"name\": \"%s\", \"impl\": \"instructedit\", \"status\": \"%s\"", name.c_str(), status);
  if (!error.empty()) std::printf(", \"error\": \"%s\"", json_escape(error.substr(0, 300)).c_str());
  std::printf("}\n");
  std::fflush(stdout);
}

void timed_row(const std::string& name, DType dt, double ms, double flop, double bytes, const std::string& note = "") {
  std::printf("{\"name\": \"%s\", \"impl\": \"instructedit\", \"dtype\": \"%s\", \"ms\": %.4f", name.c_str(),
              ie::dtype_name(dt), ms);
  if (flop > 0) std::printf(", \"flop\": %.0f, \"tflops\": %.2f", flop, flop / (ms * 1e-3) / 1e12);
  if (bytes > 0) std::printf(", \"bytes\": %.0f, \"gbps\": %.1f", bytes, bytes / (ms * 1e-3) / 1e9);
  if (!note.empty()) std::printf(", \"note\": \"%s\"", json_escape(note).c_str());
  std::printf("}\n");
  std::fflush(stdout);
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) ie::fail("bench: ", what, ": ", cudaGetErrorString(e));
}

// Median ms per call of f(), all of it inside one task on the GPU's stream.
double time_ms(const std::function<void()>& f, int iters = g_iters, int warmup = g_warmup) {
  double result = -1;
  ie::stream_for(kGpu).enqueue([&] {
    cudaStream_t s = ie::cuda::stream(0);
    cudaEvent_t e0, e1;
    check(cudaEventCreate(&e0), "cudaEventCreate");
    check(cudaEventCreate(&e1), "cudaEventCreate");
    auto span = [&](int reps) {
      check(cudaEventRecord(e0, s), "cudaEventRecord");
      for (int r = 0; r < reps; ++r) f();
      check(cudaEventRecord(e1, s), "cudaEventRecord");
      check(cudaEventSynchronize(e1), "cudaEventSynchronize (a kernel failed)");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
      return double(ms) / reps;
    };
    try {
      for (int i = 0; i < warmup; ++i) f();
      double one = std::max(span(1), 1e-3);
      int reps = int(std::min(1000.0, std::max(1.0, std::ceil(1.0 / one))));
      std::vector<double> samples;
      for (int i = 0; i < iters; ++i) samples.push_back(span(reps));
      std::sort(samples.begin(), samples.end());
      result = samples[samples.size() / 2];
    } catch (...) {
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
      throw;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  });
  ie::stream_for(kGpu).sync();  // rethrows the task's ie::Error
  return result;
}

// Inputs: N(0, scale²) drawn on the CPU, cast there, copied to the GPU (only the runtime's copies are
// needed, so a row fails only for the op it times).
uint64_t g_seed = 1;
Tensor rnd(const Shape& shape, DType dt, float scale = 1.f) {
  Tensor h = ie::ops::randn(shape, g_seed++, 0, 0.f, scale, DType::F32, ie::Device{});
  if (dt != DType::F32) h = ie::ops::cast(h, dt);
  return ie::ops::to_device(h, kGpu);
}

// Runs one row: an ie::Error (or any exception) becomes a status row, never an abort.
void row(const std::string& name, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::string m = e.what();
    bool missing = m.find("not implemented") != std::string::npos || m.find("not supported") != std::string::npos ||
                   m.find("no CUDA kernel") != std::string::npos || m.find("CPU only") != std::string::npos ||
                   m.find("on the CPU") != std::string::npos;
    status_row(name, missing ? "not implemented" : "failed", m);
    try {
      ie::stream_for(kGpu).sync();  // clear a poisoned stream so the next row starts clean
    } catch (...) {
    }
  }
}

std::string shape_tag(std::initializer_list<int64_t> v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

// INSTRUCTEDIT_ATTENTION=simt (simt) or unset for a scope (rows sync the stream before they end);
// the previous value is restored.
class AttnPath {
 public:
  explicit AttnPath(bool simt) {
    const char* e = std::getenv("INSTRUCTEDIT_ATTENTION");
    had_ = e != nullptr;
    if (had_) old_ = e;
    if (simt) setenv("INSTRUCTEDIT_ATTENTION", "simt", 1);
    else unsetenv("INSTRUCTEDIT_ATTENTION");
  }
  ~AttnPath() {
    if (had_) setenv("INSTRUCTEDIT_ATTENTION", old_.c_str(), 1);
    else unsetenv("INSTRUCTEDIT_ATTENTION");
  }
  AttnPath(const AttnPath&) = delete;
  AttnPath& operator=(const AttnPath&) = delete;

 private:
  bool had_ = false;
  std::string old_;
};

// Our GEMM kernels only (backend "ours") for a scope, with INSTRUCTEDIT_GEMM_KERNEL=wmma (wmma) or
// unset; the previous backend and value are restored. (Rows sync the stream before they end.)
class GemmKernelPath {
 public:
  explicit GemmKernelPath(bool wmma) : backend_(ie::cuda::gemm_backend()) {
    const char* e = std::getenv("INSTRUCTEDIT_GEMM_KERNEL");
    had_ = e != nullptr;
    if (had_) old_ = e;
    if (wmma) setenv("INSTRUCTEDIT_GEMM_KERNEL", "wmma", 1);
    else unsetenv("INSTRUCTEDIT_GEMM_KERNEL");
    ie::cuda::set_gemm_backend(ie::cuda::GemmBackend::Ours);
  }
  ~GemmKernelPath() {
    if (had_) setenv("INSTRUCTEDIT_GEMM_KERNEL", old_.c_str(), 1);
    else unsetenv("INSTRUCTEDIT_GEMM_KERNEL");
    ie::cuda::set_gemm_backend(backend_);
  }
  GemmKernelPath(const GemmKernelPath&) = delete;
  GemmKernelPath& operator=(const GemmKernelPath&) = delete;

 private:
  ie::cuda::GemmBackend backend_;
  bool had_ = false;
  std::string old_;
};

void bench_kernels() {
  for (const Gemm& g : kGemms)
    for (const Dt& d : kAllDts) {
      std::string name = "gemm_" + shape_tag({g.M, g.N, g.K}) + "_" + d.tag;
      row(name, [&] {
        Tensor x = rnd({g.M, g.K}, d.dtype), w = rnd({g.N, g.K}, d.dtype, 0.05f);
        double ms = time_ms([&] { ie::ops::linear(x, w, nullptr); });
        timed_row(name, d.dtype, ms, 2.0 * g.M * g.N * g.K, 0);
      });
    }
  // gemm_*_{f16,bf16}_mma / _wmma: our own float16/bfloat16 kernels on the same shapes with cuBLAS off
  // (backend "ours"): the mma.sync kernel (taken where its alignment preconditions hold, as here) and
  // the WMMA kernel (INSTRUCTEDIT_GEMM_KERNEL=wmma). instructedit-only A/B rows with no torch peer.
  for (const Gemm& g : kGemms)
    for (const Dt& d : kHalfDts)
      for (bool wmma : {false, true}) {
        std::string name = "gemm_" + shape_tag({g.M, g.N, g.K}) + "_" + d.tag + (wmma ? "_wmma" : "_mma");
        GemmKernelPath path(wmma);
        row(name, [&] {
          Tensor x = rnd({g.M, g.K}, d.dtype), w = rnd({g.N, g.K}, d.dtype, 0.05f);
          double ms = time_ms([&] { ie::ops::linear(x, w, nullptr); });
          timed_row(name, d.dtype, ms, 2.0 * g.M * g.N * g.K, 0);
        });
      }
  for (const Conv& c : kConvs)
    for (const Dt& d : kAllDts) {
      std::string name = "conv3x3_" + shape_tag({c.N, c.C, c.H, c.W}) + "_" + d.tag;
      row(name, [&] {
        Tensor x = rnd({c.N, c.C, c.H, c.W}, d.dtype), w = rnd({c.C, c.C, 3, 3}, d.dtype, 0.02f),
               b = rnd({c.C}, d.dtype);
        ie::ops::Conv2dParams p{1, 1, 1, 1};
        double ms = time_ms([&] { ie::ops::conv2d(x, w, &b, p); });
        timed_row(name, d.dtype, ms, 2.0 * c.N * c.C * c.H * c.W * c.C * 9, 0);
      });
    }
  // attn_{fwd,bwd}_*: the default kernels (tensor cores for float16/bfloat16 at these head dims);
  // attn_{fwd,bwd}_*_simt: the float32-SIMT kernels on the same shapes (INSTRUCTEDIT_ATTENTION=simt),
  // instructedit-only A/B rows with no torch peer.
  for (const Attn& a : kAttnFwd)
    for (const Dt& d : kHalfDts)
      for (bool simt : {false, true}) {
        std::string name = "attn_fwd_b" + std::to_string(a.B) + "h" + std::to_string(a.H) + "_" +
                           shape_tag({a.Lq, a.Lk}) + "_d" + std::to_string(a.D) + "_" + d.tag + (simt ? "_simt" : "");
        AttnPath path(simt);
        row(name, [&] {
          Tensor q = rnd({a.B, a.Lq, a.H * a.D}, d.dtype), k = rnd({a.B, a.Lk, a.H * a.D}, d.dtype),
                 v = rnd({a.B, a.Lk, a.H * a.D}, d.dtype);
          double ms = time_ms([&] { ie::ops::attention(q, k, v, a.H, 0.0, false); });  // syncs the stream
          timed_row(name, d.dtype, ms, 4.0 * a.B * a.H * a.Lq * a.Lk * a.D, 0);
        });
      }
  for (const Attn& a : kAttnBwd)
    for (const Dt& d : kHalfDts)
      for (bool simt : {false, true}) {  // _simt: as the forward rows
        std::string name = "attn_bwd_b" + std::to_string(a.B) + "h" + std::to_string(a.H) + "_" +
                           shape_tag({a.Lq, a.Lk}) + "_d" + std::to_string(a.D) + "_" + d.tag + (simt ? "_simt" : "");
        AttnPath path(simt);
        row(name, [&] {
          Tensor q = rnd({a.B, a.Lq, a.H * a.D}, d.dtype), k = rnd({a.B, a.Lk, a.H * a.D}, d.dtype),
                 v = rnd({a.B, a.Lk, a.H * a.D}, d.dtype), dout = rnd({a.B, a.Lq, a.H * a.D}, d.dtype);
          ie::ops::AttentionOut fw = ie::ops::attention(q, k, v, a.H, 0.0, false);
          double ms = time_ms([&] { ie::ops::attention_backward(q, k, v, fw.out, fw.lse, dout, a.H, 0.0, false); });
          // FlashAttention convention: backward = 2.5x the forward's 4·B·H·Lq·Lk·D (it recomputes S)
          timed_row(name, d.dtype, ms, 10.0 * a.B * a.H * a.Lq * a.Lk * a.D, 0);
        });
      }
  for (const Conv& c : kGroupNorms)
    for (const Dt& d : kAllDts) {
      std::string name = "groupnorm_silu_" + shape_tag({c.N, c.C, c.H, c.W}) + "_" + d.tag;
      row(name, [&] {
        Tensor x = rnd({c.N, c.C, c.H, c.W}, d.dtype), g = rnd({c.C}, d.dtype), b = rnd({c.C}, d.dtype);
        double ms = time_ms([&] { ie::ops::group_norm(x, 32, &g, &b, 1e-5, true); });
        timed_row(name, d.dtype, ms, 0, 2.0 * double(x.numel()) * double(ie::dtype_size(d.dtype)));
      });
    }
  row("adamw_860M_f32", [&] {
    Tensor p = ie::ops::full({kAdamwN}, 0.5, DType::F32, kGpu), g = ie::ops::full({kAdamwN}, 0.01, DType::F32, kGpu),
           m = ie::ops::zeros({kAdamwN}, DType::F32, kGpu), v = ie::ops::zeros({kAdamwN}, DType::F32, kGpu);
    ie::ops::AdamWOptions o;
    double ms = time_ms([&] { ie::ops::adamw_step(p, g, m, v, o); }, 5, 1);
    timed_row("adamw_860M_f32", DType::F32, ms, 0, 28.0 * double(kAdamwN));  // p, m, v read+written, g read
  });
}

// ---- model-level rows ----
// One pix2pix step (UNet forward at batch 3, 64x64 latents, float16 compute; eager, and replayed
// from a CUDA graph), a training step
// (forward + triplet loss + backward + grad-norm + AdamW at batch 16 = 8 pairs x 2, 32x32 latents,
// bfloat16 compute, float32 master weights) and a whole 20-step 512x512 edit (VAE encode, 20 x
// [UNet at batch 3 (graph: true) + guidance + Euler-ancestral step], VAE decode; UNet float16, VAE float32; the
// text encoder is left out as in torch_peer.py). Random weights: speed does not depend on them.
void bench_unet_forward() {
  for (bool graph : {false, true}) {
    std::string name = graph ? "unet_fwd_b3_64_f16_graph" : "unet_fwd_b3_64_f16";
    row(name, [&] {
      auto model = ie::unet::Model::create(ie::unet::Config::sd15(8), kGpu, DType::F16);
      model->init_random(1);
      Tensor x = rnd({3, 8, 64, 64}, DType::F32), t = ie::ops::full({3}, 500.0, DType::F32, kGpu),
             ehs = rnd({3, 77, 768}, DType::F32);
      ie::unet::ForwardOptions fo;
      fo.graph = graph;  // the first warm-up call runs eagerly and captures; the timed calls replay
      double ms = time_ms([&] { model->forward(x, t, ehs, fo); }, 10, 2);
      std::string note = "flop: the issue's 2.4 TFLOP per pix2pix step";
      if (graph) {
        ie::stream_for(kGpu).sync();
        ie::unet::Stats st = model->stats();
        if (!st.graph_error.empty()) ie::fail("graph capture failed (the row would time the eager pass): ", st.graph_error);
        note += "; replayed from a CUDA graph (graph: true, " + std::to_string(st.graph_replays) + " replays)";
      }
      timed_row(name, DType::F16, ms, 2.4e12, 0, note);
    });
  }
}

void bench_train_step() {
  const char* name = "train_step_b8x2_32_bf16";
  row(name, [&] {
    auto model = ie::unet::Model::create(ie::unet::Config::sd15(8), kGpu, DType::BF16);
    model->init_random(1);
    const int64_t B = 8;
    Tensor x = rnd({2 * B, 8, 32, 32}, DType::F32), t = ie::ops::full({2 * B}, 500.0, DType::F32, kGpu),
           ehs = rnd({2 * B, 77, 768}, DType::F32), target = rnd({B, 4, 32, 32}, DType::F32);
    Tensor flat = model->flat_params();
    Tensor m = ie::ops::zeros(flat.shape(), DType::F32, kGpu), v = ie::ops::zeros(flat.shape(), DType::F32, kGpu);
    std::vector<uint8_t> keep(B, 1);
    int64_t step = 0;
    ie::unet::ForwardOptions fo;
    fo.train = true;
    double ms = time_ms(
        [&] {
          Tensor out = model->forward(x, t, ehs, fo);
          ie::ops::TripletLossOut l = ie::ops::triplet_loss(out, target, keep, ie::ops::TripletLossOptions{});
          model->backward(l.grad);
          ie::ops::sum_squares(model->flat_grads());  // the clip's global norm (read back by the Trainer)
          ie::ops::AdamWOptions o;
          o.step = ++step;
          ie::ops::adamw_step(flat, model->flat_grads(), m, v, o);
        },
        5, 2);
    timed_row(name, DType::BF16, ms, 0, 0, "bf16 compute, float32 master weights and AdamW");
  });
}

void bench_edit() {
  const char* name = "edit_512_20steps_f16";
  row(name, [&] {
    auto unet = ie::unet::Model::create(ie::unet::Config::sd15(8), kGpu, DType::F16);
    unet->init_random(1);
    auto vae = ie::vae::Model::create(ie::vae::Config::sd(), kGpu);
    vae->init_random(2);
    ie::sched::Scheduler sched(ie::sched::Config::defaults("euler-ancestral"), 3);
    Tensor image = rnd({1, 3, 512, 512}, DType::F32, 0.5f), ehs = rnd({3, 77, 768}, DType::F32);
    ie::unet::ForwardOptions fo;
    fo.graph = true;  // as the Editor does on CUDA: step 1 captures, the other steps replay
    double ms = time_ms(
        [&] {
          ie::vae::Moments mo = vae->encode(image);
          Tensor m = mo.mean;
          Tensor img_lat = ie::ops::concat({m, m, ie::ops::zeros(m.shape(), DType::F32, kGpu)}, 0);
          sched.set_timesteps(20);
          Tensor lat = ie::ops::randn(m.shape(), 4, 0, 0.f, sched.init_noise_sigma(), DType::F32, kGpu);
          for (float t : std::vector<float>(sched.timesteps())) {
            Tensor in = ie::ops::concat({sched.scale_model_input(ie::ops::concat({lat, lat, lat}, 0), t), img_lat}, 1);
            Tensor eps = unet->forward(in, ie::ops::full({3}, double(t), DType::F32, kGpu), ehs, fo);
            lat = sched.step(ie::ops::pix2pix_guidance(eps, 7.5, 1.5), t, lat).prev_sample;
          }
          vae->decode(ie::ops::affine(lat, 1.0 / 0.18215, 0.0));
        },
        3, 1);
    ie::stream_for(kGpu).sync();
    std::string ge = unet->stats().graph_error;
    timed_row(name, DType::F16, ms, 0, 0,
              "UNet float16 replayed from a CUDA graph (graph: true" +
                  (ge.empty() ? std::string(")") : std::string("; capture FAILED, eager: ") + ge.substr(0, 120) + ")") +
                  ", VAE float32, no text encoder");
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> only = {"kernels", "unet", "train", "edit"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) {
      only.clear();
      std::stringstream ss(argv[++i]);
      for (std::string s; std::getline(ss, s, ',');) only.insert(s);
    } else if (a == "--iters" && i + 1 < argc) {
      g_iters = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: ie_bench_gpu [--only kernels,unet,train,edit] [--iters N]\n");
      return 2;
    }
  }
  if (ie::cuda::device_count() == 0) {
    std::printf("{\"name\": \"device\", \"impl\": \"instructedit\", \"status\": \"no CUDA device\", \"built\": %s}\n",
                ie::cuda::built() ? "true" : "false");
    std::printf("{\"name\": \"*\", \"impl\": \"instructedit\", \"status\": \"no CUDA device\"}\n");
    return 0;
  }
  std::printf("{\"name\": \"device\", \"impl\": \"instructedit\", \"gpu\": \"%s\", \"capability\": %d, \"archs\": \"%s\"}\n",
              json_escape(ie::cuda::device_name(0)).c_str(), ie::cuda::device_capability(0), ie::cuda::built_archs());
  std::fflush(stdout);
  if (only.count("kernels")) bench_kernels();
  if (only.count("unet")) bench_unet_forward();
  if (only.count("train")) bench_train_step();
  if (only.count("edit")) bench_edit();
  return 0;
}
