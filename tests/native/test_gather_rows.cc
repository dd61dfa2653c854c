// gather_rows (embedding lookups): rows by index on the CPU and on CUDA, against a plain copy;
// out-of-range indices are errors.
#include "harness.h"
#include "ie/ops.h"

namespace {
void run_gather(ie::Device dev) {
  const int64_t rows = 37, width = 130;
  std::vector<float> x = iet::randn(size_t(rows * width), 71);
  std::vector<int32_t> idx = {0, 36, 5, 5, 17, 1, 36, 0, 9};
  ie::Tensor xt = ie::ops::from_host(x.data(), x.size() * 4, {rows, width}, ie::DType::F32, dev);
  ie::Tensor y = ie::ops::gather_rows(xt, idx);
  IE_EXPECT(y.shape() == ie::Shape({int64_t(idx.size()), width}), "shape " + y.desc());
  std::vector<float> got(size_t(y.numel()));
  ie::ops::copy_to_host(y, got.data());
  bool same = true;
  for (size_t r = 0; r < idx.size(); ++r)
    for (int64_t d = 0; d < width; ++d) same = same && got[r * size_t(width) + size_t(d)] == x[size_t(idx[r] * width + d)];
  IE_EXPECT(same, "gathered rows differ from the table's rows");
  IE_EXPECT(iet::throws_with([&] { ie::ops::gather_rows(xt, {0, 37}); }, "index 37 at position 1 is out of range"),
            "an out-of-range index must throw");
  IE_EXPECT(iet::throws_with([&] { ie::ops::gather_rows(xt, {-1}); }, "out of range"), "a negative index must throw");
  ie::Tensor empty = ie::ops::gather_rows(xt, {});
  IE_EXPECT(empty.shape() == ie::Shape({0, width}), "no indices: [0, width]");
}
}  // namespace

IE_TEST(gather_rows, cpu) { iet::for_each_cpu_path([] { run_gather({}); }); }

IE_TEST(gather_rows, cuda) {
  if (!iet::cuda_device_or_skip()) return;
  run_gather({ie::DeviceType::CUDA, 0});
}
