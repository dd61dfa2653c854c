// CUDA fused attention (flash-attention forward, FA2 backward) through ie::ops on cuda:0 against
// the float64 reference of test_attention.cc (full score matrix). Skipped without a GPU.
//
// Tolerances (relative L2 error): float32 1e-5 for out, lse, dq, dk, dv (float32 accumulation over
// at most a few hundred keys/queries, as the CPU kernel); float16 1e-2 and bfloat16 2e-2 against the
// reference from the rounded q/k/v/dout: the kernels load them into float32 and compute in float32,
// so what remains is the rounding of the outputs (and of `out`, which the backward reads back).
// Each shape covers odd sizes that do not fill the 64-query/64-key forward tiles and the 32×32
// backward tiles, and head dims inside and at the edge of every head-dim bucket.
//
// Two kernel sets: float16/bfloat16 with D in {32, 40, 64, 80, 96, 128, 160} take the tensor-core
// kernels (attention_tc.cu: 16-bit operands, P and dS rounded to the storage type before the second
// products, float32 accumulation), everything else the float32 SIMT kernels. For those cases
// check_case runs forward and backward on both (INSTRUCTEDIT_ATTENTION=simt forces SIMT) and names
// the path ("tc" / "simt") in failures; the same tolerances hold for both: rounding P/dS to float16
// (2^-11) or bfloat16 (2^-8) relative per element averages out far below 1e-2 / 2e-2
// (tests/emulation/attention_mma_emu.py measures ~3e-4 for float16 and ~3e-3 for bfloat16, the
// outputs' own rounding included).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "cuda/attention.h"
#include "cuda_helpers.h"
#include "harness.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"
#include "reference/attention.h"

namespace {
using namespace iet::gpu;

using ie::DType;
namespace ops = ie::ops;

// The same data in a tensor whose storage starts one element past an allocation (2-byte aligned
// only): the tensor-core kernel's element-load path.
ie::Tensor upload_misaligned(const std::vector<float>& v, const ie::Shape& shape, DType t) {
  std::vector<float> pad(v.size() + 1, 0.f);
  std::copy(v.begin(), v.end(), pad.begin() + 1);
  return upload(pad, {int64_t(pad.size())}, t).view(1, shape);
}
using Shape = iet::ref::AttentionShape;

// Kernel selection for a scope: simt = true sets INSTRUCTEDIT_ATTENTION=simt (the SIMT forward and
// backward for every dtype), false clears it (the tensor-core kernels where they apply). The stream is
// drained on entry and exit so every launch sees the setting of its own scope; the previous value
// is restored.
class ForwardPath {
 public:
  explicit ForwardPath(bool simt) {
    ie::stream_for(kGpu).sync();
    const char* e = std::getenv(kVar);
    had_ = e != nullptr;
    if (had_) old_ = e;
    if (simt) setenv(kVar, "simt", 1);
    else unsetenv(kVar);
  }
  ~ForwardPath() {
    try {
      ie::stream_for(kGpu).sync();
    } catch (...) {  // a fault is reported by the next sync of the test itself
    }
    if (had_) setenv(kVar, old_.c_str(), 1);
    else unsetenv(kVar);
  }
  ForwardPath(const ForwardPath&) = delete;
  ForwardPath& operator=(const ForwardPath&) = delete;

