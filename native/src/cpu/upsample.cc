#include "cpu/upsample.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

constexpr int64_t kGrain = 1 << 14;

// PyTorch's nearest source index: identity and exact ×2 are special-cased (as ATen does), else
// ⌊dst · scale⌋ with scale = (float)in / (float)out and the product taken in float.
int64_t nearest_src(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = float(in) / float(out);
  int64_t s = int64_t(std::floor(float(dst) * scale));
  return s < in - 1 ? s : in - 1;
}

struct Index {
  int64_t* p;
  explicit Index(int64_t n) : p(static_cast<int64_t*>(std::malloc(size_t(n > 0 ? n : 1) * sizeof(int64_t)))) {}
  ~Index() { std::free(p); }
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;
};

inline int64_t row_grain(int64_t len) { return len > 0 ? (kGrain + len - 1) / len : 1; }

}  // namespace

void upsample_nearest_forward(const float* x, float* y, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  if (OH == 2 * H && OW == 2 * W) {
    // each input row becomes two identical output rows of doubled pixels
    parallel_for(NC * H, row_grain(4 * W), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* xr = x + r * W;
        float* y0 = y + 2 * r * OW;  // row (nc, 2h) is flat row 2r of [NC·OH, OW]
        for (int64_t j = 0; j < W; ++j) {
          y0[2 * j] = xr[j];
          y0[2 * j + 1] = xr[j];
        }
        std::memcpy(y0 + OW, y0, size_t(OW) * sizeof(float));
      }
    });
    return;
  }
  Index sh(OH), sw(OW);
  for (int64_t i = 0; i < OH; ++i) sh.p[i] = nearest_src(i, H, OH);
  for (int64_t j = 0; j < OW; ++j) sw.p[j] = nearest_src(j, W, OW);
  parallel_for(NC * OH, row_grain(OW), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t nc = r / OH, oh = r % OH;
      const float* xr = x + (nc * H + sh.p[oh]) * W;
      float* yr = y + r * OW;
      for (int64_t j = 0; j < OW; ++j) yr[j] = xr[sw.p[j]];
    }
  });
}

// dx[h, w] = Σ dy over the outputs that read (h, w). Each dx row is owned by one task, so no
// races and a fixed summation order.
void upsample_nearest_backward(const float* dy, float* dx, int64_t NC, int64_t H, int64_t W, int64_t OH,
                               int64_t OW) {
  if (OH == 2 * H && OW == 2 * W) {
    parallel_for(NC * H, row_grain(4 * W), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* d0 = dy + 2 * r * OW;
        const float* d1 = d0 + OW;
        float* dr = dx + r * W;
        for (int64_t j = 0; j < W; ++j) dr[j] = (d0[2 * j] + d0[2 * j + 1]) + (d1[2 * j] + d1[2 * j + 1]);
      }
    });
    return;
  }
  // the source row index is non-decreasing in oh: input row h gets output rows [hb[h], hb[h+1])
  Index hb(H + 1), sw(OW);
  for (int64_t j = 0; j < OW; ++j) sw.p[j] = nearest_src(j, W, OW);
  {
    int64_t oh = 0;
    for (int64_t h = 0; h <= H; ++h) {
      while (oh < OH && nearest_src(oh, H, OH) < h) ++oh;
      hb.p[h] = oh;
    }
  }
  parallel_for(NC * H, row_grain(OW * (OH > H ? (OH + H - 1) / H : 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t nc = r / H, h = r % H;
      float* dr = dx + r * W;
      for (int64_t j = 0; j < W; ++j) dr[j] = 0.0f;
      for (int64_t oh = hb.p[h]; oh < hb.p[h + 1]; ++oh) {
        const float* dyr = dy + (nc * OH + oh) * OW;
        for (int64_t j = 0; j < OW; ++j) dr[sw.p[j]] += dyr[j];
      }
    }
  });
}

}  // namespace ie::cpu::IE_ISA
