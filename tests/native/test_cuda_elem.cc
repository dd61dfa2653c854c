// CUDA elementwise group on the GPU through the ie::ops API, against float64 references computed
// here from the (rounded) inputs: broadcasting binary ops and their backward, affine, reductions
// and their backward, sum_to_shape, assign, concat/split (bit-exact), cast (bit-identical to the
// CPU op) and randn/rand (the CPU's counter layout). Skipped without a GPU.
//
// Tolerances (relative error ||out − ref|| / ||ref||): float32 1e-5; float16 1e-2 and bfloat16 2e-2
// (their 11- and 8-bit significands round every stored value by up to 2^-11 / 2^-8 relative, and
// backward chains store intermediates in that type).
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "cuda_helpers.h"
#include "harness.h"
#include "ie/error.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/tensor.h"
#include "reference/elementwise.h"

using namespace iet::gpu;

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;
namespace ops = ie::ops;
using iet::ref::numel;
using iet::ref::offset_of;

std::vector<uint8_t> bytes_of(const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  ops::copy_to_host(t, b.data());
  return b;
}

Shape bshape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

const char* op_name(ops::Binary op) {
  switch (op) {
    case ops::Binary::Add: return "add";
    case ops::Binary::Sub: return "sub";
    case ops::Binary::Mul: return "mul";
    case ops::Binary::Div: return "div";
  }
  return "?";
}
const ops::Binary kOps[] = {ops::Binary::Add, ops::Binary::Sub, ops::Binary::Mul, ops::Binary::Div};

// binary and binary_backward for shapes as, bs, every op and float dtype.
void check_binary(const Shape& as, const Shape& bs, uint64_t seed) {
  const Shape out = bshape(as, bs);
  const Shape sa = iet::ref::broadcast_strides(as, out), sb = iet::ref::broadcast_strides(bs, out);
  const int64_t n = numel(out);
  std::vector<float> a0 = iet::randn(size_t(numel(as)), seed);
  std::vector<float> b0 = iet::rand_uniform(size_t(numel(bs)), seed + 1, 0.5f, 2.0f);  // a safe divisor
  for (size_t i = 0; i < b0.size(); i += 3) b0[i] = -b0[i];
  std::vector<float> dy0 = iet::randn(size_t(n), seed + 2);
  for (DType dt : kFloatTypes) {
    std::vector<float> a = rounded(a0, dt), b = rounded(b0, dt), dy = rounded(dy0, dt);
    Tensor A = upload(a, as, dt), B = upload(b, bs, dt), DY = upload(dy, out, dt);
    for (ops::Binary op : kOps) {
      const std::string nm = std::string(op_name(op)) + " " + ie::shape_str(as) + " " + ie::shape_str(bs) + " " + dname(dt);
      std::vector<double> ref(static_cast<size_t>(n));
      std::vector<double> da(a.size(), 0.0), db(b.size(), 0.0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t ia = offset_of(i, out, sa), ib = offset_of(i, out, sb);
        const double x = a[size_t(ia)], y = b[size_t(ib)], g = dy[size_t(i)];
        ref[size_t(i)] = iet::ref::binary(op, x, y);
        switch (op) {
          case ops::Binary::Add: da[size_t(ia)] += g; db[size_t(ib)] += g; break;
          case ops::Binary::Sub: da[size_t(ia)] += g; db[size_t(ib)] -= g; break;
          case ops::Binary::Mul: da[size_t(ia)] += g * y; db[size_t(ib)] += g * x; break;
          case ops::Binary::Div: da[size_t(ia)] += g / y; db[size_t(ib)] -= g * x / (y * y); break;
        }
      }
      Tensor Y = ops::binary(op, A, B);
      IE_EXPECT(Y.dtype() == dt && Y.shape() == out, nm + ": output is " + Y.desc());
      IE_EXPECT_REL(iet::rel_error(download(Y), ref), tol(dt), nm + " forward");
      ops::BinaryGrads g = ops::binary_backward(op, A, B, DY);
      IE_EXPECT(g.da.shape() == as && g.db.shape() == bs && g.da.dtype() == dt && g.db.dtype() == dt,
                nm + ": gradient shapes " + g.da.desc() + ", " + g.db.desc());
      IE_EXPECT_REL(iet::rel_error(download(g.da), da), tol(dt), nm + " backward da");
      IE_EXPECT_REL(iet::rel_error(download(g.db), db), tol(dt), nm + " backward db");
    }
  }
}

}  // namespace