 private:
  static constexpr const char* kVar = "INSTRUCTEDIT_ATTENTION";
  bool had_ = false;
  std::string old_;
};

// Whether the default forward/backward of (dt, D) are the tensor-core kernels.
bool tc_applies(DType dt, int64_t D) {
#ifdef IE_WITH_CUDA
  ForwardPath path(false);
  return ie::cuda::attention_uses_tc(dt, D);
#else
  (void)dt;
  (void)D;
  return false;
#endif
}

std::string describe(const Shape& s, DType dt, const char* what) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "cuda attention %s B=%lld H=%lld Lq=%lld Lk=%lld D=%lld scale=%g causal=%d %s", what,
                (long long)s.B, (long long)s.H, (long long)s.Lq, (long long)s.Lk, (long long)s.D, double(s.scale),
                int(s.causal), ie::dtype_name(dt));
  return buf;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Forward vs float64 and backward vs float64 gradients, on each kernel path that applies ("tc" and
// "simt" for float16/bfloat16 with a tensor-core head dim, else "simt"), for each dtype in `dtypes`;
// the backward is run twice and must give the same bits (no atomics). backward = false: forward
// only (the long SD shapes, whose float64 backward reference would take minutes). misaligned:
// q/k/v/dout start 2 bytes past a 16-byte boundary.
void check_case(const Shape& s, uint64_t seed, float mag = 1.f,
                std::initializer_list<DType> dtypes = {DType::F32, DType::F16, DType::BF16}, bool backward = true,
                bool misaligned = false) {
  const int64_t HD = s.H * s.D;
  const size_t nq = size_t(s.B * s.Lq * HD), nk = size_t(s.B * s.Lk * HD), nl = size_t(s.B * s.H * s.Lq);
  std::vector<float> q0 = iet::randn(nq, seed, mag), k0 = iet::randn(nk, seed + 1, mag),
                     v0 = iet::randn(nk, seed + 2), do0 = iet::randn(nq, seed + 3);
  for (DType dt : dtypes) {
    std::vector<float> q = rounded(q0, dt), k = rounded(k0, dt), v = rounded(v0, dt), dout = rounded(do0, dt);
    std::vector<double> qd = iet::to_double(q), kd = iet::to_double(k), vd = iet::to_double(v),
                        dod = iet::to_double(dout);
    std::vector<double> out_ref, lse_ref, dq_ref, dk_ref, dv_ref;
    iet::ref::attention_forward(s, qd.data(), kd.data(), vd.data(), out_ref, lse_ref);
    if (backward) iet::ref::attention_backward(s, qd.data(), kd.data(), vd.data(), dod.data(), dq_ref, dk_ref, dv_ref);

    auto up = misaligned ? upload_misaligned : upload;
    ie::Tensor Q = up(q, {s.B, s.Lq, HD}, dt), K = up(k, {s.B, s.Lk, HD}, dt), V = up(v, {s.B, s.Lk, HD}, dt);
    ie::Tensor DO = backward ? up(dout, {s.B, s.Lq, HD}, dt) : ie::Tensor();
    const size_t es = ie::dtype_size(dt);
    const bool tc = tc_applies(dt, s.D);
    for (bool simt : {false, true}) {
      if (simt && !tc) break;  // one kernel applies: the default run was it
      const std::string path =
          std::string(" [") + (tc && !simt ? "tc" : "simt") + (misaligned ? " misaligned" : "") + "]";
      ForwardPath fp(simt);
      poison_cache({nq * es, nl * 4}, 3);
      ops::AttentionOut o = ops::attention(Q, K, V, s.H, s.scale, s.causal);
      IE_EXPECT(o.out.dtype() == dt && o.lse.dtype() == DType::F32 && o.lse.shape() == ie::Shape({s.B, s.H, s.Lq}),
                describe(s, dt, "out takes q's dtype; lse is float32 [B, H, Lq]") + path);
      IE_EXPECT_REL(iet::rel_error(download(o.out), out_ref), tol(dt), describe(s, dt, "out") + path);
      IE_EXPECT_REL(iet::rel_error(download(o.lse), lse_ref), dt == DType::F32 ? 1e-5 : tol(dt),
                    describe(s, dt, "lse") + path);
      if (!backward) continue;

      // The backward on the same path, from this path's out/lse. float16/bfloat16: `out` was rounded
      // when stored, and D_i = Σ dO·O reads it back; that perturbs dq/dk by about the output's
      // rounding, inside the stated tolerance. The tensor-core backward also rounds P and dS to the
      // storage type before the dV/dK/dQ products (the emulator measures ~3e-4 f16, ~3e-3 bf16).
      poison_cache({nq * es, nk * es, nl * 4}, 3);
      ops::AttentionGrads g = ops::attention_backward(Q, K, V, o.out, o.lse, DO, s.H, s.scale, s.causal);
      std::vector<float> dq = download(g.dq), dk = download(g.dk), dv = download(g.dv);
      IE_EXPECT_REL(iet::rel_error(dq, dq_ref), tol(dt), describe(s, dt, "dq") + path);
      IE_EXPECT_REL(iet::rel_error(dk, dk_ref), tol(dt), describe(s, dt, "dk") + path);
      IE_EXPECT_REL(iet::rel_error(dv, dv_ref), tol(dt), describe(s, dt, "dv") + path);

      ops::AttentionGrads g2 = ops::attention_backward(Q, K, V, o.out, o.lse, DO, s.H, s.scale, s.causal);
      IE_EXPECT(same_bits(dq, download(g2.dq)) && same_bits(dk, download(g2.dk)) && same_bits(dv, download(g2.dv)),
                describe(s, dt, "backward is deterministic (two calls, same bits)") + path);
    }
  }
}

float inv_sqrt(int64_t D) { return 1.f / std::sqrt(float(D)); }

}  // namespace

