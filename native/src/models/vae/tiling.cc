#include "models/vae/tiling.h"

#include <algorithm>
#include <cstring>

#include "ie/error.h"
#include "ie/ops.h"

namespace ie::vae::detail {

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t stride) {
  IE_CHECK(tile >= 1 && stride >= 1, "VAE tiling: tile and stride must be positive");
  if (size <= tile) return {0};
  // Fewest tiles with starts at most `stride` apart, then spread evenly so every overlap is similar
  // (no thin last tile: every tile has the full size).
  int64_t n = (size - tile + stride - 1) / stride + 1;
  std::vector<int64_t> s(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) s[size_t(k)] = (k * (size - tile) + (n - 1) / 2) / (n - 1);
  return s;
}

namespace {

// A tile's blending weights along one axis, in output pixels: a linear ramp across the overlap with
// the previous tile (rising) and with the next (falling), 1 elsewhere. Two overlapping ramps sum to 1.
std::vector<float> ramp(const std::vector<int64_t>& starts, size_t k, int64_t tile, int64_t size, int64_t out_cell) {
  auto end = [&](size_t i) { return std::min(starts[i] + tile, size); };
  int64_t len = (end(k) - starts[k]) * out_cell;
  int64_t left = k > 0 ? (end(k - 1) - starts[k]) * out_cell : 0;
  int64_t right = k + 1 < starts.size() ? (end(k) - starts[k + 1]) * out_cell : 0;
  std::vector<float> w(size_t(len), 1.f);
  for (int64_t i = 0; i < len; ++i) {
    double v = 1;
    if (i < left) v = std::min(v, (double(i) + 0.5) / double(left));
    if (i >= len - right) v = std::min(v, (double(len - i) - 0.5) / double(right));
    w[size_t(i)] = float(v);
  }
  return w;
}

// x[:, :, begin:begin+len] along `axis` (2 or 3), as a new tensor.
Tensor crop(const Tensor& x, int axis, int64_t begin, int64_t len) {
  int64_t n = x.size(axis);
  if (begin == 0 && len == n) return x;
  return ops::split(x, {begin, len, n - begin - len}, axis)[1];
}

}  // namespace

Tensor tiled(const Tensor& x, const TileGrid& g, const std::function<Tensor(const Tensor&)>& fn,
             const std::function<void()>& between, int64_t* tiles) {
  const int64_t gh = x.size(2) / g.in_cell, gw = x.size(3) / g.in_cell;
  const std::vector<int64_t> ys = tile_starts(gh, g.tile, g.stride), xs = tile_starts(gw, g.tile, g.stride);
  if (tiles) *tiles = int64_t(ys.size() * xs.size());
  if (ys.size() == 1 && xs.size() == 1) {
    if (between) between();
    return fn(x);
  }
  const int64_t OH = gh * g.out_cell, OW = gw * g.out_cell;
  // The blend is accumulated in host memory (tile outputs come back from a GPU one at a time;
  // a device blend kernel would save those copies), then moved to x's device.
  const Device host{};
  Tensor out;  // the weighted sum, then the mean
  std::vector<float> wsum(size_t(OH * OW), 0.f);
  int64_t B = 0, C = 0;
  for (size_t ty = 0; ty < ys.size(); ++ty) {
    const int64_t th = std::min(g.tile, gh - ys[ty]);
    Tensor band = crop(x, 2, ys[ty] * g.in_cell, th * g.in_cell);
    const std::vector<float> wy = ramp(ys, ty, g.tile, gh, g.out_cell);
    for (size_t tx = 0; tx < xs.size(); ++tx) {
      if (between) between();
      const int64_t tw = std::min(g.tile, gw - xs[tx]);
      Tensor y = fn(crop(band, 3, xs[tx] * g.in_cell, tw * g.in_cell));
      if (!y.device().is_cpu()) y = ops::to_device(y, host);  // synchronous: the data is there on return
      const int64_t yh = th * g.out_cell, yw = tw * g.out_cell;
      IE_CHECK(y.ndim() == 4 && y.size(2) == yh && y.size(3) == yw, "VAE tiling: internal error: tile output ",
               shape_str(y.shape()));
      if (!out.defined()) {
        B = y.size(0);
        C = y.size(1);
        out = Tensor::empty({B, C, OH, OW}, DType::F32, host);
        std::fill(out.data<float>(), out.data<float>() + out.numel(), 0.f);
      }
      const std::vector<float> wx = ramp(xs, tx, g.tile, gw, g.out_cell);
      const int64_t oy = ys[ty] * g.out_cell, ox = xs[tx] * g.out_cell;
      const float* src = y.data<float>();
      float* dst = out.data<float>();
      for (int64_t i = 0; i < yh; ++i) {
        float* ws = wsum.data() + (oy + i) * OW + ox;
        for (int64_t j = 0; j < yw; ++j) ws[j] += wy[size_t(i)] * wx[size_t(j)];
      }
      for (int64_t bc = 0; bc < B * C; ++bc)
        for (int64_t i = 0; i < yh; ++i) {
          const float* s = src + (bc * yh + i) * yw;
          float* d = dst + (bc * OH + oy + i) * OW + ox;
          for (int64_t j = 0; j < yw; ++j) d[j] += wy[size_t(i)] * wx[size_t(j)] * s[j];
        }
    }
  }
  float* dst = out.data<float>();
  for (int64_t bc = 0; bc < B * C; ++bc)
    for (int64_t p = 0; p < OH * OW; ++p) dst[bc * OH * OW + p] /= wsum[size_t(p)];
  return x.device().is_cpu() ? out : ops::to_device(out, x.device());
}

}  // namespace ie::vae::detail
