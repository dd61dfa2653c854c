// Elementwise ops with NumPy broadcasting, and the reductions their backward needs.
//
// Broadcast calls describe the contiguous output by shape[ndim] (ndim <= 8) and each input by
// element strides over that shape (0 on a broadcast dimension). Reductions sum a contiguous
// x[shape] over the dims flagged in reduce_dims into y (contiguous, the kept dims in order),
// accumulating in double, then multiply by scale (1/count gives a mean).
#pragma once
#include <cstdint>

#include "cpu/dispatch.h"

namespace ie::cpu {
enum class BinaryOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };
constexpr int kMaxDims = 8;
}

IE_CPU_DECLARE(void, binary_forward,
               (ie::cpu::BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                const int64_t* b_strides, float* y, const int64_t* shape, int ndim))
// y = alpha·x + beta
IE_CPU_DECLARE(void, affine, (const float* x, float alpha, float beta, float* y, int64_t n))
IE_CPU_DECLARE(void, reduce_sum,
               (const float* x, const int64_t* shape, int ndim, const uint8_t* reduce_dims, float* y, float scale))
// y[shape] = scale · x read through x_strides (0 = broadcast): the backward of reduce_sum.
IE_CPU_DECLARE(void, broadcast_copy,
               (const float* x, const int64_t* x_strides, float* y, const int64_t* shape, int ndim, float scale))

#ifndef IE_ISA
namespace ie::cpu {
inline void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b,
                           const int64_t* b_strides, float* y, const int64_t* shape, int ndim) {
  IE_CPU_DISPATCH(binary_forward, op, a, a_strides, b, b_strides, y, shape, ndim)
}
inline void affine(const float* x, float alpha, float beta, float* y, int64_t n) {
  IE_CPU_DISPATCH(affine, x, alpha, beta, y, n)
}
inline void reduce_sum(const float* x, const int64_t* shape, int ndim, const uint8_t* reduce_dims, float* y,
                       float scale) {
  IE_CPU_DISPATCH(reduce_sum, x, shape, ndim, reduce_dims, y, scale)
}
inline void broadcast_copy(const float* x, const int64_t* x_strides, float* y, const int64_t* shape, int ndim,
                           float scale) {
  IE_CPU_DISPATCH(broadcast_copy, x, x_strides, y, shape, ndim, scale)
}
}  // namespace ie::cpu
#endif
