// concat and split along an axis.
#include "cpu/concat.h"
#include "cuda/concat.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {
int64_t norm_axis(int64_t axis, int ndim, const char* op) {
  int64_t a = axis < 0 ? axis + ndim : axis;
  IE_CHECK(a >= 0 && a < ndim, op, ": axis ", axis, " is out of range for a ", ndim, "-D tensor");
  return a;
}
int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t n = 1;
  for (size_t i = b; i < e; ++i) n *= s[i];
  return n;
}
}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  IE_CHECK(!xs.empty(), "concat: needs at least one tensor");
  for (size_t i = 0; i < xs.size(); ++i) {
    IE_CHECK(xs[i].defined(), "concat: tensor ", i, " is not a tensor (undefined or disposed)");
  }
  const Tensor& x0 = xs[0];
  int64_t ax = norm_axis(axis, x0.ndim(), "concat");
  Shape out = x0.shape();
  out[size_t(ax)] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    IE_CHECK(t.dtype() == x0.dtype() && t.device() == x0.device(), "concat: tensor ", i, " is ", t.desc(),
             " but tensor 0 is ", x0.desc());
    IE_CHECK(t.ndim() == x0.ndim(), "concat: tensor ", i, " has shape ", shape_str(t.shape()), ", tensor 0 has ",
             shape_str(x0.shape()), " (ranks differ)");
    for (int d = 0; d < t.ndim(); ++d)
      IE_CHECK(d == ax || t.size(d) == x0.size(d), "concat: tensor ", i, " has shape ", shape_str(t.shape()),
               " but tensor 0 has ", shape_str(x0.shape()), "; they may differ only along axis ", ax);
    sizes.push_back(t.size(int(ax)));
    out[size_t(ax)] += t.size(int(ax));
  }
  Tensor y = Tensor::empty(out, x0.dtype(), x0.device());
  int64_t outer = prod(out, 0, size_t(ax)), inner = prod(out, size_t(ax) + 1, out.size()) * int64_t(dtype_size(x0.dtype()));
  if (is_cuda(x0)) {
    IE_IF_CUDA(launch(x0.device(), [=] {
      std::vector<const void*> ptrs;
      for (const Tensor& t : xs) ptrs.push_back(t.raw());
      cuda::concat(ptrs.data(), sizes.data(), int(xs.size()), outer, inner, y.raw(), x0.device().index);
    }));
    return y;
  }
  launch(x0.device(), [=] {
    std::vector<const void*> ptrs;
    for (const Tensor& t : xs) ptrs.push_back(t.raw());
    cpu::concat(ptrs.data(), sizes.data(), int(xs.size()), outer, inner, y.raw());
  });
  return y;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  require_defined(x, "split", "x");
  int64_t ax = norm_axis(axis, x.ndim(), "split");
  IE_CHECK(!sizes.empty(), "split: sizes must not be empty");
  int64_t total = 0;
  for (int64_t s : sizes) {
    IE_CHECK(s >= 0, "split: sizes must be >= 0, got ", s);
    total += s;
  }
  IE_CHECK(total == x.size(int(ax)), "split: sizes add up to ", total, " but axis ", ax, " of ", x.desc(), " has ",
           x.size(int(ax)));
  std::vector<Tensor> outs;
  for (int64_t s : sizes) {
    Shape sh = x.shape();
    sh[size_t(ax)] = s;
    outs.push_back(Tensor::empty(sh, x.dtype(), x.device()));
  }
  const Shape& xs = x.shape();
  int64_t outer = prod(xs, 0, size_t(ax)), inner = prod(xs, size_t(ax) + 1, xs.size()) * int64_t(dtype_size(x.dtype()));
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] {
      std::vector<void*> ptrs;
      for (const Tensor& t : outs) ptrs.push_back(t.raw());
      cuda::split(x.raw(), ptrs.data(), sizes.data(), int(sizes.size()), outer, inner, x.device().index);
    }));
    return outs;
  }
  launch(x.device(), [=] {
    std::vector<void*> ptrs;
    for (const Tensor& t : outs) ptrs.push_back(t.raw());
    cpu::split(x.raw(), ptrs.data(), sizes.data(), int(sizes.size()), outer, inner);
  });
  return outs;
}

}  // namespace ie::ops