IE_TEST(cuda_elem, binary_same_shape) {
  if (!iet::cuda_device_or_skip()) return;
  check_binary({2, 3, 4, 5}, {2, 3, 4, 5}, 30000);
  check_binary({1}, {1}, 30010);
  check_binary({40001}, {40001}, 30020);
}

IE_TEST(cuda_elem, binary_vector_operands) {
  if (!iet::cuda_device_or_skip()) return;
  check_binary({2, 3, 4, 5}, {1, 3, 1, 1}, 30100);  // per-channel b
  check_binary({3, 1, 1}, {2, 3, 4, 5}, 30110);     // per-channel a (lower rank)
  check_binary({7, 130}, {130}, 30120);             // trailing vector
  check_binary({33, 130}, {}, 30130);               // scalar b (rank 0)
  check_binary({}, {7, 33}, 30140);                 // scalar a
  check_binary({3, 37, 1001}, {1, 37, 1}, 30150);   // larger, odd sizes
}

IE_TEST(cuda_elem, binary_general_broadcast) {
  if (!iet::cuda_device_or_skip()) return;
  check_binary({2, 3, 4, 5}, {2, 1, 4, 1}, 30200);
  check_binary({1, 1, 9}, {5, 7, 1}, 30210);  // both broadcast
  check_binary({5, 7, 1}, {1, 1, 9}, 30215);
  check_binary({2, 1, 3, 1, 2, 1, 3, 2}, {1, 4, 1, 2, 1, 3, 1, 2}, 30220);  // 8 dims
  check_binary({1001, 67}, {1001, 1}, 30230);
  check_binary({0, 3}, {3}, 30240);  // empty output
}

IE_TEST(cuda_elem, binary_argument_errors) {
  if (!iet::cuda_device_or_skip()) return;
  Tensor a = upload(iet::randn(6, 1), {2, 3}), b = upload(iet::randn(12, 2), {4, 3});
  IE_EXPECT(iet::throws_with([&] { ops::binary(ops::Binary::Add, a, b); },
                             "add: shapes [2, 3] and [4, 3] cannot be broadcast together"),
            "broadcast error on cuda");
  Tensor h = upload(iet::randn(6, 3), {2, 3}, DType::F16);
  IE_EXPECT(iet::throws_with([&] { ops::binary(ops::Binary::Mul, a, h); }, "mul: b is float16 but the other inputs are float32"),
            "mixed dtypes rejected");
  Tensor c = ops::randn({2, 3}, 1, 0, 0, 1, DType::F32, ie::Device{});
  IE_EXPECT(iet::throws_with([&] { ops::binary(ops::Binary::Sub, a, c); }, "sub: b is on cpu but the other inputs are on cuda:0"),
            "mixed devices rejected");
}

IE_TEST(cuda_elem, affine) {
  if (!iet::cuda_device_or_skip()) return;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(33), int64_t(130), int64_t(100003)}) {
    std::vector<float> x0 = iet::randn(size_t(n), 30300 + uint64_t(n));
    for (DType dt : kFloatTypes) {
      std::vector<float> x = rounded(x0, dt);
      std::vector<double> ref(x.size());
      for (size_t i = 0; i < x.size(); ++i) ref[i] = -1.75 * double(x[i]) + 0.3;
      Tensor y = ops::affine(upload(x, {n}, dt), -1.75, 0.3);
      IE_EXPECT(y.dtype() == dt, "affine keeps the dtype");
      IE_EXPECT_REL(iet::rel_error(download(y), ref), tol(dt), "affine n=" + std::to_string(n) + " " + dname(dt));
    }
  }
}

namespace {

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> axes;
  bool keepdim, mean;
};

