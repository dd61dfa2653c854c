// Broadcasting binary ops, affine, reductions.
#include <algorithm>

#include "cpu/elementwise.h"
#include "cuda/elementwise.h"
#include "cuda/reduce.h"
#include "ie/cuda.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {
const char* binary_name(Binary op) {
  switch (op) {
    case Binary::Add: return "add";
    case Binary::Sub: return "sub";
    case Binary::Mul: return "mul";
    case Binary::Div: return "div";
  }
  return "binary";
}

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  IE_CHECK(n <= size_t(cpu::kMaxDims), op, ": at most ", cpu::kMaxDims, " dimensions are supported");
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    IE_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Element strides of `s` read as broadcast to `out` (0 on broadcast dims).
Shape broadcast_strides(const Shape& s, const Shape& out) {
  Shape st(out.size(), 0), cs = contiguous_strides(s);
  size_t off = out.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) st[off + i] = s[i] == 1 ? 0 : cs[i];
  return st;
}

// float32 on the CPU; float32/float16/bfloat16 (the same for both) on CUDA.
void check_pair(const Tensor& a, const Tensor& b, const char* op) {
  require_float(a, op, "a");
  require_float(b, op, "b");
  require_same_device(a, b, op, "b");
  require_same_dtype(a, b, op, "b");
}
}  // namespace

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  IE_CHECK(int(op) >= 0 && int(op) <= 3, "binary: unknown op ", int(op));
  const char* name = binary_name(op);
  check_pair(a, b, name);
  Shape out = broadcast_shape(a.shape(), b.shape(), name);
  Tensor y = Tensor::empty(out, a.dtype(), a.device());
  Shape sa = broadcast_strides(a.shape(), out), sb = broadcast_strides(b.shape(), out);
  if (is_cuda(a)) {
    IE_IF_CUDA(launch(a.device(), [=] {
      cuda::binary(int(op), a.dtype(), a.raw(), sa.data(), b.raw(), sb.data(), y.raw(), out.data(), int(out.size()),
                   a.device().index);
    }));
    return y;
  }
  launch(a.device(), [=] {
    cpu::binary_forward(cpu::BinaryOp(int(op)), a.data<float>(), sa.data(), b.data<float>(), sb.data(),
                        y.data<float>(), out.data(), int(out.size()));
  });
  return y;
}

Tensor sum_to_shape(const Tensor& dy, const Shape& shape) {
  require_float(dy, "sumToShape", "dy");
  const Shape& s = dy.shape();
  IE_CHECK(shape.size() <= s.size(), "sumToShape: cannot reduce ", shape_str(s), " to ", shape_str(shape));
  size_t off = s.size() - shape.size();
  uint8_t flags[cpu::kMaxDims] = {0};
  IE_CHECK(s.size() <= size_t(cpu::kMaxDims), "sumToShape: at most ", cpu::kMaxDims, " dimensions are supported");
  bool any = false;
  for (size_t i = 0; i < s.size(); ++i) {
    int64_t want = i < off ? 1 : shape[i - off];
    IE_CHECK(want == s[i] || want == 1, "sumToShape: cannot reduce ", shape_str(s), " to ", shape_str(shape));
    flags[i] = (i < off || (want == 1 && s[i] != 1)) ? 1 : 0;
    any = any || flags[i];
  }
  if (!any) return dy.reshape(shape);
  Tensor y = Tensor::empty(shape, dy.dtype(), dy.device());
  std::vector<uint8_t> f(flags, flags + s.size());
  if (is_cuda(dy)) {
    IE_IF_CUDA(launch(dy.device(), [=] {
      cuda::reduce_sum(dy.dtype(), dy.raw(), s.data(), int(s.size()), f.data(), y.raw(), 1.f, dy.device().index);
    }));
    return y;
  }
  launch(dy.device(), [=] { cpu::reduce_sum(dy.data<float>(), s.data(), int(s.size()), f.data(), y.data<float>(), 1.f); });
  return y;
}

BinaryGrads binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy) {
  IE_CHECK(int(op) >= 0 && int(op) <= 3, "binaryBackward: unknown op ", int(op));
  check_pair(a, b, "binaryBackward");
  Shape out = broadcast_shape(a.shape(), b.shape(), "binaryBackward");
  require_float(dy, "binaryBackward", "dy");
  require_same_dtype(a, dy, "binaryBackward", "dy");
  require_shape(dy, out, "binaryBackward", "dy");
  switch (op) {
    case Binary::Add: return {sum_to_shape(dy, a.shape()), sum_to_shape(dy, b.shape())};
    case Binary::Sub: return {sum_to_shape(dy, a.shape()), sum_to_shape(affine(dy, -1.0, 0.0), b.shape())};
    case Binary::Mul:
      return {sum_to_shape(binary(Binary::Mul, dy, b), a.shape()), sum_to_shape(binary(Binary::Mul, dy, a), b.shape())};
    case Binary::Div: {
      // d(a/b)/da = 1/b; d(a/b)/db = -a/b² = -(a/b)/b
      Tensor ga = binary(Binary::Div, dy, b);
      Tensor q = binary(Binary::Div, binary(Binary::Mul, ga, a), b);
      return {sum_to_shape(ga, a.shape()), sum_to_shape(affine(q, -1.0, 0.0), b.shape())};
    }
  }
  fail("binaryBackward: unknown op");
}

