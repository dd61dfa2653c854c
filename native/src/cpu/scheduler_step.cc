// The fused scheduler step (formula in ie/step_coeffs.h). Memory-bound: one read of e, x (and hist,
// noise), one write of prev and pred. Contraction into FMA is off so that each float operation
// rounds as the reference's separate tensor ops do (the parity fixtures then match to the last bit
// on most elements; diffusers' x0 = (x − σ·e)/α cancels heavily at high noise).
#pragma GCC optimize("fp-contract=off")
#include "cpu/scheduler_step.h"

#include "ie/parallel.h"
#include "ie/philox.h"

namespace ie::cpu::IE_ISA {

namespace {

constexpr int64_t kBlock = 512;  // noise generated per block stays in L1

// z[0..len) = randn(seed, offset + i), i.e. element j of the stream is half of Box-Muller pair j/2.
void philox_block(uint64_t seed, uint64_t first, int64_t len, float* z) {
  int64_t i = 0;
  if (first & 1) {
    float a, b;
    philox_normal_pair(seed, first >> 1, &a, &b);
    z[i++] = b;
  }
  for (; i + 1 < len; i += 2) philox_normal_pair(seed, (first + uint64_t(i)) >> 1, &z[i], &z[i + 1]);
  if (i < len) {
    float a, b;
    philox_normal_pair(seed, (first + uint64_t(i)) >> 1, &a, &b);
    z[i] = a;
  }
}

void step_block(const float* e, const float* x, const float* hist, const float* z, const SchedStepCoeffs& c,
                float* prev, float* pred, int64_t len) {
  const float x0x = c.x0_x, x0e = c.x0_e, x0d = c.x0_div, lo = c.clip_lo, hi = c.clip_hi;
  const float ox0 = c.out_x0, ox = c.out_x, px = c.p_x, pp = c.p_pred, pe = c.p_e, dd = c.d_div, dm = c.d_mul;
  const float ho = c.h_out, hi_ = c.h_in, pn = c.p_noise;
  for (int64_t i = 0; i < len; ++i) {
    float xi = x[i], ei = e[i];
    float x0 = (x0x * xi + x0e * ei) / x0d;
    x0 = x0 < lo ? lo : x0;
    x0 = x0 > hi ? hi : x0;
    float p = ox0 * x0 + ox * xi;
    float h = hist ? hist[i] : p;
    float acc = px * xi;
    acc = acc + pp * p;
    acc = acc + pe * ei;
    acc = acc + ((xi - p) / dd) * dm;
    acc = acc + ho * (hi_ * (p - h));
    acc = acc + pn * (z ? z[i] : 0.0f);
    prev[i] = acc;
    pred[i] = p;
  }
}

}  // namespace

void scheduler_step(const float* e, const float* x, const float* hist, const float* noise, bool gen_noise,
                    uint64_t seed, uint64_t offset, const SchedStepCoeffs& c, float* prev, float* pred, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, 16, [&](int64_t bb, int64_t be) {
    float z[kBlock];
    for (int64_t blk = bb; blk < be; ++blk) {
      int64_t i = blk * kBlock, len = n - i < kBlock ? n - i : kBlock;
      const float* zi = noise ? noise + i : nullptr;
      if (!noise && gen_noise) {
        philox_block(seed, offset + uint64_t(i), len, z);
        zi = z;
      }
      step_block(e + i, x + i, hist ? hist + i : nullptr, zi, c, prev + i, pred + i, len);
    }
  });
}

void scheduler_scale(const float* x, float div, float* y, int64_t n) {
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] / div;
  });
}

void scheduler_mix_rows(const float* a, const float* b, const float* ca, const float* cb, float* out, int64_t rows,
                        int64_t row_len) {
  parallel_for(rows * row_len, 1 << 15, [&](int64_t s, int64_t t) {
    for (int64_t i = s; i < t;) {  // row by row inside the chunk
      const int64_t r = i / row_len, end = (r + 1) * row_len < t ? (r + 1) * row_len : t;
      const float wa = ca[r], wb = cb[r];
      for (; i < end; ++i) out[i] = wa * a[i] + wb * b[i];
    }
  });
}

}  // namespace ie::cpu::IE_ISA
