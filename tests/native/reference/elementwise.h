// float64 reference helpers of the broadcasting elementwise ops (used by test_elementwise.cc and
// test_cuda_elem.cc).
#pragma once
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace iet::ref {

using Dims = std::vector<int64_t>;

inline int64_t numel(const Dims& s) { return std::accumulate(s.begin(), s.end(), int64_t(1), std::multiplies<int64_t>()); }

// Element strides of a contiguous input of shape `in` (right-aligned against `out`) read over
// `out`: 0 on broadcast dims (in[d] == 1; where out[d] is 1 too the stride is never used).
inline Dims broadcast_strides(const Dims& in, const Dims& out) {
  Dims st(out.size(), 0);
  int64_t s = 1;
  const size_t off = out.size() - in.size();
  for (size_t d = in.size(); d-- > 0;) {
    st[off + d] = in[d] == 1 ? 0 : s;
    s *= in[d];
  }
  return st;
}

// Offset of flat index i of `shape` through strides st.
inline int64_t offset_of(int64_t i, const Dims& shape, const Dims& st) {
  int64_t off = 0;
  for (size_t d = shape.size(); d-- > 0;) {
    off += (i % shape[d]) * st[d];
    i /= shape[d];
  }
  return off;
}

// a op b; Op is ie::cpu::BinaryOp or ie::ops::Binary (the same enumerator names).
template <typename Op>
double binary(Op op, double a, double b) {
  if (op == Op::Add) return a + b;
  if (op == Op::Sub) return a - b;
  if (op == Op::Mul) return a * b;
  if (op == Op::Div) return a / b;
  return 0;
}

}  // namespace iet::ref
