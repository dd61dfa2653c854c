// Broadcast binary ops, affine, reduce_sum and its backward broadcast_copy against float64
// references; the reduce/broadcast pair also checked as adjoints and by finite differences.
#include <cmath>
#include <numeric>

#include "cpu/elementwise.h"
#include "harness.h"
#include "ie/parallel.h"
#include "reference/elementwise.h"

using ie::cpu::BinaryOp;
using Shape = std::vector<int64_t>;

namespace {

using iet::ref::broadcast_strides;
using iet::ref::numel;
using iet::ref::offset_of;

void run_binary(const Shape& out, const Shape& as, const Shape& bs, uint64_t seed, const Shape* a_custom = nullptr) {
  Shape ast = a_custom ? *a_custom : broadcast_strides(as, out), bst = broadcast_strides(bs, out);
  std::vector<float> a = iet::randn(size_t(numel(as)), seed);
  std::vector<float> b = iet::rand_uniform(size_t(numel(bs)), seed + 1, 0.5f, 2.0f);  // safe divisor
  for (size_t i = 0; i < b.size(); i += 3) b[i] = -b[i];
  const size_t n = size_t(numel(out));
  std::string nm = "shape";
  for (int64_t d : out) nm += " " + std::to_string(d);
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
        std::vector<double> ref(n);
        for (size_t i = 0; i < n; ++i)
          ref[i] = iet::ref::binary(op, a[size_t(offset_of(int64_t(i), out, ast))], b[size_t(offset_of(int64_t(i), out, bst))]);
        std::vector<float> y = iet::poisoned(n);
        ie::cpu::binary_forward(op, a.data(), ast.data(), b.data(), bst.data(), y.data(), out.data(), int(out.size()));
        IE_EXPECT_REL(iet::rel_error(y, ref), 1e-6,
                      nm + " op=" + std::to_string(int(op)) + " threads=" + std::to_string(threads));
      }
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(elementwise, binary_same_shape) { run_binary({2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, 2000); }
IE_TEST(elementwise, binary_per_channel) { run_binary({2, 3, 4, 5}, {2, 3, 4, 5}, {1, 3, 1, 1}, 2010); }
IE_TEST(elementwise, binary_two_broadcast_dims) { run_binary({2, 3, 4, 5}, {2, 3, 4, 5}, {2, 1, 4, 1}, 2020); }
IE_TEST(elementwise, binary_row_vector) { run_binary({7, 13}, {7, 13}, {1, 13}, 2030); }
IE_TEST(elementwise, binary_both_broadcast) { run_binary({5, 7, 9}, {1, 1, 9}, {5, 7, 1}, 2040); }
IE_TEST(elementwise, binary_scalar) { run_binary({3, 1, 11}, {3, 1, 11}, {1, 1, 1}, 2050); }
IE_TEST(elementwise, binary_large_parallel) {
  run_binary({3, 37, 1001}, {3, 37, 1001}, {1, 37, 1}, 2060);
  run_binary({1001, 67}, {1001, 67}, {1001, 1}, 2065);
  run_binary({40001}, {40001}, {40001}, 2068);
}
IE_TEST(elementwise, binary_transposed_input) {
  Shape at = {1, 5};  // a is the transpose of a contiguous [7, 5]
  run_binary({5, 7}, {7, 5}, {5, 7}, 2070, &at);
}

IE_TEST(elementwise, affine) {
  const size_t n = 100003;
  std::vector<float> x = iet::randn(n, 2100);
  std::vector<double> ref(n);
  for (size_t i = 0; i < n; ++i) ref[i] = -1.75 * x[i] + 0.3f;
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::vector<float> y = iet::poisoned(n);
      ie::cpu::affine(x.data(), -1.75f, 0.3f, y.data(), int64_t(n));
      IE_EXPECT_REL(iet::rel_error(y, ref), 1e-6, "affine threads=" + std::to_string(threads));
    }
    ie::set_num_threads(0);
  });
}

