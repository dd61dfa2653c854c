// 2-D convolution on the GPU, NCHW, same semantics as cpu::conv2d_* (native/src/cpu/conv2d.h):
// x[N,C,H,W], w[K,C,R,S], b[K] (may be null), y[N,K,P,Q]; every tensor has the storage type dt
// (float32, float16 or bfloat16), accumulation is float32.
//
// As GEMMs (output channels = GEMM rows, output pixels = GEMM columns), through an im2col buffer:
//   forward          y_n[K, PQ]    = w[K, CRS] · col_n[CRS, PQ]   (+ b per row, in the epilogue)
//   backward input   dcol[CRS, PQ] = wᵀ · dy_n (float32), then col2im gathers each dx pixel's taps
//   backward weight  dw[K, CRS]   += dy[K, n·PQ] · col[CRS, n·PQ]ᵀ over chunks of images
// A 1×1 stride-1 unpadded conv skips im2col (x_n is col_n). The column buffer covers a chunk of
// whole images, or a band of output rows of one image when one image is too big; the op allocates
// it (conv2d_scratch says how big: about kConvScratchBudget bytes at most) and passes it in.
// TODO(perf): implicit GEMM (the B-tile loader computes the im2col address itself) removes the
// buffer and its memory traffic.
#pragma once
#include <cstdint>

#include "cpu/conv2d.h"  // Conv2dShape (plain data)
#include "ie/dtype.h"

namespace ie::cuda {

using Conv2dShape = cpu::Conv2dShape;

constexpr int64_t kConvScratchBudget = int64_t(256) << 20;  // bytes

// Tests only: a smaller budget forces the chunked and banded paths on small shapes (0 restores
// the default). Change it only while no conv2d is queued or running.
void conv2d_set_scratch_budget(int64_t bytes);

enum class ConvPass { Forward, BackwardInput, BackwardWeight };
// Scratch bytes a pass needs: the column buffer (dt elements; float32 for BackwardInput) and, for
// BackwardWeight over several images at once, a buffer dy is gathered into. 0 = none needed.
struct ConvScratch {
  int64_t col_bytes = 0, gather_bytes = 0;
};
ConvScratch conv2d_scratch(DType dt, const Conv2dShape& s, ConvPass pass);

// col: conv2d_scratch(dt, s, Forward).col_bytes bytes (may be null when 0).
void conv2d_forward(DType dt, const Conv2dShape& s, const void* x, const void* w, const void* b, void* y, void* col,
                    int device);
// dx is overwritten. col: conv2d_scratch(dt, s, BackwardInput).col_bytes bytes.
void conv2d_backward_input(DType dt, const Conv2dShape& s, const void* dy, const void* w, void* dx, void* col,
                           int device);
// dw and db (db may be null), float32 whatever dt is, overwritten or, with accumulate, added to. col and gather: the
// sizes conv2d_scratch(dt, s, BackwardWeight) gives.
void conv2d_backward_weight(DType dt, const Conv2dShape& s, const void* x, const void* dy, void* dw, void* db,
                            bool accumulate, void* col, void* gather, int device);

}  // namespace ie::cuda
