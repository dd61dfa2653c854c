// Tiled application of an image-to-image function (the VAE's encoder or decoder) with linear
// blending across the overlaps. Separate from the model so tests can drive it with a local function,
// for which tiled and untiled results must agree exactly.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ie/tensor.h"

namespace ie::vae::detail {

// Starts of the tiles (length `tile`) covering [0, size), spread evenly with at most `stride`
// between consecutive starts; the first starts at 0 and the last ends at `size`. One tile when
// size <= tile.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t stride);

struct TileGrid {
  int64_t tile = 0, stride = 0;  // in grid cells (latent pixels for the VAE)
  int64_t in_cell = 1;           // input pixels per grid cell (8 to encode, 1 to decode)
  int64_t out_cell = 1;          // output pixels per grid cell (1 to encode, 8 to decode)
};

// Runs fn on each tile of x [B, C, H, W] (H, W multiples of in_cell) and blends the results into
// [B, C_out, H/in_cell·out_cell, W/in_cell·out_cell]: a weighted mean in which each tile's weight
// ramps linearly from ~0 to 1 across each overlap with a neighbour. Runs inline on the stream's
// worker thread (host memory: the device is the CPU). `between` runs before each tile (cancellation);
// *tiles receives the number of tiles.
Tensor tiled(const Tensor& x, const TileGrid& g, const std::function<Tensor(const Tensor&)>& fn,
             const std::function<void()>& between, int64_t* tiles);

}  // namespace ie::vae::detail
