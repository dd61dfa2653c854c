// Core: thread pool, random streams, half conversions, CPU dispatch.
#include <atomic>
#include <cstring>
#include <string>

#include "cpu/cast.h"
#include "cpu/random.h"
#include "harness.h"
#include "ie/error.h"
#include "ie/half.h"
#include "ie/parallel.h"

IE_TEST(core, parallel_for_covers_range_once) {
  for (int threads : {1, 2, 3, 7}) {
    ie::set_num_threads(threads);
    for (int64_t n : {0, 1, 5, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(size_t(n > 0 ? n : 1));
      for (auto& h : hits) h = 0;
      ie::parallel_for(n, 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) IE_EXPECT(hits[size_t(i)] == 1, "index covered once");
    }
  }
  ie::set_num_threads(0);
}

IE_TEST(core, randn_same_on_any_thread_count_and_offset) {
  const int64_t n = 100001;
  std::vector<float> a(n), b(n), c(n - 7);
  ie::set_num_threads(1);
  ie::cpu::fill_randn(a.data(), n, 42, 0, 0.f, 1.f);
  ie::set_num_threads(3);
  ie::cpu::fill_randn(b.data(), n, 42, 0, 0.f, 1.f);
  ie::cpu::fill_randn(c.data(), n - 7, 42, 7, 0.f, 1.f);  // a window of the same stream
  ie::set_num_threads(0);
  IE_EXPECT(std::memcmp(a.data(), b.data(), n * 4) == 0, "randn independent of thread count");
  IE_EXPECT(std::memcmp(a.data() + 7, c.data(), (n - 7) * 4) == 0, "offset selects a window of the stream");
  double s = 0, s2 = 0;
  for (float v : a) s += v, s2 += double(v) * v;
  double mean = s / n, var = s2 / n - mean * mean;
  IE_EXPECT(std::fabs(mean) < 0.02 && std::fabs(var - 1) < 0.02, "randn moments are N(0,1)");
  std::vector<float> d(n);
  ie::cpu::fill_randn(d.data(), n, 43, 0, 0.f, 1.f);
  IE_EXPECT(std::memcmp(a.data(), d.data(), n * 4) != 0, "another seed gives other numbers");
}

IE_TEST(core, rand_in_range) {
  std::vector<float> u(50000);
  ie::cpu::fill_rand(u.data(), int64_t(u.size()), 7, 0, -2.f, 3.f);
  double s = 0;
  for (float v : u) {
    IE_EXPECT(v >= -2.f && v < 3.f, "uniform in [lo, hi)");
    s += v;
  }
  IE_EXPECT(std::fabs(s / u.size() - 0.5) < 0.05, "uniform mean");
}

IE_TEST(core, half_conversions_round_trip_and_round_to_nearest_even) {
  // every float16 value converts to float and back exactly
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = ie::f16_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    IE_EXPECT(ie::float_to_f16(f) == h, "f16 round trip");
  }
  IE_EXPECT(ie::float_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "tie rounds to even (down)");
  IE_EXPECT(ie::float_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "tie rounds to even (up)");
  IE_EXPECT(ie::float_to_f16(65520.f) == 0x7c00, "overflow to inf");
  IE_EXPECT(ie::float_to_f16(5.96e-8f) == 0x0001, "smallest subnormal");
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = ie::bf16_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    IE_EXPECT(ie::float_to_bf16(f) == h, "bf16 round trip");
  }
  IE_EXPECT(ie::float_to_bf16(ie::bits_float(0x3f808000u)) == 0x3f80, "bf16 tie to even");
  IE_EXPECT(ie::float_to_bf16(ie::bits_float(0x3f818000u)) == 0x3f82, "bf16 tie to even (up)");
  iet::for_each_cpu_path([] {
    std::vector<float> x = iet::randn(1001, 5, 100.f), back(1001);
    std::vector<uint16_t> h(1001);
    ie::cpu::f32_to_f16(x.data(), h.data(), 1001);
    ie::cpu::f16_to_f32(h.data(), back.data(), 1001);
    for (size_t i = 0; i < x.size(); ++i)
      IE_EXPECT(std::fabs(back[i] - x[i]) <= std::fabs(x[i]) * (1.0 / 2048) + 1e-7, "f16 within half an ulp");
    ie::cpu::f32_to_bf16(x.data(), h.data(), 1001);
    ie::cpu::bf16_to_f32(h.data(), back.data(), 1001);
    for (size_t i = 0; i < x.size(); ++i)
      IE_EXPECT(std::fabs(back[i] - x[i]) <= std::fabs(x[i]) * (1.0 / 256), "bf16 within half an ulp");
  });
}

IE_TEST(core, parallel_for_carries_exceptions_to_the_caller) {
  for (int threads : {1, 3}) {
    ie::set_num_threads(threads);
    bool caught = false;
    try {
      ie::parallel_for(1000, 10, [&](int64_t, int64_t e) {
        if (e == 1000) throw ie::Error("chunk failed");  // the last chunk, on whichever thread
      });
    } catch (const ie::Error& e) {
      caught = std::string(e.what()) == "chunk failed";
    }
    IE_EXPECT(caught, "exception from a chunk reaches the caller");
    // the pool still works afterwards
    std::atomic<int64_t> sum{0};
    ie::parallel_for(100, 1, [&](int64_t b, int64_t e) { sum += e - b; });
    IE_EXPECT(sum == 100, "pool usable after an exception");
  }
  ie::set_num_threads(0);
}