namespace {

// float64 reduce: kept dims in order
std::vector<double> reduce_ref(const std::vector<double>& x, const Shape& shape, const std::vector<uint8_t>& red,
                               double scale) {
  Shape kept = shape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (red[d]) kept[d] = 1;
  Shape kst = broadcast_strides(kept, shape);
  std::vector<double> y(size_t(numel(kept)), 0.0);
  for (int64_t i = 0; i < numel(shape); ++i) y[size_t(offset_of(i, shape, kst))] += x[size_t(i)];
  for (double& v : y) v *= scale;
  return y;
}

void run_reduce(const Shape& shape, const std::vector<uint8_t>& red, uint64_t seed, bool mean) {
  const size_t n = size_t(numel(shape));
  Shape kept = shape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (red[d]) kept[d] = 1;
  const size_t nk = size_t(numel(kept));
  const float scale = mean ? float(double(nk) / double(n)) : 1.0f;
  std::vector<float> x = iet::randn(n, seed), r = iet::randn(nk, seed + 1);
  for (float& v : x) v += 0.5f;  // a nonzero mean, so the sums do not cancel to nothing
  std::vector<double> xd = iet::to_double(x), rd = iet::to_double(r);
  std::vector<double> ref = reduce_ref(xd, shape, red, scale);
  Shape kst = broadcast_strides(kept, shape);
  std::vector<double> bref(n);  // broadcast_copy(r): the gradient of <reduce(x), r> w.r.t. x
  for (size_t i = 0; i < n; ++i) bref[i] = double(scale) * rd[size_t(offset_of(int64_t(i), shape, kst))];
  std::vector<double> v = iet::to_double(iet::randn(n, seed + 2));
  double fd = iet::directional_fd(
      [&](const std::vector<double>& xx) { return iet::dot(reduce_ref(xx, shape, red, scale), rd); }, xd, v);
  std::string nm = "reduce shape";
  for (size_t d = 0; d < shape.size(); ++d) nm += " " + std::to_string(shape[d]) + (red[d] ? "r" : "");
  iet::for_each_cpu_path([&] {
    for (int threads : {1, 2, 3}) {
      ie::set_num_threads(threads);
      std::string t = nm + " threads=" + std::to_string(threads);
      std::vector<float> y = iet::poisoned(nk), g = iet::poisoned(n);
      ie::cpu::reduce_sum(x.data(), shape.data(), int(shape.size()), red.data(), y.data(), scale);
      IE_EXPECT_REL(iet::rel_error(y, ref), 1e-6, t + " reduce_sum");
      ie::cpu::broadcast_copy(r.data(), kst.data(), g.data(), shape.data(), int(shape.size()), scale);
      IE_EXPECT_REL(iet::rel_error(g, bref), 1e-6, t + " broadcast_copy");
      double adj_l = iet::dot(y, rd) , adj_r = iet::dot(g, xd);  // <reduce x, r> = <x, broadcast r>
      IE_EXPECT_REL(std::fabs(adj_l - adj_r) / std::fabs(adj_r), 1e-5, t + " adjoint");
      IE_EXPECT_REL(std::fabs(iet::dot(g, v) - fd) / std::fabs(fd), 1e-5, t + " broadcast_copy vs finite differences");
    }
    ie::set_num_threads(0);
  });
}

}  // namespace

IE_TEST(elementwise, reduce_middle_dims) {
  run_reduce({2, 3, 4, 5}, {0, 1, 1, 0}, 2200, false);
  run_reduce({3, 7, 11}, {0, 1, 0}, 2205, true);
}
IE_TEST(elementwise, reduce_last_dims) {
  run_reduce({2, 3, 4, 5}, {0, 0, 1, 1}, 2210, false);
  run_reduce({6, 97}, {0, 1}, 2215, true);
}
IE_TEST(elementwise, reduce_per_channel) { run_reduce({2, 3, 4, 5}, {1, 0, 1, 1}, 2220, false); }
IE_TEST(elementwise, reduce_outer_dims) {
  run_reduce({2, 3, 4, 5}, {1, 1, 0, 0}, 2230, false);
  run_reduce({301, 517}, {1, 0}, 2235, true);  // column sums, several column blocks
}
IE_TEST(elementwise, reduce_all_and_size_one_dims) {
  run_reduce({3, 1, 5, 7}, {1, 1, 1, 1}, 2240, false);
  run_reduce({3, 1, 5, 1}, {0, 1, 1, 0}, 2245, false);
  run_reduce({4, 1, 1}, {0, 0, 0}, 2248, false);  // nothing reduced: a scaled copy
}
IE_TEST(elementwise, reduce_large_parallel) {
  run_reduce({4, 300, 77}, {1, 0, 1}, 2250, false);
  run_reduce({2, 65, 3, 129}, {0, 1, 0, 1}, 2255, true);  // alternating kept / reduced dims
}

IE_TEST(elementwise, reduce_deterministic_across_threads) {
  Shape shape = {3, 64, 4097};
  std::vector<uint8_t> red = {1, 0, 1};
  std::vector<float> x = iet::randn(size_t(numel(shape)), 2300);
  std::vector<float> y1(64), y3(64);
  ie::set_num_threads(1);
  ie::cpu::reduce_sum(x.data(), shape.data(), 3, red.data(), y1.data(), 1.0f);
  ie::set_num_threads(3);
  ie::cpu::reduce_sum(x.data(), shape.data(), 3, red.data(), y3.data(), 1.0f);
  ie::set_num_threads(0);
  IE_EXPECT(y1 == y3, "bitwise equal sums on 1 and 3 threads");
}
