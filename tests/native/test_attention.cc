// Fused attention forward/backward against a float64 reference that materialises the full score
// matrix, plus finite differences of the float64 forward for the gradients.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/attention.h"
#include "harness.h"
#include "reference/attention.h"
#include "ie/parallel.h"

namespace {

using Shape = iet::ref::AttentionShape;

std::string describe(const Shape& s, const char* what) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s B=%lld H=%lld Lq=%lld Lk=%lld D=%lld scale=%g causal=%d", what, (long long)s.B,
                (long long)s.H, (long long)s.Lq, (long long)s.Lk, (long long)s.D, double(s.scale), int(s.causal));
  return buf;
}

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

Result run_kernels(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, const std::vector<float>& dout) {
  const int64_t HD = s.H * s.D;
  Result r;
  r.out = iet::poisoned(size_t(s.B * s.Lq * HD));
  r.lse = iet::poisoned(size_t(s.B * s.H * s.Lq));
  ie::cpu::attention_forward(q.data(), k.data(), v.data(), r.out.data(), r.lse.data(), s.B, s.H, s.Lq, s.Lk, s.D,
                             s.scale, s.causal);
  r.dq = iet::poisoned(q.size());
  r.dk = iet::poisoned(k.size());
  r.dv = iet::poisoned(v.size());
  ie::cpu::attention_backward(q.data(), k.data(), v.data(), r.out.data(), r.lse.data(), dout.data(), r.dq.data(),
                              r.dk.data(), r.dv.data(), s.B, s.H, s.Lq, s.Lk, s.D, s.scale, s.causal);
  return r;
}

// Full check of one shape: forward vs float64, backward vs float64 gradients and vs central finite
// differences of loss = <out, dout> along a random direction in (q, k, v).
void check_case(const Shape& s, uint64_t seed, float mag = 1.f, bool fd = true) {
  const int64_t HD = s.H * s.D;
  std::vector<float> q = iet::randn(size_t(s.B * s.Lq * HD), seed, mag);
  std::vector<float> k = iet::randn(size_t(s.B * s.Lk * HD), seed + 1, mag);
  std::vector<float> v = iet::randn(size_t(s.B * s.Lk * HD), seed + 2);
  std::vector<float> dout = iet::randn(size_t(s.B * s.Lq * HD), seed + 3);
  std::vector<double> qd = iet::to_double(q), kd = iet::to_double(k), vd = iet::to_double(v),
                      dod = iet::to_double(dout);

  std::vector<double> out_ref, lse_ref, dq_ref, dk_ref, dv_ref;
  iet::ref::attention_forward(s, qd.data(), kd.data(), vd.data(), out_ref, lse_ref);
  iet::ref::attention_backward(s, qd.data(), kd.data(), vd.data(), dod.data(), dq_ref, dk_ref, dv_ref);

  Result r = run_kernels(s, q, k, v, dout);
  IE_EXPECT_REL(iet::rel_error(r.out, out_ref), 1e-5, describe(s, "out"));
  IE_EXPECT_REL(iet::rel_error(r.lse, lse_ref), 1e-5, describe(s, "lse"));
  IE_EXPECT_REL(iet::rel_error(r.dq, dq_ref), 1e-5, describe(s, "dq"));
  IE_EXPECT_REL(iet::rel_error(r.dk, dk_ref), 1e-5, describe(s, "dk"));
  IE_EXPECT_REL(iet::rel_error(r.dv, dv_ref), 1e-5, describe(s, "dv"));

  if (fd) {
    const size_t nq = q.size(), nk = k.size();
    std::vector<double> x(qd);
    x.insert(x.end(), kd.begin(), kd.end());
    x.insert(x.end(), vd.begin(), vd.end());
    std::vector<double> dir = iet::to_double(iet::randn(x.size(), seed + 4));
    auto loss = [&](const std::vector<double>& xv) {
      std::vector<double> o, l;
      iet::ref::attention_forward(s, xv.data(), xv.data() + nq, xv.data() + nq + nk, o, l);
      return iet::dot(o, dod);
    };
    const double fdv = iet::directional_fd(loss, x, dir, 1e-6 / mag);
    std::vector<float> g(r.dq);
    g.insert(g.end(), r.dk.begin(), r.dk.end());
    g.insert(g.end(), r.dv.begin(), r.dv.end());
    // Scale of the error: the dot product's condition sum_i |g_i dir_i| (the sum itself may cancel).
    double an = 0, cond = 0;
    for (size_t i = 0; i < g.size(); ++i) an += double(g[i]) * dir[i], cond += std::fabs(double(g[i]) * dir[i]);
    IE_EXPECT_REL(std::fabs(an - fdv) / std::max(cond, 1e-6), 1e-5, describe(s, "finite differences"));
  }
}