// reduce and reduce_backward against float64 for every float dtype.
void check_reduce(const ReduceCase& c, uint64_t seed) {
  const int nd = int(c.shape.size());
  std::vector<uint8_t> red(size_t(nd), c.axes.empty() ? 1 : 0);
  for (int64_t a : c.axes) red[size_t(a < 0 ? a + nd : a)] = 1;
  Shape kept = c.shape, out;
  int64_t count = 1;
  for (int d = 0; d < nd; ++d) {
    if (red[size_t(d)]) {
      kept[size_t(d)] = 1;
      count *= c.shape[size_t(d)];
      if (c.keepdim) out.push_back(1);
    } else {
      out.push_back(c.shape[size_t(d)]);
    }
  }
  const double scale = c.mean ? 1.0 / double(count) : 1.0;
  const Shape kst = iet::ref::broadcast_strides(kept, c.shape);
  const int64_t n = numel(c.shape), nk = numel(kept);
  std::vector<float> x0 = iet::randn(size_t(n), seed), dy0 = iet::randn(size_t(nk), seed + 1);
  for (float& v : x0) v += 0.5f;  // a nonzero mean: the sums do not cancel to nothing
  std::string nm = std::string(c.mean ? "mean" : "sum") + " " + ie::shape_str(c.shape) + " axes";
  for (int64_t a : c.axes) nm += " " + std::to_string(a);
  if (c.keepdim) nm += " keepdim";
  for (DType dt : kFloatTypes) {
    std::vector<float> x = rounded(x0, dt), dy = rounded(dy0, dt);
    std::vector<double> ref(static_cast<size_t>(nk), 0.0), dref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ref[size_t(offset_of(i, c.shape, kst))] += x[size_t(i)];
    for (double& v : ref) v *= scale;
    for (int64_t i = 0; i < n; ++i) dref[size_t(i)] = scale * dy[size_t(offset_of(i, c.shape, kst))];
    Tensor y = ops::reduce(upload(x, c.shape, dt), c.axes, c.keepdim, c.mean);
    IE_EXPECT(y.shape() == out && y.dtype() == dt, nm + " " + dname(dt) + ": output is " + y.desc());
    IE_EXPECT_REL(iet::rel_error(download(y), ref), tol(dt), nm + " " + dname(dt) + " forward");
    Tensor dx = ops::reduce_backward(upload(dy, out, dt), c.shape, c.axes, c.keepdim, c.mean);
    IE_EXPECT(dx.shape() == c.shape && dx.dtype() == dt, nm + " " + dname(dt) + ": dx is " + dx.desc());
    IE_EXPECT_REL(iet::rel_error(download(dx), dref), tol(dt), nm + " " + dname(dt) + " backward");
  }
}

}  // namespace

IE_TEST(cuda_elem, reduce_innermost_reduced) {
  if (!iet::cuda_device_or_skip()) return;
  check_reduce({{2, 3, 4, 5}, {2, 3}, false, false}, 30400);  // warp per output
  check_reduce({{6, 1500}, {1}, true, true}, 30410);          // block per output (> 1024 terms)
  check_reduce({{2, 3, 4, 5}, {0, 2, 3}, false, false}, 30420);  // per channel
  check_reduce({{7, 33, 130}, {0, 2}, false, true}, 30430);
  check_reduce({{3, 1, 5, 7}, {}, false, false}, 30440);  // all
  check_reduce({{1}, {}, true, false}, 30450);            // one element
  check_reduce({{33, 4097}, {-1}, false, false}, 30460);
}

IE_TEST(cuda_elem, reduce_innermost_kept) {
  if (!iet::cuda_device_or_skip()) return;
  check_reduce({{2, 3, 4, 5}, {1, 2}, false, false}, 30500);
  check_reduce({{301, 517}, {0}, false, true}, 30510);  // column sums, several column tiles
  check_reduce({{5000, 3}, {0}, true, false}, 30520);   // long columns
  check_reduce({{2, 65, 3, 129}, {0, 2}, false, true}, 30530);  // alternating kept / reduced
  check_reduce({{4, 1, 1}, {1, 2}, false, false}, 30540);       // only size-1 dims reduced: a copy
  check_reduce({{2, 65, 3, 129}, {1, 3}, true, false}, 30550);
}

