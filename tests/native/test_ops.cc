// The Tensor-level ops (native/src/ops): validation errors, stream ordering, read-back, allocator.
// Kernel numerics are covered by the per-kernel suites; this suite runs the op layer itself under
// the sanitizers (the JS tests cover it through the binding).
#include <climits>
#include <cstring>
#include <string>

#include "harness.h"
#include "ie/allocator.h"
#include "ie/cuda.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"

using ie::Tensor;
namespace ops = ie::ops;

namespace {
Tensor host(const std::vector<float>& v, const ie::Shape& s) {
  return ops::from_host(v.data(), v.size() * 4, s, ie::DType::F32, ie::Device{});
}
std::vector<float> read(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  ops::copy_to_host(t, v.data());
  return v;
}
// Runs fn, which must throw ie::Error whose message contains `want`.
template <typename F>
void expect_error(F fn, const std::string& want) {
  try {
    fn();
  } catch (const ie::Error& e) {
    IE_EXPECT(std::string(e.what()).find(want) != std::string::npos, std::string("message: ") + e.what());
    return;
  }
  IE_EXPECT(false, "no error for: " + want);
}
}  // namespace

IE_TEST(ops, validation_errors_name_op_and_shapes) {
  Tensor x = ops::randn({2, 3, 8, 8}, 1, 0, 0, 1, ie::DType::F32, {});
  Tensor w = ops::randn({4, 5, 3, 3}, 2, 0, 0, 1, ie::DType::F32, {});
  expect_error([&] { ops::conv2d(x, w, nullptr, {}); }, "conv2d: x has 3 channels but weight [4, 5, 3, 3] expects 5");
  expect_error([&] { ops::matmul(x, x, false, false); }, "matmul: a must be 2-D");
  expect_error([&] { ops::group_norm(x, 2, nullptr, nullptr, 1e-5, false); }, "groups (2) must divide");
  expect_error([&] { ops::softmax(Tensor()); }, "softmax: x is not a tensor");
  expect_error([&] { ops::softmax(ops::cast(x, ie::DType::F16)); }, "softmax: x must be float32, got float16[2, 3, 8, 8]");
  expect_error([&] { ops::attention(x.reshape({2, 3, 64}), x.reshape({2, 3, 64}), x.reshape({2, 3, 64}), 3, 0, false); },
               "not divisible by heads (3)");
  expect_error([&] { ops::binary(ops::Binary::Add, x, w); }, "cannot be broadcast together");
  expect_error([&] { Tensor::empty({int64_t(1) << 40, int64_t(1) << 40}, ie::DType::F32); }, "too large");
  expect_error([&] { ops::full({2}, 1e12, ie::DType::I32, {}); }, "not representable as int32");
  if (ie::cuda::device_count() == 0)
    expect_error([&] { ops::zeros({2}, ie::DType::F32, ie::Device{ie::DeviceType::CUDA, 0}); }, "cuda");
}

IE_TEST(ops, results_follow_stream_order_and_match_kernels) {
  Tensor a = host({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = host({1, 0, 0, 1, 1, 1}, {3, 2});
  Tensor y = ops::matmul(a, b, false, false);  // [[1+3, 2+3], [4+6, 5+6]]
  auto v = read(y);
  IE_EXPECT(v == std::vector<float>({4, 5, 10, 11}), "matmul values");
  Tensor s = ops::reduce(ops::affine(y, 2, 1), {}, false, false);  // sum(2y+1) = 2*30 + 4
  IE_EXPECT(read(s) == std::vector<float>({64}), "chained ops run in order");
  auto parts = ops::split(ops::concat({a, a}, 0), {1, 3}, 0);
  IE_EXPECT(read(parts[1]) == std::vector<float>({4, 5, 6, 1, 2, 3, 4, 5, 6}), "concat/split");
  Tensor h = ops::cast(ops::cast(a, ie::DType::BF16), ie::DType::F32);
  IE_EXPECT(read(h) == read(a), "bf16 round trip of small integers");
  Tensor i = ops::cast(host({1.9f, -2.7f, 1e20f, -1e20f}, {4}), ie::DType::I32);
  std::vector<int32_t> iv(4);
  ops::copy_to_host(i, iv.data());
  IE_EXPECT(iv == std::vector<int32_t>({1, -2, INT32_MAX, INT32_MIN}), "float to int32 truncates and saturates");
}

IE_TEST(ops, async_read_back_and_tensors_outlive_their_handles) {
  std::vector<float> dst(1000, -1.f);
  bool done = false;
  std::string err;
  {
    Tensor t = ops::full({1000}, 3.5, ie::DType::F32, {});
    ops::copy_to_host_async(t, dst.data(), [&](const char* e) {
      if (e) err = e;
      done = true;
    });
  }  // the last handle goes away before the copy runs: the queued task keeps the storage alive
  ie::stream_for(ie::Device{}).sync();
  IE_EXPECT(done && err.empty(), "callback ran without error");
  IE_EXPECT(dst[0] == 3.5f && dst[999] == 3.5f, "data copied");
}

IE_TEST(ops, a_failing_task_is_reported_once_and_the_stream_recovers) {
  ie::Stream& s = ie::stream_for(ie::Device{});
  s.enqueue([] { throw ie::Error("injected kernel failure"); });
  bool threw = false;
  try {
    s.sync();
  } catch (const ie::Error& e) {
    threw = std::string(e.what()) == "injected kernel failure";
  }
  IE_EXPECT(threw, "sync rethrows the task's error");
  s.sync();  // cleared: no second report
  IE_EXPECT(read(ops::full({1}, 2, ie::DType::F32, {}))[0] == 2.f, "stream still works");
}

IE_TEST(ops, allocator_reuses_freed_blocks) {
  ie::stream_for(ie::Device{}).sync();
  ie::cpu_empty_cache();
  auto before = ie::cpu_alloc_stats();
  void* p = ie::cpu_alloc(1 << 20);
  ie::cpu_free(p, 1 << 20);
  IE_EXPECT(ie::cpu_alloc_stats().cached >= size_t(1) << 20, "freed block cached");
  void* q = ie::cpu_alloc(1 << 20);
  IE_EXPECT(q == p, "same block handed out again");
  ie::cpu_free(q, 1 << 20);
  ie::cpu_empty_cache();
  IE_EXPECT(ie::cpu_alloc_stats().cached == 0 && ie::cpu_alloc_stats().in_use == before.in_use, "cache emptied");
}
