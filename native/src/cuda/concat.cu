// concat / split: one strided 2-D copy kernel launch per input (or output): `height` rows of
// `width` bytes between pitches, in the widest unit (16, 8, 4, 2 or 1 bytes) that divides both
// addresses, both pitches and the width. A faster version would copy all pieces in one launch.
#include "cuda/common.cuh"
#include "cuda/concat.h"

namespace ie::cuda {
namespace {

template <typename U>
__global__ void copy2d_kernel(char* __restrict__ dst, int64_t dpitch, const char* __restrict__ src, int64_t spitch,
                              int64_t wu /* units per row */, int64_t height) {
  const int64_t total = wu * height;
  IE_GRID_STRIDE(k, total) {
    const int64_t row = k / wu, col = k - row * wu;
    reinterpret_cast<U*>(dst + row * dpitch)[col] = reinterpret_cast<const U*>(src + row * spitch)[col];
  }
}

template <typename U>
void launch_copy2d(char* dst, int64_t dpitch, const char* src, int64_t spitch, int64_t width, int64_t height,
                   int device) {
  const int64_t wu = width / int64_t(sizeof(U));
  const int64_t total = wu * height;
  copy2d_kernel<U><<<grid_for(total, 256, device), 256, 0, stream(device)>>>(dst, dpitch, src, spitch, wu, height);
  check_launch("concat/split copy");
}

void copy2d(char* dst, int64_t dpitch, const char* src, int64_t spitch, int64_t width, int64_t height, int device) {
  if (width <= 0 || height <= 0) return;
  const uint64_t bits = uint64_t(reinterpret_cast<uintptr_t>(dst)) | uint64_t(reinterpret_cast<uintptr_t>(src)) |
                        uint64_t(dpitch) | uint64_t(spitch) | uint64_t(width);
  if (bits % 16 == 0) launch_copy2d<uint4>(dst, dpitch, src, spitch, width, height, device);
  else if (bits % 8 == 0) launch_copy2d<uint2>(dst, dpitch, src, spitch, width, height, device);
  else if (bits % 4 == 0) launch_copy2d<uint32_t>(dst, dpitch, src, spitch, width, height, device);
  else if (bits % 2 == 0) launch_copy2d<uint16_t>(dst, dpitch, src, spitch, width, height, device);
  else launch_copy2d<uint8_t>(dst, dpitch, src, spitch, width, height, device);
}

// Calls f(part, part_offset_bytes, part_bytes, row_bytes) for each of the n parts of a row of
// concatenated parts (part i: sizes[i] * inner_bytes bytes of every row of total * inner_bytes).
template <typename F>
void for_each_part(const int64_t* sizes, int n, int64_t inner_bytes, F&& f) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += sizes[i];
  const int64_t row_bytes = total * inner_bytes;
  int64_t off = 0;
  for (int i = 0; i < n; ++i) {
    f(i, off * inner_bytes, sizes[i] * inner_bytes, row_bytes);
    off += sizes[i];
  }
}

}  // namespace

void concat(const void* const* inputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes, void* y,
            int device) {
  for_each_part(sizes, n, inner_bytes, [&](int i, int64_t off_bytes, int64_t bytes, int64_t row_bytes) {
    copy2d(static_cast<char*>(y) + off_bytes, row_bytes, static_cast<const char*>(inputs[i]), bytes, bytes, outer,
           device);
  });
}

void split(const void* x, void* const* outputs, const int64_t* sizes, int n, int64_t outer, int64_t inner_bytes,
           int device) {
  for_each_part(sizes, n, inner_bytes, [&](int i, int64_t off_bytes, int64_t bytes, int64_t row_bytes) {
    copy2d(static_cast<char*>(outputs[i]), bytes, static_cast<const char*>(x) + off_bytes, row_bytes, bytes, outer,
           device);
  });
}

}  // namespace ie::cuda