IE_TEST(cuda_elem, reduce_empty_and_errors) {
  if (!iet::cuda_device_or_skip()) return;
  Tensor x = ops::zeros({0, 4}, DType::F32, kGpu);
  std::vector<float> y = download(ops::reduce(x, {0}, false, false));
  IE_EXPECT(y == std::vector<float>(4, 0.f), "a sum over an empty axis is 0");
  IE_EXPECT(iet::throws_with([&] { ops::reduce(x, {0}, false, true); }, "mean: cannot average over an empty dimension"),
            "mean over an empty axis rejected");
  IE_EXPECT(iet::throws_with([&] { ops::reduce(upload(iet::randn(6, 1), {2, 3}), {2}, false, false); },
                             "sum: axis 2 is out of range for a 2-D tensor"),
            "axis error on cuda");
}

IE_TEST(cuda_elem, sum_to_shape) {
  if (!iet::cuda_device_or_skip()) return;
  struct C {
    Shape from, to;
  };
  const C cases[] = {{{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {1, 5}}, {{2, 3, 4, 5}, {2, 3, 4, 5}},
                     {{7, 130}, {}},           {{33, 7, 130}, {7, 1}}, {{2, 1, 5}, {1, 5}}};
  uint64_t seed = 30600;
  for (const C& c : cases) {
    std::vector<float> d0 = iet::randn(size_t(numel(c.from)), ++seed);
    const Shape st = iet::ref::broadcast_strides(c.to, c.from);
    for (DType dt : kFloatTypes) {
      std::vector<float> d = rounded(d0, dt);
      std::vector<double> ref(size_t(numel(c.to)), 0.0);
      for (int64_t i = 0; i < numel(c.from); ++i) ref[size_t(offset_of(i, c.from, st))] += d[size_t(i)];
      Tensor y = ops::sum_to_shape(upload(d, c.from, dt), c.to);
      const std::string nm = "sumToShape " + ie::shape_str(c.from) + " -> " + ie::shape_str(c.to) + " " + dname(dt);
      IE_EXPECT(y.shape() == c.to && y.dtype() == dt, nm + ": got " + y.desc());
      IE_EXPECT_REL(iet::rel_error(download(y), ref), tol(dt), nm);
    }
  }
}

IE_TEST(cuda_elem, assign_into_views) {
  if (!iet::cuda_device_or_skip()) return;
  const std::vector<float> buf0 = iet::randn(200, 30700), src0 = iet::randn(21, 30701);
  for (DType dt : {DType::F32, DType::F16}) {
    std::vector<float> b = rounded(buf0, dt), s = rounded(src0, dt);
    for (bool acc : {false, true}) {
      Tensor buf = upload(b, {200}, dt);
      Tensor dst = buf.view(13, {7, 3});
      ops::assign(dst, upload(s, {21}, dt), acc);
      std::vector<double> ref(b.begin(), b.end());
      for (size_t i = 0; i < 21; ++i) ref[13 + i] = acc ? double(b[13 + i]) + double(s[i]) : double(s[i]);
      IE_EXPECT_REL(iet::rel_error(download(buf), ref), tol(dt) * 0.1,
                    std::string("assign ") + (acc ? "accumulate " : "copy ") + dname(dt));
      std::vector<float> got = download(buf);
      bool untouched = true;
      for (size_t i = 0; i < 200; ++i)
        if (i < 13 || i >= 34) untouched = untouched && got[i] == b[i];
      IE_EXPECT(untouched, "assign wrote outside its view");
    }
  }
  IE_EXPECT(iet::throws_with([&] { ops::assign(upload(buf0, {200}), upload(src0, {21}), false); }, "different element counts"),
            "assign count mismatch");
}

namespace {

// Random bytes for any dtype: the copies must move bits exactly.
Tensor random_tensor_bytes(const Shape& s, DType dt, uint64_t seed, std::vector<uint8_t>* bytes) {
  const size_t nb = size_t(numel(s)) * ie::dtype_size(dt);
  bytes->resize(nb);
  for (size_t i = 0; i < nb; ++i) bytes->at(i) = uint8_t(ie::philox_uniform(seed, i) * 256.0f);
  return ops::from_host(bytes->data(), nb, s, dt, kGpu);
}

void check_concat(const std::vector<Shape>& shapes, int64_t axis, DType dt, uint64_t seed) {
  std::vector<Tensor> xs;
  std::vector<std::vector<uint8_t>> data(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(random_tensor_bytes(shapes[i], dt, seed + i, &data[i]));
  const int nd = int(shapes[0].size());
  const int64_t ax = axis < 0 ? axis + nd : axis;
  int64_t outer = 1, inner = int64_t(ie::dtype_size(dt));
  for (int d = 0; d < ax; ++d) outer *= shapes[0][size_t(d)];
  for (int d = int(ax) + 1; d < nd; ++d) inner *= shapes[0][size_t(d)];
  std::vector<uint8_t> want;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < shapes.size(); ++i) {
      const int64_t row = shapes[i][size_t(ax)] * inner;
      want.insert(want.end(), data[i].begin() + o * row, data[i].begin() + (o + 1) * row);
    }
  std::string nm = "concat " + dname(dt) + " axis " + std::to_string(axis) + ":";
  for (const Shape& s : shapes) nm += " " + ie::shape_str(s);
  Tensor y = ops::concat(xs, axis);
  IE_EXPECT(bytes_of(y) == want, nm + ": bytes differ");
  std::vector<int64_t> sizes;
  for (const Shape& s : shapes) sizes.push_back(s[size_t(ax)]);
  std::vector<Tensor> parts = ops::split(y, sizes, axis);
  IE_EXPECT(parts.size() == shapes.size(), nm + ": split returned the wrong count");
  for (size_t i = 0; i < parts.size() && i < shapes.size(); ++i) {
    IE_EXPECT(parts[i].shape() == shapes[i] && parts[i].dtype() == dt, nm + ": split part " + parts[i].desc());
    IE_EXPECT(bytes_of(parts[i]) == data[i], nm + ": split part " + std::to_string(i) + " bytes differ");
  }
}

}  // namespace

IE_TEST(cuda_elem, concat_split) {
  if (!iet::cuda_device_or_skip()) return;
  check_concat({{4, 2, 7}, {4, 5, 7}, {4, 0, 7}, {4, 3, 7}}, 1, DType::F32, 30800);  // with an empty piece
  check_concat({{3, 5, 1}, {3, 5, 2}, {3, 5, 3}}, 2, DType::F16, 30810);             // 2-byte rows
  check_concat({{2, 3}, {5, 3}}, 0, DType::I32, 30820);                              // outer = 1
  check_concat({{1000, 13}, {1000, 1}, {1000, 5}}, -1, DType::BF16, 30830);
  check_concat({{2, 4, 16, 16}, {2, 4, 16, 16}}, 1, DType::F32, 30840);  // 16-byte units
  check_concat({{7}}, 0, DType::F32, 30850);                             // one input
  check_concat({{1, 3, 1}, {1, 130, 1}}, 1, DType::F16, 30860);
}

IE_TEST(cuda_elem, cast_matches_cpu_bits) {
  if (!iet::cuda_device_or_skip()) return;
  std::vector<float> f = {0.f, -0.f, 1.5f, -2.5f, 2.5f, 0.49999997f, NAN, -NAN, INFINITY, -INFINITY, 3e9f, -3e9f,
                          2147483520.f, 2147483648.f, -2147483648.f, -2147483904.f, 65504.f, 65519.f, 65520.f, 1e-8f,
                          6e-8f, -3e-5f, 1e38f, FLT_MIN / 2, 1.00390625f, 1.005859375f, -7.f};
  std::vector<float> r = iet::randn(130, 30900, 1000.f);
  f.insert(f.end(), r.begin(), r.end());
  std::vector<int32_t> ints = {0, 1, -1, 16777217, -16777217, INT32_MAX, INT32_MIN, 65504, 65520, 123456789, -7};
  for (float v : iet::randn(40, 30901, 1e6f)) ints.push_back(int32_t(v));
  for (DType from : {DType::F32, DType::F16, DType::BF16, DType::I32}) {
    Tensor src = from == DType::I32
                     ? ops::from_host(ints.data(), ints.size() * 4, {int64_t(ints.size())}, DType::I32, ie::Device{})
                     : ops::cast(ops::from_host(f.data(), f.size() * 4, {int64_t(f.size())}, DType::F32, ie::Device{}), from);
    Tensor src_gpu = ops::to_device(src, kGpu);
    for (DType to : {DType::F32, DType::F16, DType::BF16, DType::I32}) {
      if (to == from) continue;
      std::vector<uint8_t> want(size_t(src.numel()) * ie::dtype_size(to));
      ops::copy_to_host(ops::cast(src, to), want.data());
      Tensor y = ops::cast(src_gpu, to);
      IE_EXPECT(y.dtype() == to && y.device() == kGpu, "cast output " + y.desc());
      IE_EXPECT(bytes_of(y) == want, "cast " + dname(from) + " -> " + dname(to) + ": bits differ from the CPU's");
    }
  }
  // odd lengths through the grid-stride loop
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(33), int64_t(100003)}) {
    std::vector<float> x = iet::randn(size_t(n), 30910 + uint64_t(n));
    Tensor back = ops::cast(ops::cast(upload(x, {n}), DType::BF16), DType::F32);
    IE_EXPECT(download(back) == rounded(x, DType::BF16), "float32 -> bfloat16 -> float32, n=" + std::to_string(n));
  }
}

