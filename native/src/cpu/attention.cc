// Fused attention on the CPU, flash-attention style.
//
// Layout trick: inside a tile the *queries* sit in the vector lanes. A query block of BQ rows is
// packed transposed (Qt[d][i], pre-multiplied by scale), so
//   S^T[j][i]  = sum_d K[j][d] * Qt[d][i]          (broadcast K, vector Qt)
//   O^T[d][i] += sum_j V[j][d] * P^T[j][i]         (broadcast V, vector P)
// are both the same register-blocked "broadcast A x vector B" micro-kernel, K and V are read in
// place (no packing per key block), and the online softmax (running max m[i], sum l[i]) is plain
// element-wise vector code over the lanes. The score matrix exists only as a bk x BQ tile.
//
// Backward (FlashAttention-2): per key block, loop over query blocks, recompute P from q, k and
// lse, then dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO*O)), dK += dS^T Q, dQ += dS K.
// Tasks own (batch*head, range of key blocks); dK/dV rows belong to one task, dQ is accumulated in
// a task-private buffer and, when a head is split over several tasks, summed in a fixed order.
#include "cpu/attention.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cpu/softmax_simd.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

using namespace simd;

#if defined(__AVX512F__)
constexpr int NRMAX = 6, NVMAX = 4;  // 24 accumulators + 4 B vectors of 32 zmm
#else
constexpr int NRMAX = 6, NVMAX = 2;  // 12 accumulators + 2 B vectors of 16 ymm/xmm
#endif
constexpr int64_t BQ = int64_t(W) * NVMAX;  // queries per tile (vector lanes)
constexpr int64_t BK = 64;                  // target keys per tile
constexpr int64_t BK_MAX = 2 * BK - 1;      // tiles hold BK..BK_MAX keys (or all of a short Lk)
constexpr float kInf = __builtin_inff();