float inv_sqrt(int64_t D) { return 1.f / std::sqrt(float(D)); }

}  // namespace

IE_TEST(attention, cross_attention_batched_multihead) {
  iet::for_each_cpu_path([] {
    check_case({2, 3, 37, 77, 40, inv_sqrt(40), false}, 1000);  // text tokens as keys
    check_case({1, 2, 77, 37, 64, inv_sqrt(64), false}, 1010);  // more queries than keys
  });
}

IE_TEST(attention, head_dims) {
  iet::for_each_cpu_path([] {
    uint64_t seed = 2000;
    for (int64_t D : {1, 8, 40, 64, 80, 160}) {
      check_case({1, 2, 70, 70, D, inv_sqrt(D), false}, seed, 1.f, D <= 64);
      seed += 10;
    }
  });
}

IE_TEST(attention, causal) {
  iet::for_each_cpu_path([] {
    check_case({2, 2, 77, 77, 64, inv_sqrt(64), true}, 3000);  // CLIP text encoder shape
    check_case({1, 1, 150, 150, 8, inv_sqrt(8), true}, 3010);  // several query and key blocks
    check_case({1, 3, 5, 5, 3, inv_sqrt(3), true}, 3020);
  });
}

IE_TEST(attention, scale_and_large_scores) {
  iet::for_each_cpu_path([] {
    check_case({1, 2, 33, 65, 40, 0.37f, false}, 4000);               // scale != 1/sqrt(D)
    check_case({2, 1, 45, 70, 8, inv_sqrt(8), false}, 4010, 10.f);   // scores in the hundreds
    check_case({1, 2, 40, 40, 16, 1.f, true}, 4020, 3.f, false);      // causal, big logits
  });
}

IE_TEST(attention, long_sequence_splits_keys) {
  // One head and many key blocks: the backward splits the keys over tasks and sums dQ.
  iet::for_each_cpu_path([] { check_case({1, 1, 300, 260, 40, inv_sqrt(40), false}, 5000, 1.f, false); });
}

IE_TEST(attention, thread_counts_same_result) {
  const Shape s{1, 2, 130, 200, 24, inv_sqrt(24), false};
  const int64_t HD = s.H * s.D;
  std::vector<float> q = iet::randn(size_t(s.B * s.Lq * HD), 6000), k = iet::randn(size_t(s.B * s.Lk * HD), 6001),
                     v = iet::randn(size_t(s.B * s.Lk * HD), 6002), dout = iet::randn(size_t(s.B * s.Lq * HD), 6003);
  iet::for_each_cpu_path([&] {
    ie::set_num_threads(1);
    Result r1 = run_kernels(s, q, k, v, dout);
    for (int t : {2, 3}) {
      ie::set_num_threads(t);
      check_case(s, 6100 + uint64_t(t), 1.f, false);
      Result rt = run_kernels(s, q, k, v, dout);
      auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
      };
      IE_EXPECT(same(r1.out, rt.out) && same(r1.lse, rt.lse), "forward independent of thread count");
      IE_EXPECT(same(r1.dq, rt.dq) && same(r1.dk, rt.dk) && same(r1.dv, rt.dv),
                "backward independent of thread count");
    }
    ie::set_num_threads(0);
  });
  ie::set_num_threads(0);
}