IE_TEST(cuda_attention, cross_attention_batched_multihead) {
  if (!iet::cuda_device_or_skip()) return;
  check_case({2, 3, 37, 77, 40, inv_sqrt(40), false}, 1000);  // text tokens as keys
  check_case({1, 2, 77, 37, 64, inv_sqrt(64), false}, 1010);  // more queries than keys
  check_case({2, 8, 130, 77, 40, inv_sqrt(40), false}, 1020);  // SD cross-attention-like, 3 query tiles
}

IE_TEST(cuda_attention, head_dims) {
  if (!iet::cuda_device_or_skip()) return;
  // every bucket (16, 32, 40, 64, 80, 128, 160, 256), at and between the edges
  uint64_t seed = 2000;
  for (int64_t D : {1, 8, 16, 17, 33, 40, 41, 64, 80, 100, 128, 160, 200, 256}) {
    check_case({1, 2, 70, 70, D, inv_sqrt(D), false}, seed);
    seed += 10;
  }
}

IE_TEST(cuda_attention, tiny_and_single) {
  if (!iet::cuda_device_or_skip()) return;
  check_case({1, 1, 1, 1, 8, inv_sqrt(8), false}, 2500);   // one query, one key
  check_case({3, 2, 1, 65, 32, inv_sqrt(32), false}, 2510);  // one query, keys past one tile
  check_case({1, 1, 65, 1, 40, inv_sqrt(40), false}, 2520);  // one key
  check_case({1, 1, 1, 1, 1, 1.f, true}, 2530);              // causal 1×1
}

IE_TEST(cuda_attention, causal) {
  if (!iet::cuda_device_or_skip()) return;
  check_case({2, 2, 77, 77, 64, inv_sqrt(64), true}, 3000);  // CLIP text encoder shape
  check_case({1, 1, 150, 150, 8, inv_sqrt(8), true}, 3010);  // several query and key blocks
  check_case({1, 3, 5, 5, 3, inv_sqrt(3), true}, 3020);
  check_case({1, 2, 129, 129, 40, inv_sqrt(40), true}, 3030);  // 64/32-tile edges plus one
}

IE_TEST(cuda_attention, scale_and_large_scores) {
  if (!iet::cuda_device_or_skip()) return;
  check_case({1, 2, 33, 65, 40, 0.37f, false}, 4000);               // scale != 1/sqrt(D)
  check_case({2, 1, 45, 70, 8, inv_sqrt(8), false}, 4010, 10.f);     // scores in the hundreds
  check_case({1, 2, 40, 40, 16, 1.f, true}, 4020, 3.f);              // causal, big logits
}

IE_TEST(cuda_attention, long_sequence) {
  if (!iet::cuda_device_or_skip()) return;
  check_case({1, 1, 300, 260, 40, inv_sqrt(40), false}, 5000, 1.f, {DType::F32, DType::BF16});
  check_case({1, 2, 1030, 1030, 80, inv_sqrt(80), false}, 5010, 1.f, {DType::F32});
}

