// CUDA pointwise activations and GEGLU (native/src/cpu/activation.h gives the formulas).
// x, y, dy, dx: device pointers of dtype dt (float32/float16/bfloat16); compute in float32.
#pragma once
#include <cstdint>

#include "ie/dtype.h"

namespace ie::cuda {

// kind: 0 SiLU, 1 GELU (erf), 2 GELU (tanh), 3 QuickGELU (ie::ops::Act / ie::cpu::Activation).
void activation_forward(DType dt, int kind, const void* x, void* y, int64_t n, int device);
void activation_backward(DType dt, int kind, const void* x, const void* dy, void* dx, int64_t n, int device);
// x[M, 2D] = hidden ‖ gate -> y[M, D] = hidden·gelu(gate); backward writes dx[M, 2D].
void geglu_forward(DType dt, const void* x, void* y, int64_t M, int64_t D, int device);
void geglu_backward(DType dt, const void* x, const void* dy, void* dx, int64_t M, int64_t D, int device);

}  // namespace ie::cuda
