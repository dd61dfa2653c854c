// Elementwise CUDA kernels: broadcasting binary ops, affine, broadcast copy (the backward of a
// reduction) and assign. Plain C++ (no CUDA headers) so ops can include it.
//
// Broadcast calls take what the CPU kernels take (cpu/elementwise.h): the contiguous output by
// shape[ndim] (ndim <= 8) and each input by element strides over that shape (0 on a broadcast
// dim). Storage dtype F32/F16/BF16, compute float32, output in the same dtype.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// op: 0 add, 1 sub, 2 mul, 3 div (ops::Binary / cpu::BinaryOp).
void binary(int op, DType dt, const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* y,
            const int64_t* shape, int ndim, int device);
// y = alpha·x + beta over n elements.
void affine(DType dt, const void* x, float alpha, float beta, void* y, int64_t n, int device);
// y[shape] = scale · x read through x_strides (0 = broadcast).
void broadcast_copy(DType dt, const void* x, const int64_t* x_strides, void* y, const int64_t* shape, int ndim,
                    float scale, int device);
// dst += src over n elements (the plain copy is copy_d2d).
void add_inplace(DType dt, void* dst, const void* src, int64_t n, int device);

}  // namespace ie::cuda