IE_TEST(cuda_attention, matches_cpu_op) {
  if (!iet::cuda_device_or_skip()) return;
  // The CPU op on the same float32 data: same lse layout and semantics (tolerance as vs float64).
  const Shape s{2, 3, 50, 70, 24, inv_sqrt(24), false};
  const int64_t HD = s.H * s.D;
  std::vector<float> q = iet::randn(size_t(s.B * s.Lq * HD), 6000), k = iet::randn(size_t(s.B * s.Lk * HD), 6001),
                     v = iet::randn(size_t(s.B * s.Lk * HD), 6002);
  auto cpu = [&](const std::vector<float>& d, const ie::Shape& sh) {
    return ops::from_host(d.data(), d.size() * 4, sh, DType::F32, ie::Device{});
  };
  ops::AttentionOut c = ops::attention(cpu(q, {s.B, s.Lq, HD}), cpu(k, {s.B, s.Lk, HD}), cpu(v, {s.B, s.Lk, HD}), s.H,
                                       0.0, false);
  ops::AttentionOut g = ops::attention(upload(q, {s.B, s.Lq, HD}, DType::F32), upload(k, {s.B, s.Lk, HD}, DType::F32),
                                       upload(v, {s.B, s.Lk, HD}, DType::F32), s.H, 0.0, false);
  std::vector<float> co(size_t(c.out.numel())), cl(size_t(c.lse.numel()));
  ops::copy_to_host(c.out, co.data());
  ops::copy_to_host(c.lse, cl.data());
  IE_EXPECT_REL(iet::rel_error(download(g.out), iet::to_double(co)), 1e-5, "cuda vs cpu attention out");
  IE_EXPECT_REL(iet::rel_error(download(g.lse), iet::to_double(cl)), 1e-5, "cuda vs cpu attention lse");
}

IE_TEST(cuda_attention, validation) {
  if (!iet::cuda_device_or_skip()) return;
  std::vector<float> d(3 * 264);
  ie::Tensor big = upload(d, {1, 3, 264}, DType::F32);
  IE_EXPECT(iet::throws_with([&] { ops::attention(big, big, big, 1, 0.0, false); }, "head dim 264"),
            "head dims above 256 are refused on cuda with a message");
  ie::Tensor q16 = upload(std::vector<float>(1 * 4 * 8), {1, 4, 8}, DType::F16);
  ie::Tensor k32 = upload(std::vector<float>(1 * 4 * 8), {1, 4, 8}, DType::F32);
  IE_EXPECT(iet::throws_with([&] { ops::attention(q16, k32, k32, 2, 0.0, false); },
                             "attention: k is float32 but the other inputs are float16"),
            "mixed dtypes are named");
}

IE_TEST(cuda_attention, tensor_core_dispatch) {
  if (!iet::cuda_device_or_skip()) return;
  // Which kernels a (dtype, head dim) takes; INSTRUCTEDIT_ATTENTION=simt forces the SIMT ones.
  for (int64_t D : {32, 40, 64, 80, 96, 128, 160}) {
    IE_EXPECT(tc_applies(DType::F16, D) && tc_applies(DType::BF16, D),
              "cuda attention: float16/bfloat16 D=" + std::to_string(D) + " take the tensor-core kernels");
    IE_EXPECT(!tc_applies(DType::F32, D), "cuda attention: float32 D=" + std::to_string(D) + " stays SIMT");
  }
  for (int64_t D : {1, 8, 16, 24, 33, 48, 100, 200, 256})
    IE_EXPECT(!tc_applies(DType::F16, D), "cuda attention: float16 D=" + std::to_string(D) + " stays SIMT");
#ifdef IE_WITH_CUDA
  {
    ForwardPath simt(true);
    IE_EXPECT(!ie::cuda::attention_uses_tc(DType::F16, 40), "INSTRUCTEDIT_ATTENTION=simt forces SIMT");
  }
#endif
}

