// Concatenate / split along one axis on the GPU, any dtype (bytes), with the CPU kernels' views
// (cpu/concat.h): input i is [outer, sizes[i]·inner_bytes], the result [outer, Σsizes·inner_bytes].
// The pointer arrays are host arrays of device pointers. Plain C++.
#pragma once
#include <cstdint>

namespace ie::cuda {

void concat(const void* const* inputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes, void* y,
            int device);
void split(const void* x, void* const* outputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes,
           int device);

}  // namespace ie::cuda
