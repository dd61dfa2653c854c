// The CUDA runtime: copies round-trip, fills, the caching allocator's reuse and statistics, and
// errors (out of memory, bad device) as ie::Error. Skipped without a GPU.
#include <cstring>
#include <vector>

#include "harness.h"
#include "ie/cuda.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"

namespace {
const ie::Device kGpu{ie::DeviceType::CUDA, 0};

std::vector<float> read(const ie::Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  ie::ops::copy_to_host(t, v.data());
  return v;
}
}  // namespace

IE_TEST(cuda_core, copies_round_trip) {
  if (!iet::cuda_device_or_skip()) return;
  std::vector<float> x = iet::randn(1000, 11);
  ie::Tensor g = ie::ops::from_host(x.data(), x.size() * 4, {10, 100}, ie::DType::F32, kGpu);
  IE_EXPECT(read(g) == x, "host -> device -> host changed the data");
  ie::Tensor c = ie::ops::clone(g);
  IE_EXPECT(read(c) == x, "device clone changed the data");
  ie::Tensor h = ie::ops::to_device(c, ie::Device{});
  IE_EXPECT(std::memcmp(h.data<float>(), x.data(), x.size() * 4) == 0, "to('cpu') changed the data");
}

IE_TEST(cuda_core, fill) {
  if (!iet::cuda_device_or_skip()) return;
  ie::Tensor t = ie::ops::full({3, 333}, -2.5, ie::DType::F32, kGpu);
  std::vector<float> v = read(t);
  bool all = true;
  for (float f : v) all = all && f == -2.5f;
  IE_EXPECT(all, "full(-2.5) on cuda");
}

IE_TEST(cuda_core, allocator_reuses_blocks) {
  if (!iet::cuda_device_or_skip()) return;
  ie::stream_for(kGpu).sync();
  ie::cuda::AllocStats before = ie::cuda::alloc_stats(0);
  void* p;
  {
    ie::Tensor a = ie::Tensor::empty({1 << 20}, ie::DType::F32, kGpu);
    p = a.raw();
    ie::cuda::AllocStats during = ie::cuda::alloc_stats(0);
    IE_EXPECT(during.in_use >= before.in_use + (4u << 20), "in_use did not grow by the tensor's 4 MiB");
  }
  ie::Tensor b = ie::Tensor::empty({1 << 20}, ie::DType::F32, kGpu);
  IE_EXPECT(b.raw() == p, "a freed block of the same size was not reused");
  ie::cuda::AllocStats after = ie::cuda::alloc_stats(0);
  IE_EXPECT(after.reserved >= after.in_use, "reserved < in_use");
}

IE_TEST(cuda_core, errors_are_exceptions) {
  if (!iet::cuda_device_or_skip()) return;
  // 1 TiB cannot be allocated: an ie::Error that says so, and the device stays usable. (2^38 elements:
  // under Tensor::empty's 2^40-element cap, which would refuse a bigger shape as "too large" first.)
  IE_EXPECT(iet::throws_with([] { ie::Tensor::empty({int64_t(1) << 38}, ie::DType::F32, kGpu); }, "out of GPU memory"),
            "a huge allocation must throw 'out of GPU memory'");
  ie::Device bad{ie::DeviceType::CUDA, 63};
  IE_EXPECT(iet::throws_with([&] { ie::Tensor::empty({4}, ie::DType::F32, bad); }, "is not available"),
            "an absent device must be named");
  ie::Tensor t = ie::ops::full({8}, 1.0, ie::DType::F32, kGpu);
  IE_EXPECT(read(t)[7] == 1.0f, "the device is usable after the errors");
}