IE_TEST(cuda_attention, tensor_core_sd_shapes) {
  if (!iet::cuda_device_or_skip()) return;
  // SD1.5 UNet attention at 64×64 latents, batch and heads reduced (B=1, H=2): self-attention at
  // 4096 tokens D=40, 1024 tokens D=80, 256 tokens D=160, and cross-attention to 77 text tokens.
  // Forward only, both paths (the float64 backward reference of 4096² would take minutes); the
  // backward at SD-like sizes in tensor_core_backward.
  const std::initializer_list<DType> half = {DType::F16, DType::BF16};
  check_case({1, 2, 4096, 4096, 40, inv_sqrt(40), false}, 7000, 1.f, half, false);
  check_case({1, 2, 1024, 1024, 80, inv_sqrt(80), false}, 7010, 1.f, half, false);
  check_case({1, 2, 256, 256, 160, inv_sqrt(160), false}, 7020, 1.f, half, false);
  check_case({1, 2, 4096, 77, 40, inv_sqrt(40), false}, 7030, 1.f, half, false);
  check_case({1, 2, 1024, 77, 80, inv_sqrt(80), false}, 7040, 1.f, half, false);
  check_case({1, 2, 256, 77, 160, inv_sqrt(160), false}, 7050, 1.f, half, false);
}

IE_TEST(cuda_attention, tensor_core_tails) {
  if (!iet::cuda_device_or_skip()) return;
  const std::initializer_list<DType> half = {DType::F16, DType::BF16};
  // every tensor-core head dim: Lq, Lk tails of the 64-query / 64-key forward tiles and of the
  // 64 × 32 backward tiles, causal; forward and backward
  uint64_t seed = 8000;
  for (int64_t D : {32, 40, 64, 80, 96, 128, 160}) {
    check_case({2, 3, 70, 77, D, inv_sqrt(D), false}, seed, 1.f, half);
    check_case({1, 2, 77, 77, D, inv_sqrt(D), true}, seed + 1, 1.f, half);
    seed += 10;
  }
  check_case({1, 1, 1, 1, 32, inv_sqrt(32), false}, 8100, 1.f, half);   // one query, one key
  check_case({1, 1, 1, 1, 40, inv_sqrt(40), true}, 8110, 1.f, half);    // causal 1×1
  check_case({1, 1, 65, 1, 40, inv_sqrt(40), false}, 8120, 1.f, half);  // one key, query tail of 1
  check_case({3, 2, 1, 130, 64, inv_sqrt(64), false}, 8130, 1.f, half);  // one query, 3 key blocks
  check_case({1, 2, 129, 129, 64, inv_sqrt(64), true}, 8140, 1.f, half);  // causal, 3 blocks + 1
  check_case({1, 2, 200, 200, 40, inv_sqrt(40), true}, 8150, 3.f, half);  // causal, big logits
  check_case({2, 1, 45, 140, 80, 0.37f, false}, 8160, 4.f, half);         // other scale, big logits
  check_case({1, 2, 128, 128, 40, inv_sqrt(40), true}, 8170, 1.f, half);  // exact tiles, causal
  check_case({1, 1, 64, 192, 160, inv_sqrt(160), false}, 8180, 1.f, half);  // exact tiles
}

IE_TEST(cuda_attention, tensor_core_misaligned) {
  if (!iet::cuda_device_or_skip()) return;
  // q/k/v(/dout) 2 bytes past a 16-byte boundary: element loads and stores instead of cp.async/uint4.
  const std::initializer_list<DType> half = {DType::F16, DType::BF16};
  check_case({2, 3, 70, 77, 40, inv_sqrt(40), false}, 9000, 1.f, half, false, true);
  check_case({1, 2, 77, 77, 64, inv_sqrt(64), true}, 9010, 1.f, half, false, true);
  check_case({1, 2, 130, 65, 160, inv_sqrt(160), false}, 9020, 1.f, half, true, true);
}

IE_TEST(cuda_attention, tensor_core_backward) {
  if (!iet::cuda_device_or_skip()) return;
  // Backward (and forward) at SD-like sizes, both paths: several 64-key / 32-query blocks per CTA.
  const std::initializer_list<DType> half = {DType::F16, DType::BF16};
  check_case({1, 2, 1024, 1024, 40, inv_sqrt(40), false}, 9500, 1.f, half);
  check_case({1, 2, 1024, 77, 40, inv_sqrt(40), false}, 9510, 1.f, half);
  check_case({1, 2, 256, 256, 160, inv_sqrt(160), false}, 9520, 1.f, half);
  check_case({1, 2, 256, 77, 80, inv_sqrt(80), false}, 9530, 1.f, half);
  check_case({1, 2, 300, 300, 64, inv_sqrt(64), true}, 9540, 2.f, half);
}