IE_TEST(cuda_elem, randn_rand_counter_layout) {
  if (!iet::cuda_device_or_skip()) return;
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1001)}) {
    for (uint64_t offset : {uint64_t(0), uint64_t(3), uint64_t(1) << 33}) {
      const std::string nm = "n=" + std::to_string(n) + " offset=" + std::to_string(offset);
      // normals: the CPU's values up to the device's logf/sinf/cosf (a few ulp)
      std::vector<float> c = download(ops::randn({n}, 77, offset, 0.5f, 2.f, DType::F32, ie::Device{}));
      std::vector<float> g = download(ops::randn({n}, 77, offset, 0.5f, 2.f, DType::F32, kGpu));
      IE_EXPECT_REL(iet::rel_error(g, iet::to_double(c)), 1e-6, "randn vs cpu " + nm);
      // element i of (offset) is element i + 1 of (offset − 1): the same counter, bit for bit
      if (offset > 0) {
        std::vector<float> g1 = download(ops::randn({n + 1}, 77, offset - 1, 0.5f, 2.f, DType::F32, kGpu));
        IE_EXPECT(std::memcmp(g1.data() + 1, g.data(), size_t(n) * 4) == 0, "randn counter shift " + nm);
      }
      // uniforms: integer Philox, exact scaling
      std::vector<float> cu = download(ops::rand({n}, 78, offset, -1.f, 3.f, DType::F32, ie::Device{}));
      std::vector<float> gu = download(ops::rand({n}, 78, offset, -1.f, 3.f, DType::F32, kGpu));
      IE_EXPECT_REL(iet::rel_error(gu, iet::to_double(cu)), 1e-6, "rand vs cpu " + nm);
      bool in_range = true;
      for (float v : gu) in_range = in_range && v >= -1.f && v < 3.f;
      IE_EXPECT(in_range, "rand in [low, high) " + nm);
      for (DType dt : {DType::F16, DType::BF16}) {
        Tensor h = ops::randn({n}, 77, offset, 0.5f, 2.f, dt, kGpu);
        IE_EXPECT(h.dtype() == dt && h.device() == kGpu, "randn " + dname(dt) + " is " + h.desc());
        // the float32 normals rounded to dt (a value on a rounding boundary may go either way)
        IE_EXPECT_REL(iet::rel_error(download(h), iet::to_double(rounded(c, dt))), tol(dt) * 0.1, "randn " + dname(dt) + " " + nm);
        IE_EXPECT_REL(iet::rel_error(download(ops::rand({n}, 78, offset, -1.f, 3.f, dt, kGpu)), iet::to_double(rounded(cu, dt))),
                      tol(dt) * 0.1, "rand " + dname(dt) + " " + nm);
      }
    }
  }
  IE_EXPECT(iet::throws_with([] { ops::randn({2}, 1, 0, 0, 1, DType::I32, kGpu); }, "randn: dtype must be a float type"),
            "int32 randn rejected on cuda");
}