Tensor affine(const Tensor& x, double alpha, double beta) {
  require_float(x, "scale", "x");
  require_finite(alpha, "scale", "alpha");
  require_finite(beta, "scale", "beta");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::affine(x.dtype(), x.raw(), float(alpha), float(beta), y.raw(), x.numel(), x.device().index);
    }));
    return y;
  }
  launch(x.device(), [=] { cpu::affine(x.data<float>(), float(alpha), float(beta), y.data<float>(), x.numel()); });
  return y;
}

namespace {
// Normalised, sorted, unique axes; empty means all.
std::vector<int64_t> norm_axes(const std::vector<int64_t>& axes, int ndim, const char* op) {
  std::vector<int64_t> r;
  if (axes.empty()) {
    for (int i = 0; i < ndim; ++i) r.push_back(i);
    return r;
  }
  for (int64_t a : axes) {
    int64_t d = a < 0 ? a + ndim : a;
    IE_CHECK(d >= 0 && d < ndim, op, ": axis ", a, " is out of range for a ", ndim, "-D tensor");
    IE_CHECK(std::find(r.begin(), r.end(), d) == r.end(), op, ": axis ", a, " is repeated");
    r.push_back(d);
  }
  std::sort(r.begin(), r.end());
  return r;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& ax, bool keepdim) {
  Shape out;
  for (size_t i = 0; i < s.size(); ++i) {
    bool red = std::find(ax.begin(), ax.end(), int64_t(i)) != ax.end();
    if (!red) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

int64_t reduced_count(const Shape& s, const std::vector<int64_t>& ax) {
  int64_t n = 1;
  for (int64_t a : ax) n *= s[size_t(a)];
  return n;
}
}  // namespace

Tensor reduce(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, bool mean) {
  const char* op = mean ? "mean" : "sum";
  require_float(x, op, "x");
  IE_CHECK(x.ndim() <= cpu::kMaxDims, op, ": at most ", cpu::kMaxDims, " dimensions are supported");
  std::vector<int64_t> ax = norm_axes(axes, x.ndim(), op);
  Shape out = reduced_shape(x.shape(), ax, keepdim);
  int64_t count = reduced_count(x.shape(), ax);
  IE_CHECK(!mean || count > 0, "mean: cannot average over an empty dimension of ", x.desc());
  std::vector<uint8_t> f(size_t(x.ndim()), 0);
  for (int64_t a : ax) f[size_t(a)] = 1;
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  Shape s = x.shape();
  float scale = mean ? float(1.0 / double(count)) : 1.f;
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      cuda::reduce_sum(x.dtype(), x.raw(), s.data(), int(s.size()), f.data(), y.raw(), scale, x.device().index);
    }));
    return y;
  }
  launch(x.device(), [=] { cpu::reduce_sum(x.data<float>(), s.data(), int(s.size()), f.data(), y.data<float>(), scale); });
  return y;
}

Tensor reduce_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& axes, bool keepdim,
                       bool mean) {
  const char* op = mean ? "meanBackward" : "sumBackward";
  require_float(dy, op, "dy");
  IE_CHECK(x_shape.size() <= size_t(cpu::kMaxDims), op, ": at most ", cpu::kMaxDims, " dimensions are supported");
  for (int64_t d : x_shape) IE_CHECK(d >= 0, op, ": shape ", shape_str(x_shape), " has a negative dimension");
  std::vector<int64_t> ax = norm_axes(axes, int(x_shape.size()), op);
  require_shape(dy, reduced_shape(x_shape, ax, keepdim), op, "dy");
  int64_t count = reduced_count(x_shape, ax);
  // dy read as broadcast over the reduced axes.
  Shape kept = reduced_shape(x_shape, ax, true);
  Shape st = broadcast_strides(kept, x_shape);
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  float scale = mean ? float(1.0 / double(count > 0 ? count : 1)) : 1.f;
  if (is_cuda(dy)) {
    IE_IF_CUDA(launch(dy.device(), [=] {
      cuda::broadcast_copy(dy.dtype(), dy.raw(), st.data(), dx.raw(), x_shape.data(), int(x_shape.size()), scale,
                           dy.device().index);
    }));
    return dx;
  }
  launch(dy.device(), [=] {
    cpu::broadcast_copy(dy.data<float>(), st.data(), dx.data<float>(), x_shape.data(), int(x_shape.size()), scale);
  });
  return dx;
}

}  // namespace ie::ops

namespace ie::ops {
using namespace detail;

void assign(const Tensor& dst, const Tensor& src, bool accumulate) {
  const char* op = "assign";
  require_float(dst, op, "dst");
  require_float(src, op, "src");
  require_same_device(dst, src, op, "src");
  require_same_dtype(dst, src, op, "src");
  IE_CHECK(dst.numel() == src.numel(), op, ": dst ", dst.desc(), " and src ", src.desc(),
           " have different element counts");
  IE_CHECK(dst.is_contiguous() && src.is_contiguous(), op, ": dst and src must be contiguous");
  if (is_cuda(dst)) {
    IE_IF_CUDA(launch(dst.device(), [=] {
      if (accumulate) cuda::add_inplace(dst.dtype(), dst.raw(), src.raw(), dst.numel(), dst.device().index);
      else cuda::copy_d2d(dst.raw(), src.raw(), dst.nbytes(), dst.device().index);
    }));
    return;
  }
  launch(dst.device(), [=] {
    float* d = dst.data<float>();
    const float* s = src.data<float>();
    int64_t n = dst.numel();
    // Small tensors (a layer's weight gradient): a plain loop is enough.
    if (accumulate)
      for (int64_t i = 0; i < n; ++i) d[i] += s[i];
    else
      std::copy(s, s + n, d);
  });
}

}  // namespace ie::ops
