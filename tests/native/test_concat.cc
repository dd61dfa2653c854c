// concat / split along an axis on bytes: exact results, round trip, and split as the adjoint
// (backward) of concat.
#include <cstring>

#include "cpu/concat.h"
#include "harness.h"
#include "ie/parallel.h"

namespace {

void run_concat_f32(const std::vector<int64_t>& sizes, int64_t outer, int64_t inner, uint64_t seed) {
  const int n = int(sizes.size());
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  std::vector<std::vector<float>> in(static_cast<size_t>(n));
  std::vector<const void*> ptrs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    in[size_t(i)] = iet::randn(size_t(outer * sizes[size_t(i)] * inner), seed + uint64_t(i));
    ptrs[size_t(i)] = in[size_t(i)].empty() ? nullptr : in[size_t(i)].data();
  }
  const size_t ny = size_t(outer * total * inner);
  std::vector<double> ref(ny);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (int i = 0; i < n; ++i) {
      int64_t len = sizes[size_t(i)] * inner;
      for (int64_t j = 0; j < len; ++j) ref[size_t(o * total * inner + off + j)] = in[size_t(i)][size_t(o * len + j)];
      off += len;
    }
  }
  std::vector<float> r = iet::randn(ny, seed + 100);  // for the adjoint check
  std::string nm = "concat outer=" + std::to_string(outer) + " inner=" + std::to_string(inner);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string t = nm + " threads=" + std::to_string(threads);
      std::vector<float> y = iet::poisoned(ny);
      ie::cpu::concat(ptrs.data(), sizes.data(), n, outer, inner * 4, y.data());
      IE_EXPECT(iet::rel_error(y, ref) == 0.0, t + " concat exact");
      // round trip
      std::vector<std::vector<float>> parts(static_cast<size_t>(n));
      std::vector<void*> outs(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        parts[size_t(i)] = iet::poisoned(in[size_t(i)].size());
        outs[size_t(i)] = parts[size_t(i)].empty() ? nullptr : parts[size_t(i)].data();
      }
      ie::cpu::split(y.data(), outs.data(), sizes.data(), n, outer, inner * 4);
      for (int i = 0; i < n; ++i)
        IE_EXPECT(parts[size_t(i)].empty() ||
                      std::memcmp(parts[size_t(i)].data(), in[size_t(i)].data(), in[size_t(i)].size() * 4) == 0,
                  t + " split(concat(x)) == x");
      // split is concat's backward: <concat(x), r> = Σ <x_i, split(r)_i>
      ie::cpu::split(r.data(), outs.data(), sizes.data(), n, outer, inner * 4);
      double lhs = iet::dot(y, iet::to_double(r)), rhs = 0;
      for (int i = 0; i < n; ++i) rhs += iet::dot(parts[size_t(i)], iet::to_double(in[size_t(i)]));
      IE_EXPECT_REL(std::fabs(lhs - rhs) / std::fabs(lhs), 1e-12, t + " adjoint");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(concat, three_inputs_different_sizes) { run_concat_f32({2, 5, 3}, 4, 7, 5000); }
IE_TEST(concat, channel_concat_large) { run_concat_f32({3, 1, 5}, 1000, 13, 5010); }
IE_TEST(concat, single_outer_row) { run_concat_f32({40000, 7, 30001}, 1, 1, 5020); }
IE_TEST(concat, empty_input) { run_concat_f32({2, 0, 3}, 3, 5, 5030); }

IE_TEST(concat, odd_byte_rows) {
  // 1-byte elements, 3 bytes per inner step: nothing assumes float alignment
  const int64_t sizes[] = {3, 2, 4}, outer = 5, inner = 3, total = 9;
  std::vector<uint8_t> a(size_t(outer * 3 * inner)), b(size_t(outer * 2 * inner)), c(size_t(outer * 4 * inner));
  for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t(i * 7 + 1);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(i * 11 + 2);
  for (size_t i = 0; i < c.size(); ++i) c[i] = uint8_t(i * 13 + 3);
  const void* ins[] = {a.data(), b.data(), c.data()};
  iet::for_each_cpu_path([&] {
    std::vector<uint8_t> y(size_t(outer * total * inner), 0xAB);
    ie::cpu::concat(ins, sizes, 3, outer, inner, y.data());
    bool ok = true;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < total * inner; ++j) {
        uint8_t want = j < 9 ? a[size_t(o * 9 + j)] : j < 15 ? b[size_t(o * 6 + j - 9)] : c[size_t(o * 12 + j - 15)];
        ok = ok && y[size_t(o * total * inner + j)] == want;
      }
    IE_EXPECT(ok, "byte concat");
    std::vector<uint8_t> a2(a.size(), 0), b2(b.size(), 0), c2(c.size(), 0);
    void* outs[] = {a2.data(), b2.data(), c2.data()};
    ie::cpu::split(y.data(), outs, sizes, 3, outer, inner);
    IE_EXPECT(a2 == a && b2 == b && c2 == c, "byte split round trip");
  });
}