// C[r][0..NV*W) (+)= sum_k A[r*ars + k*aks] * B[k*bks + 0..NV*W), r < NR.
template <int NR, int NV>
void tile(int64_t K, const float* A, int64_t ars, int64_t aks, const float* B, int64_t bks, float* C, int64_t crs,
          bool acc) {
  vf c[NR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) c[r][v] = acc ? vload(C + r * crs + v * W) : vzero();
  for (int64_t k = 0; k < K; ++k) {
    const float* a = A + k * aks;
    const float* b = B + k * bks;
    vf bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) {
      vf ar = vset1(a[r * ars]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) c[r][v] = vfma(ar, bv[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) vstore(C + r * crs + v * W, c[r][v]);
}

// Picks tile<nr, nv> for run-time nr <= NR, nv <= NV.
template <int NR, int NV>
void tile_pick(int nr, int nv, int64_t K, const float* A, int64_t ars, int64_t aks, const float* B, int64_t bks,
               float* C, int64_t crs, bool acc) {
  if constexpr (NV > 1) {
    if (nv < NV) return tile_pick<NR, NV - 1>(nr, nv, K, A, ars, aks, B, bks, C, crs, acc);
  }
  if constexpr (NR > 1) {
    if (nr < NR) return tile_pick<NR - 1, NV>(nr, nv, K, A, ars, aks, B, bks, C, crs, acc);
  }
  tile<NR, NV>(K, A, ars, aks, B, bks, C, crs, acc);
}

// C[rows][nvec*W] (+)= A(rows x K, strides ars/aks, broadcast) * B(K x nvec*W, row stride bks).
void gemm_bcast(int64_t rows, int64_t nvec, int64_t K, const float* A, int64_t ars, int64_t aks, const float* B,
                int64_t bks, float* C, int64_t crs, bool acc) {
  for (int64_t v0 = 0; v0 < nvec; v0 += NVMAX) {
    int nv = int(nvec - v0 < NVMAX ? nvec - v0 : NVMAX);
    for (int64_t r0 = 0; r0 < rows; r0 += NRMAX) {
      int nr = int(rows - r0 < NRMAX ? rows - r0 : NRMAX);
      tile_pick<NRMAX, NVMAX>(nr, nv, K, A + r0 * ars, ars, aks, B + v0 * W, bks, C + r0 * crs + v0 * W, crs, acc);
    }
  }
}

float* alloc_floats(int64_t n) {
  size_t bytes = (size_t(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  return static_cast<float*>(std::aligned_alloc(64, bytes));
}

struct Dims {
  int64_t B, H, Lq, Lk, D, HD;
  float scale;
  bool causal;
  int64_t bk, nkb;  // keys per tile, key tiles
};

// Splits Lk keys into nkb near-equal tiles of at most BK_MAX: 77 text tokens are one tile, not
// 64 + a ragged 13.
Dims make_dims(int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal) {
  int64_t nkb = Lk / BK > 1 ? Lk / BK : 1;
  int64_t bk = (Lk + nkb - 1) / nkb;
  if (Lk <= 0) nkb = 0, bk = 1;
  return Dims{B, H, Lq, Lk, D, H * D, scale, causal, bk, nkb};
}

// ---------------------------------------------------------------------------------------------
// Forward: one task = (batch, head, query block).

struct FwdScratch {
  float *Qt, *Ot, *S, *m, *l, *alpha;
  explicit FwdScratch(int64_t D) {
    Qt = alloc_floats(D * BQ);
    Ot = alloc_floats(D * BQ);
    S = alloc_floats(BK_MAX * BQ);
    m = alloc_floats(3 * BQ);
    l = m + BQ;
    alpha = l + BQ;
  }
  ~FwdScratch() {
    std::free(Qt);
    std::free(Ot);
    std::free(S);
    std::free(m);
  }
};

void forward_block(const Dims& g, const float* q, const float* k, const float* v, float* out, float* lse, int64_t b,
                   int64_t h, int64_t qb, FwdScratch& s) {
  const int64_t D = g.D, HD = g.HD;
  const int64_t i0 = qb * BQ, nq = g.Lq - i0 < BQ ? g.Lq - i0 : BQ;
  float *Qt = s.Qt, *Ot = s.Ot, *S = s.S, *m = s.m, *l = s.l, *alpha = s.alpha;

  // Pack the query block transposed and scaled; padded lanes are zeros (finite, never stored).
  const float* qrow = q + (b * g.Lq + i0) * HD + h * D;
  // d outer: contiguous writes of Qt rows; the nq rows of q read stay in L1.
  for (int64_t d = 0; d < D; ++d) {
    float* qt = Qt + d * BQ;
    for (int64_t i = 0; i < nq; ++i) qt[i] = qrow[i * HD + d] * g.scale;
    for (int64_t i = nq; i < BQ; ++i) qt[i] = 0.f;
  }
  for (int64_t i = 0; i < BQ; ++i) m[i] = -kInf, l[i] = 0.f;
  std::memset(Ot, 0, sizeof(float) * size_t(D * BQ));

  // Causal: keys past the block's last query are fully masked.
  const int64_t kend = g.causal ? (i0 + nq < g.Lk ? i0 + nq : g.Lk) : g.Lk;
  for (int64_t j0 = 0; j0 < kend; j0 += g.bk) {
    const int64_t nk = kend - j0 < g.bk ? kend - j0 : g.bk;
    const float* kb = k + (b * g.Lk + j0) * HD + h * D;
    const float* vb = v + (b * g.Lk + j0) * HD + h * D;
    gemm_bcast(nk, NVMAX, D, kb, HD, 1, Qt, BQ, S, BQ, false);
    if (g.causal && j0 + nk - 1 > i0) {
      for (int64_t j = 0; j < nk; ++j)
        for (int64_t i = 0; i < BQ && i0 + i < j0 + j; ++i) S[j * BQ + i] = -kInf;
    }
    // Online softmax over this key block, lanes = queries. The first key block holds key 0, which
    // every query sees, so the running max is finite from then on. The NVMAX lane vectors are
    // independent chains, interleaved for instruction-level parallelism.
    vf mx[NVMAX], sum[NVMAX];
    for (int u = 0; u < NVMAX; ++u) mx[u] = vload(m + u * W), sum[u] = vzero();
    for (int64_t j = 0; j < nk; ++j)
      for (int u = 0; u < NVMAX; ++u) mx[u] = vmax(mx[u], vload(S + j * BQ + u * W));
    for (int64_t j = 0; j < nk; ++j)
      for (int u = 0; u < NVMAX; ++u) {
        vf p = vexp(vsub(vload(S + j * BQ + u * W), mx[u]));
        vstore(S + j * BQ + u * W, p);
        sum[u] = vadd(sum[u], p);
      }
    for (int u = 0; u < NVMAX; ++u) {
      vf a = vexp(vsub(vload(m + u * W), mx[u]));  // exp(-inf) = 0 on the first block
      vstore(alpha + u * W, a);
      vstore(l + u * W, vfma(vload(l + u * W), a, sum[u]));
      vstore(m + u * W, mx[u]);
    }
    if (j0 > 0) {
      for (int64_t d = 0; d < D; ++d)
        for (int64_t vv = 0; vv < BQ; vv += W) vstore(Ot + d * BQ + vv, vmul(vload(Ot + d * BQ + vv), vload(alpha + vv)));
    }
    gemm_bcast(D, NVMAX, nk, vb, 1, HD, S, BQ, Ot, BQ, true);
  }

  float* orow = out + (b * g.Lq + i0) * HD + h * D;
  float* lrow = lse + (b * g.H + h) * g.Lq + i0;
  for (int64_t i = 0; i < nq; ++i) {
    // No keys at all (Lk == 0): output 0, lse = -inf.
    lrow[i] = l[i] > 0.f ? m[i] + std::log(l[i]) : -kInf;
    alpha[i] = l[i] > 0.f ? 1.f / l[i] : 0.f;
  }
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < nq; ++i) orow[i * HD + d] = Ot[d * BQ + i] * alpha[i];
}

// ---------------------------------------------------------------------------------------------
// Backward: one task = (batch*head, range of key blocks).

struct BwdScratch {
  int64_t nqb, Lqp, Dp;
  float *Qt, *dOt, *dQt;  // [nqb][D][BQ]   (Qt scaled by scale)
  float *Qp, *dOp;        // [Lqp][Dp]      (row layout, zero padded)
  float *lsev, *Dv;       // [Lqp]
  float *S, *dP;          // [BK_MAX][BQ]
  float *dKa, *dVa;       // [BK_MAX][Dp]
  BwdScratch(int64_t Lq, int64_t D) {
    nqb = (Lq + BQ - 1) / BQ;
    Lqp = nqb * BQ;
    Dp = (D + W - 1) / W * W;
    Qt = alloc_floats(3 * Lqp * D);
    dOt = Qt + Lqp * D;
    dQt = dOt + Lqp * D;
    Qp = alloc_floats(2 * Lqp * Dp + 2 * Lqp);
    dOp = Qp + Lqp * Dp;
    lsev = dOp + Lqp * Dp;
    Dv = lsev + Lqp;
    S = alloc_floats(2 * BK_MAX * BQ + 2 * BK_MAX * Dp);
    dP = S + BK_MAX * BQ;
    dKa = dP + BK_MAX * BQ;
    dVa = dKa + BK_MAX * Dp;
  }
  ~BwdScratch() {
    std::free(Qt);
    std::free(Qp);
    std::free(S);
  }
};

void backward_task(const Dims& g, const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dk, float* dv, int64_t bh, int64_t kb_begin,
                   int64_t kb_end, float* dq_dst, int64_t dq_rs, BwdScratch& s) {
  const int64_t D = g.D, HD = g.HD, Lq = g.Lq, Dp = s.Dp, nvd = Dp / W;
  const int64_t b = bh / g.H, h = bh % g.H;
  const int64_t qoff = b * Lq * HD + h * D, koff = b * g.Lk * HD + h * D;

  // Pack q and dout of this head: transposed per query block and row-major padded.
  std::memset(s.Qp, 0, sizeof(float) * size_t(2 * s.Lqp * Dp));
  std::memset(s.Qt, 0, sizeof(float) * size_t(3 * s.Lqp * D));
  for (int64_t i = 0; i < s.Lqp; ++i) {
    if (i >= Lq) {
      s.lsev[i] = kInf;  // padded query: P = exp(S - inf) = 0
      s.Dv[i] = 0.f;
      continue;
    }
    const float* qr = q + qoff + i * HD;
    const float* dr = dout + qoff + i * HD;
    const float* orr = out + qoff + i * HD;
    float dsum = 0.f;
    for (int64_t d = 0; d < D; ++d) {
      s.Qp[i * Dp + d] = qr[d];
      s.dOp[i * Dp + d] = dr[d];
      dsum += dr[d] * orr[d];
    }
    s.lsev[i] = lse[bh * Lq + i];
    s.Dv[i] = dsum;
  }
  // Transposed copies, d outer: contiguous writes, the block's rows stay in L1.
  for (int64_t qb = 0; qb < s.nqb; ++qb) {
    const int64_t i0 = qb * BQ, nq = Lq - i0 < BQ ? Lq - i0 : BQ;
    for (int64_t d = 0; d < D; ++d) {
      float* qt = s.Qt + (qb * D + d) * BQ;
      float* dot = s.dOt + (qb * D + d) * BQ;
      const float* qc = q + qoff + i0 * HD + d;
      const float* dc = dout + qoff + i0 * HD + d;
      for (int64_t i = 0; i < nq; ++i) qt[i] = qc[i * HD] * g.scale;
      for (int64_t i = 0; i < nq; ++i) dot[i] = dc[i * HD];
    }
  }

  for (int64_t kb = kb_begin; kb < kb_end; ++kb) {
    const int64_t j0 = kb * g.bk, nk = g.Lk - j0 < g.bk ? g.Lk - j0 : g.bk;
    const float* kblk = k + koff + j0 * HD;
    const float* vblk = v + koff + j0 * HD;
    std::memset(s.dKa, 0, sizeof(float) * size_t(2 * BK_MAX * Dp));
    // Causal: queries before j0 see none of these keys.
    const int64_t qb_first = g.causal ? j0 / BQ : 0;
    for (int64_t qb = qb_first; qb < s.nqb; ++qb) {
      const int64_t i0 = qb * BQ;
      float *S = s.S, *dP = s.dP;
      gemm_bcast(nk, NVMAX, D, kblk, HD, 1, s.Qt + qb * D * BQ, BQ, S, BQ, false);
      gemm_bcast(nk, NVMAX, D, vblk, HD, 1, s.dOt + qb * D * BQ, BQ, dP, BQ, false);
      // P = exp(S - lse); dS = P * (dP - Dv). S and dP are overwritten by P and dS.
      for (int64_t j = 0; j < nk; ++j) {
        for (int64_t vv = 0; vv < BQ; vv += W) {
          vf p = vexp(vsub(vload(S + j * BQ + vv), vload(s.lsev + i0 + vv)));
          vf ds = vmul(p, vsub(vload(dP + j * BQ + vv), vload(s.Dv + i0 + vv)));
          vstore(S + j * BQ + vv, p);
          vstore(dP + j * BQ + vv, ds);
        }
      }
      if (g.causal && j0 + nk - 1 > i0) {
        for (int64_t j = 0; j < nk; ++j)
          for (int64_t i = 0; i < BQ && i0 + i < j0 + j; ++i) S[j * BQ + i] = 0.f, dP[j * BQ + i] = 0.f;
      }
      gemm_bcast(nk, nvd, BQ, S, BQ, 1, s.dOp + i0 * Dp, Dp, s.dVa, Dp, true);   // dV += P^T dO
      gemm_bcast(nk, nvd, BQ, dP, BQ, 1, s.Qp + i0 * Dp, Dp, s.dKa, Dp, true);   // dK += dS^T Q
      gemm_bcast(D, NVMAX, nk, kblk, 1, HD, dP, BQ, s.dQt + qb * D * BQ, BQ, true);  // dQ^T += K^T dS
    }
    for (int64_t j = 0; j < nk; ++j) {
      float* dkr = dk + koff + (j0 + j) * HD;
      float* dvr = dv + koff + (j0 + j) * HD;
      for (int64_t d = 0; d < D; ++d) {
        dkr[d] = s.dKa[j * Dp + d] * g.scale;
        dvr[d] = s.dVa[j * Dp + d];
      }
    }
  }

  for (int64_t i = 0; i < Lq; ++i) {
    const float* src = s.dQt + (i / BQ) * D * BQ + i % BQ;
    for (int64_t d = 0; d < D; ++d) dq_dst[i * dq_rs + d] = src[d * BQ] * g.scale;
  }
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse, int64_t B, int64_t H,
                       int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal) {
  if (B <= 0 || H <= 0 || Lq <= 0 || D <= 0) return;
  const Dims g = make_dims(B, H, Lq, Lk, D, scale, causal);
  const int64_t nqb = (Lq + BQ - 1) / BQ;
  parallel_for(B * H * nqb, 1, [&](int64_t t0, int64_t t1) {
    FwdScratch s(D);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t qb = t % nqb, bh = t / nqb;
      forward_block(g, q, k, v, out, lse, bh / H, bh % H, qb, s);
    }
  });
}

void attention_backward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, int64_t B, int64_t H, int64_t Lq,
                        int64_t Lk, int64_t D, float scale, bool causal) {
  if (B <= 0 || H <= 0 || D <= 0) return;
  const Dims g = make_dims(B, H, Lq, Lk, D, scale, causal);
  const int64_t BH = B * H, nkb = g.nkb;
  // Split each head's keys into C chunks so there are at least ~8 tasks. C depends only on the
  // shapes, never on the thread count, so results are the same on any number of threads.
  int64_t C = (8 + BH - 1) / BH;
  if (C > nkb) C = nkb;
  if (C < 1) C = 1;
  float* part = C > 1 ? alloc_floats(BH * C * Lq * D) : nullptr;
  parallel_for(BH * C, 1, [&](int64_t t0, int64_t t1) {
    BwdScratch s(Lq, D);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / C, c = t % C;
      float* dst = C > 1 ? part + t * Lq * D : dq + (bh / H) * Lq * g.HD + (bh % H) * D;
      backward_task(g, q, k, v, out, lse, dout, dk, dv, bh, nkb * c / C, nkb * (c + 1) / C, dst, C > 1 ? D : g.HD,
                    s);
    }
  });
  if (C > 1) {
    // Sum the chunks' dQ in chunk order.
    parallel_for(BH * Lq, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bh = r / Lq, i = r % Lq;
        float* dst = dq + ((bh / H) * Lq + i) * g.HD + (bh % H) * D;
        const float* src = part + (bh * C * Lq + i) * D;
        for (int64_t d = 0; d < D; ++d) dst[d] = src[d];
        for (int64_t c = 1; c < C; ++c)
          for (int64_t d = 0; d < D; ++d) dst[d] += src[c * Lq * D + d];
      }
    });
    std::free(part);
  }
}

}  // namespace ie::cpu::IE_ISA
