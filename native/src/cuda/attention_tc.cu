// Flash-attention forward and backward on tensor cores (FlashAttention-2 structure) for float16/bfloat16:
// mma.sync.aligned.m16n8k16.row.col with float32 accumulators, operands from shared memory by
// ldmatrix, K/V tiles double-buffered with cp.async. Semantics exactly as the SIMT kernel in
// attention.cu (out = softmax(scale·q·kᵀ [causal mask])·v per head, lse = m + log l float32
// [B, H, Lq], rows with nothing visible: out 0, lse −inf).
//
// CTA = 4 warps = one (b, h, 64-query block); warp w owns query rows 16w .. 16w+15 of the block.
//   Shared memory (16-bit elements, row stride LDS = DP + 8):
//     Qs [64][LDS]            Q tile (read once into registers, reused to stage the output)
//     Ks [2][64][LDS], Vs [2][64][LDS]   K and V of key block kb in buffer kb & 1
//   DP = D rounded up to 16 (the k dim of Q·Kᵀ); columns D .. DP-1 are written as zeros. The +8
//   elements (16 bytes) per row make the 8 row addresses of an ldmatrix 8×8 matrix hit 8 distinct
//   16-byte bank groups: LDS·2 bytes = 16·(DP/8 + 1) with DP/8 even, an odd multiple of 16.
//   Loop over 64-key blocks: cp.async of block kb+1 is in flight while block kb is computed.
//   Per key block, per warp:  S[16×64] = Q·Kᵀ (8 n-tiles of 16×8, f32 accumulators), scaled by
//   scale·log2(e) and masked (−inf) in registers; online softmax on the fragments (row max and
//   row sum over the 4 lanes that share a row: shfl_xor 1, 2; exp2); P packed to 16-bit pairs is
//   directly the A operand of P·V; O[16×D] (D/8 n-tiles, f32) = α·O + P·V.
//   Epilogue: full row sums (shfl_xor 1, 2), out = O / l staged through the warp's rows of Qs and
//   written as 16-byte rows; lse = m·ln 2 + log l.
//
// Fragment layouts (PTX ISA 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with floating point
// type" and 9.7.14.5.15 "ldmatrix"; g = lane >> 2 (groupID), t = lane & 3 (threadID_in_group)):
//   A 16×16 (4 × .b32 = 8 halves): reg0 = A[g][2t, 2t+1], reg1 = A[g+8][2t, 2t+1],
//                                  reg2 = A[g][2t+8, 2t+9], reg3 = A[g+8][2t+8, 2t+9]
//   B 16×8  (2 × .b32):            reg0 = B[2t, 2t+1][g],   reg1 = B[2t+8, 2t+9][g]
//   C/D 16×8 f32 (4 floats):       c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][2t, 2t+1]
//   ldmatrix .m8n8.xN: lanes 8i .. 8i+7 give the 8 row addresses of matrix i; lane l receives in
//   register i the elements M_i[l/4][2(l%4)], M_i[l/4][2(l%4)+1] (.trans: M_i[2(l%4)][l/4],
//   M_i[2(l%4)+1][l/4]).
//   Hence:
//   * Q (A operand, k chunk kc): ldmatrix.x4 with lane address row 16w + (lane & 15), column
//     16kc + 8(lane >> 4): matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7,
//     cols 8-15), (rows 8-15, cols 8-15) = reg0..reg3 of A.
//   * K (B operand of S = Q·Kᵀ, B[k = d][n = key] = K[key][d], i.e. K rows are B columns): non-
//     transposed ldmatrix of K rows gives lane l K[key g][d 2t, 2t+1] = B reg0. One x4 covers two
//     key n-tiles: lane address key 16np + (lane & 7) + 8(lane >> 4), column 16kc + 8((lane >> 3) & 1)
//     -> regs (b0 of n-tile 2np, b1 of 2np, b0 of 2np+1, b1 of 2np+1).
//   * P (A operand of O = P·V, key chunk kk = keys 16kk .. 16kk+15 = S n-tiles 2kk, 2kk+1):
//     A reg0 = P[g][2t, 2t+1] = S[2kk].c0, c1;  reg1 = P[g+8][2t, 2t+1] = S[2kk].c2, c3;
//     reg2 = P[g][8+2t, 8+2t+1] = S[2kk+1].c0, c1;  reg3 = S[2kk+1].c2, c3.  The accumulator
//     layout of two adjacent n-tiles is exactly the A layout, so P never leaves registers.
//   * V (B operand, B[k = key][n = d] = V[key][d], V rows are B rows): ldmatrix.trans of an 8×8
//     block (rows = keys, cols = d) gives lane l V[key 2t, 2t+1][d g] = B reg0. One x4 covers two
//     d n-tiles: lane address key 16kk + (lane & 7) + 8((lane >> 3) & 1), column 16dp + 8(lane >> 4)
//     -> regs (b0 of d-tile 2dp, b1 of 2dp, b0 of 2dp+1, b1 of 2dp+1); an odd last d-tile
//     (D = 40) by x2.trans (lanes 0-15 addresses).
// tests/emulation/attention_mma_emu.py runs exactly these index formulas against emulated
// ldmatrix/mma (from the ISA text) and a float64 attention.
//
// The backward (further down) uses the same loaders and the same accumulator → A-operand reuse.
//
// What a faster version does (not yet): 128-query CTAs (8 warps) for D ≤ 64 so K/V tiles are
// reused by more rows, splitting the K and V cp.async groups (S = Q·Kᵀ starts while V lands),
// skipping the mask arithmetic of fully-visible blocks more finely, swizzled shared layouts instead
// of padding, wgmma + TMA on sm_90a; for the backward, one fused dQ/dK/dV pass (dQ by atomics or a
// split reduction, which gives up bit-determinism) instead of recomputing S and dP twice.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda/attention_tc.cuh"
#include "cuda/common.cuh"
#include "cuda/mma.cuh"

namespace ie::cuda {
namespace {

constexpr int kTcThreads = 128;  // 4 warps
constexpr int kTcBQ = 64;        // queries per CTA (16 per warp)
constexpr int kTcBK = 64;        // keys per block

constexpr int tc_dp(int D) { return (D + 15) / 16 * 16; }
constexpr int tc_lds(int D) { return tc_dp(D) + 8; }
template <typename T, int D>
constexpr size_t tc_smem_bytes() {
  return sizeof(T) * size_t(kTcBQ + 4 * kTcBK) * size_t(tc_lds(D));
}

// ---- fragment loaders (the index formulas the emulator checks; LDS = shared row stride) ----
// A operand, 16×16 at (row0, col0) of a row-major tile whose rows are A's rows (m) and columns
// A's columns (k): matrices (rows 0-7 | 8-15) × (cols 0-7 | 8-15) in the order reg0..reg3.
template <int LDS, typename T>
__device__ __forceinline__ void ldsm_a(uint32_t (&a)[4], const T* tile, int row0, int col0, int lane) {
  ldsm_x4(a, smem_addr(tile + (row0 + (lane & 15)) * LDS + col0 + (lane >> 4) * 8));
}
// B operands of two n-tiles from a tile whose rows are B's columns (n) and columns B's rows (k)
// (K for S = Q·Kᵀ): n rows row0 .. row0+15, k columns col0 .. col0+15; b[0], b[1] = n-tile
// rows row0 .. row0+7, b[2], b[3] = n-tile rows row0+8 .. row0+15.
template <int LDS, typename T>
__device__ __forceinline__ void ldsm_b_nk(uint32_t (&b)[4], const T* tile, int row0, int col0, int lane) {
  ldsm_x4(b, smem_addr(tile + (row0 + (lane & 7) + ((lane >> 4) << 3)) * LDS + col0 + ((lane >> 3) & 1) * 8));
}
// B operands of two n-tiles from a tile whose rows are B's rows (k) and columns B's columns (n)
// (V for O = P·V), transposed by ldmatrix: k rows row0 .. row0+15, n columns col0 .. col0+15;
// b[0], b[1] = n-tile columns col0 .. col0+7, b[2], b[3] = columns col0+8 .. col0+15.
template <int LDS, typename T>
__device__ __forceinline__ void ldsm_b_kn(uint32_t (&b)[4], const T* tile, int row0, int col0, int lane) {
  ldsm_x4_trans(b, smem_addr(tile + (row0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + col0 + (lane >> 4) * 8));
}
// As ldsm_b_kn for one n-tile (columns col0 .. col0+7); lanes 0-15's addresses are used.
template <int LDS, typename T>
__device__ __forceinline__ void ldsm_b_kn1(uint32_t (&b)[2], const T* tile, int row0, int col0, int lane) {
  ldsm_x2_trans(b, smem_addr(tile + (row0 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + col0));
}
// The A operand (16 rows × 16 k) made of two adjacent 16×8 accumulator tiles c0 (k 0-7) and c1
// (k 8-15), rounded to T: reg0 = c0[0..1] (row g), reg1 = c0[2..3] (row g+8), reg2 = c1[0..1],
// reg3 = c1[2..3].
template <typename T>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack2<T>(c0[0], c0[1]);
  a[1] = pack2<T>(c0[2], c0[3]);
  a[2] = pack2<T>(c1[0], c1[1]);
  a[3] = pack2<T>(c1[2], c1[3]);
}
// acc[0 .. DN) += A·B[:, 0 .. 8·DN) with B the rows k0 .. k0+15 of a (k rows, n columns) tile.
template <typename T, int LDS, int DN>
__device__ __forceinline__ void mma_a_kn(float (&acc)[DN][4], const uint32_t (&a)[4], const T* tile, int k0,
                                         int lane) {
#pragma unroll
  for (int dp = 0; dp < DN / 2; ++dp) {
    uint32_t b[4];
    ldsm_b_kn<LDS>(b, tile, k0, dp * 16, lane);
    mma16816<T>(acc[2 * dp], a, b[0], b[1]);
    mma16816<T>(acc[2 * dp + 1], a, b[2], b[3]);
  }
  if constexpr (DN % 2 == 1) {
    uint32_t b[2];
    ldsm_b_kn1<LDS>(b, tile, k0, (DN - 1) * 8, lane);
    mma16816<T>(acc[DN - 1], a, b[0], b[1]);
  }
}
// Writes a warp's 16 × 8·DN accumulator rows (times mul[r] for rows g + 8r) as T into rows
// 0 .. 15 of `stage` (shared, this warp's own rows), then rows i = row0 + r < L to global
// dst + i·HD (16-byte chunks when VEC, else elements).
template <typename T, int LDS, int DN, bool VEC>
__device__ __forceinline__ void store_rows(const float (&acc)[DN][4], const float (&mul)[2], T* stage, T* dst,
                                           int64_t row0, int64_t L, int64_t HD, int lane) {
  const int g = lane >> 2, tg = lane & 3;
#pragma unroll
  for (int dn = 0; dn < DN; ++dn)
#pragma unroll
    for (int r = 0; r < 2; ++r)
      *reinterpret_cast<uint32_t*>(stage + (g + 8 * r) * LDS + dn * 8 + 2 * tg) =
          pack2<T>(acc[dn][2 * r] * mul[r], acc[dn][2 * r + 1] * mul[r]);
  __syncwarp();
  for (int c = lane; c < 16 * DN; c += 32) {
    const int r = c / DN, cc = c - r * DN;
    const int64_t i = row0 + r;
    if (i >= L) continue;
    T* d = dst + i * HD + cc * 8;
    const T* src = stage + r * LDS + cc * 8;
    if constexpr (VEC) {
      *reinterpret_cast<uint4*>(d) = *reinterpret_cast<const uint4*>(src);
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) d[e] = src[e];
    }
  }
}

// Rows [row0, row0 + R) of one head (base = element (b, row 0, h, 0); rows HD elements apart)
// into tile[R][LDS]: 16-byte chunks of 8 elements (D % 8 == 0), zeros past L and in columns
// D .. DP-1. VEC: the chunk is 16-byte aligned in global memory (checked at launch) and goes by
// cp.async (the caller commits and waits); otherwise element loads and a 16-byte shared store.
template <typename T, int R, int D, bool VEC>
__device__ __forceinline__ void tc_load_tile(T* tile, const T* __restrict__ base, int64_t row0, int64_t L,
                                             int64_t HD) {
  constexpr int DP = tc_dp(D), LDS = tc_lds(D), CPR = DP / 8;
  for (int c = threadIdx.x; c < R * CPR; c += kTcThreads) {
    const int r = c / CPR, d0 = (c - r * CPR) * 8;
    T* dst = tile + r * LDS + d0;
    const int64_t row = row0 + r;
    if (row < L && d0 < D) {
      const T* src = base + row * HD + d0;
      if constexpr (VEC) {
        cp_async16(smem_addr(dst), src);
      } else {
        const unsigned short* s16 = reinterpret_cast<const unsigned short*>(src);
        uint32_t w[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) w[e] = uint32_t(s16[2 * e]) | (uint32_t(s16[2 * e + 1]) << 16);
        *reinterpret_cast<uint4*>(dst) = make_uint4(w[0], w[1], w[2], w[3]);
      }
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
    }
  }
}

template <typename T, int D, bool VEC>
__global__ void __launch_bounds__(kTcThreads) attn_fwd_tc_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                 const T* __restrict__ v, T* __restrict__ out,
                                                                 float* __restrict__ lse, int64_t H, int64_t Lq,
                                                                 int64_t Lk, float scale_log2, bool causal,
                                                                 int64_t nqb, int64_t tasks) {
  constexpr int BQ = kTcBQ, BK = kTcBK, DP = tc_dp(D), KC = DP / 16, DN = D / 8, LDS = tc_lds(D);
  static_assert(D % 8 == 0 && DN >= 2, "head dim must be a multiple of 8, at least 16");
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* Qs = reinterpret_cast<T*>(tc_smem);  // [BQ][LDS]
  T* Ks = Qs + BQ * LDS;                  // [2][BK][LDS]
  T* Vs = Ks + 2 * BK * LDS;              // [2][BK][LDS]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, tg = lane & 3;
  const int64_t HD = H * D;
  constexpr float kLn2 = 0.6931471805599453f;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t qbi = task % nqb, bh = task / nqb, b = bh / H, h = bh % H;
    const int64_t qb = causal ? nqb - 1 - qbi : qbi;  // causal: the longest (last) query blocks first
    const int64_t i0 = qb * BQ;
    const T* qbase = q + b * Lq * HD + h * D;
    const T* kbase = k + b * Lk * HD + h * D;
    const T* vbase = v + b * Lk * HD + h * D;
    const int64_t kend = causal ? (i0 + BQ < Lk ? i0 + BQ : Lk) : Lk;  // keys past kend are all masked
    const int nkb = int((kend + BK - 1) / BK);                          // >= 1 (Lk >= 1)

    __syncthreads();  // the previous task is done with Qs (output staging) and Ks/Vs
    tc_load_tile<T, BQ, D, VEC>(Qs, qbase, i0, Lq, HD);
    tc_load_tile<T, BK, D, VEC>(Ks, kbase, 0, Lk, HD);
    tc_load_tile<T, BK, D, VEC>(Vs, vbase, 0, Lk, HD);
    cp_async_commit();

    uint32_t qf[KC][4];  // this warp's 16 Q rows as A fragments, one per 16-wide k chunk
    float o[DN][4];      // O accumulators: n-tile dn, element e -> row g + 8(e >> 1), col 8dn + 2tg + (e & 1)
    float mrow[2] = {-INFINITY, -INFINITY};  // running max of scale·log2(e)·s, rows g and g + 8
    float lrow[2] = {0.f, 0.f};              // this lane's partial row sums (full sums at the end)
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[dn][e] = 0.f;

    for (int kb = 0; kb < nkb; ++kb) {
      const int buf = kb & 1;
      const int64_t j0 = int64_t(kb) * BK;
      if (kb + 1 < nkb) {
        // buffer buf ^ 1 was last read in iteration kb - 1, which ended with __syncthreads
        tc_load_tile<T, BK, D, VEC>(Ks + (buf ^ 1) * BK * LDS, kbase, j0 + BK, Lk, HD);
        tc_load_tile<T, BK, D, VEC>(Vs + (buf ^ 1) * BK * LDS, vbase, j0 + BK, Lk, HD);
        cp_async_commit();
        cp_async_wait<1>();  // all but the group just issued: block kb (and Q) have landed
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      if (kb == 0) {
#pragma unroll
        for (int kc = 0; kc < KC; ++kc) ldsm_a<LDS>(qf[kc], Qs, warp * 16, kc * 16, lane);
      }
      const T* Kb = Ks + buf * BK * LDS;
      const T* Vb = Vs + buf * BK * LDS;

      // S = Q·Kᵀ: s[nt] is the 16×8 tile of keys j0 + 8nt .. j0 + 8nt + 7
      float s[8][4];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
#pragma unroll
        for (int np = 0; np < 4; ++np) {
          uint32_t kr[4];
          ldsm_b_nk<LDS>(kr, Kb, np * 16, kc * 16, lane);
          mma16816<T>(s[2 * np], qf[kc], kr[0], kr[1]);
          mma16816<T>(s[2 * np + 1], qf[kc], kr[2], kr[3]);
        }
      }

      // scale (log2 units) and mask; element e of s[nt]: row i0 + 16warp + g + 8(e >> 1), key j0 + 8nt + 2tg + (e & 1)
      const bool need_mask = j0 + BK > Lk || (causal && j0 + BK - 1 > i0);  // uniform over the CTA
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[nt][e] * scale_log2;
          if (need_mask) {
            const int64_t i = i0 + warp * 16 + g + 8 * (e >> 1);
            const int64_t j = j0 + nt * 8 + 2 * tg + (e & 1);
            if (j >= Lk || (causal && j > i)) x = -INFINITY;
          }
          s[nt][e] = x;
        }

      // online softmax, rows r = 0 (g) and 1 (g + 8); the 4 lanes of a row are lanes 4g .. 4g+3
      float alpha[2], msub[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mnew = fmaxf(mrow[r], mx);
        msub[r] = mnew == -INFINITY ? 0.f : mnew;  // nothing visible yet: p = 0, α = 0
        alpha[r] = exp2f(mrow[r] - msub[r]);
        mrow[r] = mnew;
      }
      float rs[2] = {0.f, 0.f};
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f(s[nt][e] - msub[e >> 1]);
          s[nt][e] = p;
          rs[e >> 1] += p;
        }
#pragma unroll
      for (int r = 0; r < 2; ++r) lrow[r] = lrow[r] * alpha[r] + rs[r];
#pragma unroll
      for (int dn = 0; dn < DN; ++dn)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[dn][e] *= alpha[e >> 1];

      // O += P·V over 4 key chunks of 16; P's A fragment is S n-tiles 2kk, 2kk+1 (see the header)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        uint32_t pa[4];
        acc_to_a<T>(pa, s[2 * kk], s[2 * kk + 1]);
        mma_a_kn<T, LDS, DN>(o, pa, Vb, kk * 16, lane);
      }
      __syncthreads();  // everyone is done with buffer buf before iteration kb + 1 refills it
    }

    // epilogue: full row sums, out = O / l through this warp's 16 rows of Qs (only this warp read
    // them, into qf, before the loop's first __syncthreads), then 16-byte row chunks to global.
    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
      lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
      inv[r] = lrow[r] > 0.f ? 1.f / lrow[r] : 0.f;
    }
    store_rows<T, LDS, DN, VEC>(o, inv, Qs + warp * 16 * LDS, out + b * Lq * HD + h * D, i0 + warp * 16, Lq, HD,
                                lane);
    if (tg == 0) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t i = i0 + warp * 16 + g + 8 * r;
        if (i < Lq) lse[bh * Lq + i] = lrow[r] > 0.f ? mrow[r] * kLn2 + logf(lrow[r]) : -INFINITY;
      }
    }
  }
  cp_async_wait<0>();  // nothing is in flight past the last task (every group was waited for)
}

// ---------------------------------------------------------------------------------------------
// Backward (deterministic: no atomics), after attention.cu's rowsum kernel has written
// dvec[bh·Lq + i] = Σ_d dO·O. Both kernels recompute S and P = exp2(scale·log2e·s − log2e·lse).
//
// dK/dV: CTA = (b, h, 64-key block), warp w owns keys 16w .. 16w+15, loop over 32-query blocks
//   (Q, dO, lse, dvec double-buffered). Transposed problem so every product keeps its operands in
//   registers: Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (A = this warp's K / V rows by ldsm_a, B = Q / dO rows by
//   ldsm_b_nk), Pᵀ and dSᵀ = Pᵀ∘(dPᵀ − dvec) on the accumulators (16 keys × 32 queries), then
//   dV += Pᵀ·dO and dK += dSᵀ·Q with Pᵀ / dSᵀ reused as A (acc_to_a) and dO / Q as B by
//   ldsm_b_kn: exactly the forward's S → P → P·V pattern. dK is scaled by `scale` at the end.
// dQ: CTA = (b, h, 64-query block), warp w owns queries 16w .. 16w+15 (Q, dO fragments in
//   registers), loop over 32-key blocks (K, V double-buffered): S = Q·Kᵀ, dP = dO·Vᵀ, dS =
//   P∘(dP − dvec), dQ += dS·K (K by ldsm_b_kn), times `scale` at the end.
// Both store through the warp's own staged rows (store_rows), as the forward.
constexpr int kTcBwdBK = 64;  // dK/dV: keys per CTA; dQ: queries per CTA
constexpr int kTcBwdBS = 32;  // the inner loop's step (queries for dK/dV, keys for dQ)

template <typename T, int D>
constexpr size_t tc_bwd_smem_bytes() {
  // dK/dV: K, V [64][LDS] + Q, dO [2][32][LDS] + lse, dvec [2][32] floats;
  // dQ: Q, dO [64][LDS] + K, V [2][32][LDS] (+ the unused floats)
  return sizeof(T) * size_t(2 * kTcBwdBK + 4 * kTcBwdBS) * size_t(tc_lds(D)) + sizeof(float) * 4 * kTcBwdBS;
}

template <typename T, int D, bool VEC>
__device__ __forceinline__ void load_q_step(T* Qb, T* dOb, float* lse_b, float* dv_b, const T* qbase,
                                            const T* dobase, const float* __restrict__ lse_bh,
                                            const float* __restrict__ dvec_bh, int64_t i0, int64_t Lq, int64_t HD) {
  constexpr int BS = kTcBwdBS;
  tc_load_tile<T, BS, D, VEC>(Qb, qbase, i0, Lq, HD);
  tc_load_tile<T, BS, D, VEC>(dOb, dobase, i0, Lq, HD);
  if (threadIdx.x < BS) {
    const int64_t i = i0 + threadIdx.x;
    lse_b[threadIdx.x] = i < Lq ? lse_bh[i] * 1.4426950408889634f : 0.f;
    dv_b[threadIdx.x] = i < Lq ? dvec_bh[i] : 0.f;
  }
}

template <typename T, int D, bool VEC>
__global__ void __launch_bounds__(kTcThreads) attn_bwd_dkdv_tc_kernel(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ dout,
    const float* __restrict__ lse, const float* __restrict__ dvec, T* __restrict__ dk, T* __restrict__ dv, int64_t H,
    int64_t Lq, int64_t Lk, float scale, float scale_log2, bool causal, int64_t nkb, int64_t tasks) {
  constexpr int BK = kTcBwdBK, BS = kTcBwdBS, DP = tc_dp(D), KC = DP / 16, DN = D / 8, LDS = tc_lds(D);
  static_assert(D % 8 == 0 && DN >= 2, "head dim must be a multiple of 8, at least 16");
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* Ks = reinterpret_cast<T*>(tc_smem);                    // [BK][LDS]
  T* Vs = Ks + BK * LDS;                                    // [BK][LDS]
  T* Qs = Vs + BK * LDS;                                    // [2][BS][LDS]
  T* dOs = Qs + 2 * BS * LDS;                               // [2][BS][LDS]
  float* lse_s = reinterpret_cast<float*>(dOs + 2 * BS * LDS);  // [2][BS], log2 units
  float* dv_s = lse_s + 2 * BS;                                 // [2][BS]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, tg = lane & 3;
  const int64_t HD = H * D;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t kb = task % nkb, bh = task / nkb, b = bh / H, h = bh % H;
    const int64_t j0 = kb * BK;
    const int64_t qoff = b * Lq * HD + h * D, koff = b * Lk * HD + h * D;
    const int64_t qstart = causal ? (j0 / BS) * BS : 0;  // causal: queries before j0 see none of these keys
    const int nsteps = qstart < Lq ? int((Lq - qstart + BS - 1) / BS) : 0;

    __syncthreads();  // the previous task is done with every buffer
    tc_load_tile<T, BK, D, VEC>(Ks, k + koff, j0, Lk, HD);
    tc_load_tile<T, BK, D, VEC>(Vs, v + koff, j0, Lk, HD);
    if (nsteps > 0)
      load_q_step<T, D, VEC>(Qs, dOs, lse_s, dv_s, q + qoff, dout + qoff, lse + bh * Lq, dvec + bh * Lq, qstart, Lq,
                             HD);
    cp_async_commit();

    float dka[DN][4], dva[DN][4];
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
#pragma unroll
      for (int e = 0; e < 4; ++e) dka[dn][e] = dva[dn][e] = 0.f;

    for (int n = 0; n < nsteps; ++n) {
      const int buf = n & 1;
      const int64_t i0 = qstart + int64_t(n) * BS;
      if (n + 1 < nsteps) {
        load_q_step<T, D, VEC>(Qs + (buf ^ 1) * BS * LDS, dOs + (buf ^ 1) * BS * LDS, lse_s + (buf ^ 1) * BS,
                               dv_s + (buf ^ 1) * BS, q + qoff, dout + qoff, lse + bh * Lq, dvec + bh * Lq, i0 + BS,
                               Lq, HD);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      const T* Qb = Qs + buf * BS * LDS;
      const T* dOb = dOs + buf * BS * LDS;
      const float* lse_b = lse_s + buf * BS;
      const float* dv_b = dv_s + buf * BS;

      // Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ: 16 keys (rows) × 32 queries (4 n-tiles)
      float s[4][4], dp[4][4];
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        uint32_t ka[4], va[4];
        ldsm_a<LDS>(ka, Ks, warp * 16, kc * 16, lane);
        ldsm_a<LDS>(va, Vs, warp * 16, kc * 16, lane);
#pragma unroll
        for (int np = 0; np < 2; ++np) {
          uint32_t qb[4], ob[4];
          ldsm_b_nk<LDS>(qb, Qb, np * 16, kc * 16, lane);
          ldsm_b_nk<LDS>(ob, dOb, np * 16, kc * 16, lane);
          mma16816<T>(s[2 * np], ka, qb[0], qb[1]);
          mma16816<T>(s[2 * np + 1], ka, qb[2], qb[3]);
          mma16816<T>(dp[2 * np], va, ob[0], ob[1]);
          mma16816<T>(dp[2 * np + 1], va, ob[2], ob[3]);
        }
      }
      // element e of tile nt: key j0 + 16warp + g + 8(e >> 1), query i0 + 8nt + 2tg + (e & 1)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ii = nt * 8 + 2 * tg + (e & 1);
          const int64_t j = j0 + warp * 16 + g + 8 * (e >> 1), i = i0 + ii;
          const bool valid = j < Lk && i < Lq && !(causal && j > i);
          const float p = valid ? exp2f(s[nt][e] * scale_log2 - lse_b[ii]) : 0.f;
          s[nt][e] = p;
          dp[nt][e] = p * (dp[nt][e] - dv_b[ii]);
        }
      // dV += Pᵀ·dO, dK += dSᵀ·Q over 2 query chunks of 16
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        uint32_t pa[4], da[4];
        acc_to_a<T>(pa, s[2 * kk], s[2 * kk + 1]);
        acc_to_a<T>(da, dp[2 * kk], dp[2 * kk + 1]);
        mma_a_kn<T, LDS, DN>(dva, pa, dOb, kk * 16, lane);
        mma_a_kn<T, LDS, DN>(dka, da, Qb, kk * 16, lane);
      }
      __syncthreads();  // everyone is done with buffer buf before step n + 1 refills it
    }
    cp_async_wait<0>();  // nsteps == 0: the K/V group
    __syncthreads();     // ... of every thread, before the staging below overwrites K/V rows

    // this warp's K and V rows were read only by this warp (ldsm_a): they stage dK and dV
    const float mk[2] = {scale, scale}, mv[2] = {1.f, 1.f};
    store_rows<T, LDS, DN, VEC>(dka, mk, Ks + warp * 16 * LDS, dk + koff, j0 + warp * 16, Lk, HD, lane);
    store_rows<T, LDS, DN, VEC>(dva, mv, Vs + warp * 16 * LDS, dv + koff, j0 + warp * 16, Lk, HD, lane);
  }
}

template <typename T, int D, bool VEC>
__global__ void __launch_bounds__(kTcThreads) attn_bwd_dq_tc_kernel(
    const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, const T* __restrict__ dout,
    const float* __restrict__ lse, const float* __restrict__ dvec, T* __restrict__ dq, int64_t H, int64_t Lq,
    int64_t Lk, float scale, float scale_log2, bool causal, int64_t nqb, int64_t tasks) {
  constexpr int BQ = kTcBwdBK, BS = kTcBwdBS, DP = tc_dp(D), KC = DP / 16, DN = D / 8, LDS = tc_lds(D);
  static_assert(D % 8 == 0 && DN >= 2, "head dim must be a multiple of 8, at least 16");
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* Qs = reinterpret_cast<T*>(tc_smem);  // [BQ][LDS]
  T* dOs = Qs + BQ * LDS;                 // [BQ][LDS]
  T* Ks = dOs + BQ * LDS;                 // [2][BS][LDS]
  T* Vs = Ks + 2 * BS * LDS;              // [2][BS][LDS]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, tg = lane & 3;
  const int64_t HD = H * D;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t qbi = task % nqb, bh = task / nqb, b = bh / H, h = bh % H;
    const int64_t qb = causal ? nqb - 1 - qbi : qbi;
    const int64_t i0 = qb * BQ;
    const int64_t qoff = b * Lq * HD + h * D, koff = b * Lk * HD + h * D;
    const int64_t kend = causal ? (i0 + BQ < Lk ? i0 + BQ : Lk) : Lk;
    const int nsteps = int((kend + BS - 1) / BS);  // >= 1

    __syncthreads();  // the previous task is done with every buffer
    tc_load_tile<T, BQ, D, VEC>(Qs, q + qoff, i0, Lq, HD);
    tc_load_tile<T, BQ, D, VEC>(dOs, dout + qoff, i0, Lq, HD);
    tc_load_tile<T, BS, D, VEC>(Ks, k + koff, 0, Lk, HD);
    tc_load_tile<T, BS, D, VEC>(Vs, v + koff, 0, Lk, HD);
    cp_async_commit();

    float lse_r[2], dv_r[2];  // rows g and g + 8 of this warp (lse in log2 units)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t i = i0 + warp * 16 + g + 8 * r;
      lse_r[r] = i < Lq ? lse[bh * Lq + i] * 1.4426950408889634f : 0.f;
      dv_r[r] = i < Lq ? dvec[bh * Lq + i] : 0.f;
    }
    uint32_t qf[KC][4], of[KC][4];
    float dqa[DN][4];
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
#pragma unroll
      for (int e = 0; e < 4; ++e) dqa[dn][e] = 0.f;

    for (int n = 0; n < nsteps; ++n) {
      const int buf = n & 1;
      const int64_t j0 = int64_t(n) * BS;
      if (n + 1 < nsteps) {
        tc_load_tile<T, BS, D, VEC>(Ks + (buf ^ 1) * BS * LDS, k + koff, j0 + BS, Lk, HD);
        tc_load_tile<T, BS, D, VEC>(Vs + (buf ^ 1) * BS * LDS, v + koff, j0 + BS, Lk, HD);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      if (n == 0) {
#pragma unroll
        for (int kc = 0; kc < KC; ++kc) {
          ldsm_a<LDS>(qf[kc], Qs, warp * 16, kc * 16, lane);
          ldsm_a<LDS>(of[kc], dOs, warp * 16, kc * 16, lane);
        }
      }
      const T* Kb = Ks + buf * BS * LDS;
      const T* Vb = Vs + buf * BS * LDS;

      // S = Q·Kᵀ, dP = dO·Vᵀ: 16 queries × 32 keys (4 n-tiles)
      float s[4][4], dp[4][4];
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
#pragma unroll
        for (int np = 0; np < 2; ++np) {
          uint32_t kr[4], vr[4];
          ldsm_b_nk<LDS>(kr, Kb, np * 16, kc * 16, lane);
          ldsm_b_nk<LDS>(vr, Vb, np * 16, kc * 16, lane);
          mma16816<T>(s[2 * np], qf[kc], kr[0], kr[1]);
          mma16816<T>(s[2 * np + 1], qf[kc], kr[2], kr[3]);
          mma16816<T>(dp[2 * np], of[kc], vr[0], vr[1]);
          mma16816<T>(dp[2 * np + 1], of[kc], vr[2], vr[3]);
        }
      }
      // element e of tile nt: query i0 + 16warp + g + 8(e >> 1), key j0 + 8nt + 2tg + (e & 1)
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t i = i0 + warp * 16 + g + 8 * (e >> 1), j = j0 + nt * 8 + 2 * tg + (e & 1);
          const bool valid = j < Lk && i < Lq && !(causal && j > i);
          const float p = valid ? exp2f(s[nt][e] * scale_log2 - lse_r[e >> 1]) : 0.f;
          dp[nt][e] = p * (dp[nt][e] - dv_r[e >> 1]);
        }
      // dQ += dS·K over 2 key chunks of 16
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        uint32_t da[4];
        acc_to_a<T>(da, dp[2 * kk], dp[2 * kk + 1]);
        mma_a_kn<T, LDS, DN>(dqa, da, Kb, kk * 16, lane);
      }
      __syncthreads();
    }

    const float mq[2] = {scale, scale};
    store_rows<T, LDS, DN, VEC>(dqa, mq, Qs + warp * 16 * LDS, dq + qoff, i0 + warp * 16, Lq, HD, lane);
  }
}

template <typename T, int D>
void launch_bwd_tc(const void* q, const void* k, const void* v, const void* dout, const float* lse,
                   const float* dvec, void* dq, void* dk, void* dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                   float scale, bool causal, int device) {
  constexpr size_t smem = tc_bwd_smem_bytes<T, D>();
  const uintptr_t any = reinterpret_cast<uintptr_t>(q) | reinterpret_cast<uintptr_t>(k) |
                        reinterpret_cast<uintptr_t>(v) | reinterpret_cast<uintptr_t>(dout) |
                        reinterpret_cast<uintptr_t>(dq) | reinterpret_cast<uintptr_t>(dk) |
                        reinterpret_cast<uintptr_t>(dv);
  const bool vec = (any & 15u) == 0;
  auto kdkdv = vec ? attn_bwd_dkdv_tc_kernel<T, D, true> : attn_bwd_dkdv_tc_kernel<T, D, false>;
  auto kdq = vec ? attn_bwd_dq_tc_kernel<T, D, true> : attn_bwd_dq_tc_kernel<T, D, false>;
  allow_dynamic_smem(kdkdv, smem, device, "cudaFuncSetAttribute (attention backward dk/dv tensor-core shared memory)");
  allow_dynamic_smem(kdq, smem, device, "cudaFuncSetAttribute (attention backward dq tensor-core shared memory)");
  const int64_t cap = int64_t(sm_count(device)) * 32;
  const int64_t nkb = (Lk + kTcBwdBK - 1) / kTcBwdBK, nqb = (Lq + kTcBwdBK - 1) / kTcBwdBK;
  const int64_t tk = B * H * nkb, tq = B * H * nqb;
  const float scale_log2 = float(double(scale) * 1.4426950408889634);
  cudaStream_t st = stream(device);
  const T *qp = static_cast<const T*>(q), *kp = static_cast<const T*>(k), *vp = static_cast<const T*>(v),
          *dop = static_cast<const T*>(dout);
  kdkdv<<<int(tk < cap ? tk : cap), kTcThreads, smem, st>>>(qp, kp, vp, dop, lse, dvec, static_cast<T*>(dk),
                                                             static_cast<T*>(dv), H, Lq, Lk, scale, scale_log2,
                                                             causal, nkb, tk);
  check_launch("attention_backward (dk, dv; tensor cores)");
  kdq<<<int(tq < cap ? tq : cap), kTcThreads, smem, st>>>(qp, kp, vp, dop, lse, dvec, static_cast<T*>(dq), H, Lq,
                                                           Lk, scale, scale_log2, causal, nqb, tq);
  check_launch("attention_backward (dq; tensor cores)");
}

template <typename T, int D>
void launch_fwd_tc(const void* q, const void* k, const void* v, void* out, float* lse, int64_t B, int64_t H,
                   int64_t Lq, int64_t Lk, float scale, bool causal, int device) {
  const int64_t nqb = (Lq + kTcBQ - 1) / kTcBQ, tasks = B * H * nqb;
  constexpr size_t smem = tc_smem_bytes<T, D>();
  // 16-byte chunks: row starts are (b·L + row)·H·D + h·D elements, D % 8 == 0, so the pointers'
  // alignment decides.
  const bool vec = ((reinterpret_cast<uintptr_t>(q) | reinterpret_cast<uintptr_t>(k) |
                     reinterpret_cast<uintptr_t>(v) | reinterpret_cast<uintptr_t>(out)) & 15u) == 0;
  auto kernel = vec ? attn_fwd_tc_kernel<T, D, true> : attn_fwd_tc_kernel<T, D, false>;
  allow_dynamic_smem(kernel, smem, device, "cudaFuncSetAttribute (attention forward tensor-core shared memory)");
  const int64_t cap = int64_t(sm_count(device)) * 32;
  const int grid = int(tasks < cap ? tasks : cap);
  const float scale_log2 = float(double(scale) * 1.4426950408889634);
  kernel<<<grid, kTcThreads, smem, stream(device)>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                                      static_cast<const T*>(v), static_cast<T*>(out), lse, H, Lq,
                                                      Lk, scale_log2, causal, nqb, tasks);
  check_launch("attention_forward (tensor cores)");
}

// Calls f(T{}, std::integral_constant<int, D>{}) for the tensor-core dtypes and head dims.
template <typename F>
void dispatch_tc(DType dt, int64_t D, const char* op, F&& f) {
  auto with_d = [&](auto tag) {
    switch (D) {
      case 32: return f(tag, std::integral_constant<int, 32>{});
      case 40: return f(tag, std::integral_constant<int, 40>{});
      case 64: return f(tag, std::integral_constant<int, 64>{});
      case 80: return f(tag, std::integral_constant<int, 80>{});
      case 96: return f(tag, std::integral_constant<int, 96>{});
      case 128: return f(tag, std::integral_constant<int, 128>{});
      case 160: return f(tag, std::integral_constant<int, 160>{});
      default: fail(op, ": the tensor-core kernel has no head dim ", D);
    }
  };
  if (dt == DType::F16) return with_d(__half{});
  if (dt == DType::BF16) return with_d(__nv_bfloat16{});
  fail(op, ": the tensor-core kernel has no ", dtype_name(dt));
}

}  // namespace

size_t attention_tc_smem(int64_t D, bool backward) {
  // tc_smem_bytes / tc_bwd_smem_bytes at run time (float16 and bfloat16 are both 2-byte elements)
  const size_t lds = size_t(tc_lds(int(D)));
  return backward ? 2 * size_t(2 * kTcBwdBK + 4 * kTcBwdBS) * lds + sizeof(float) * 4 * kTcBwdBS
                  : 2 * size_t(kTcBQ + 4 * kTcBK) * lds;
}
static_assert(tc_smem_bytes<__half, 160>() == 2 * size_t(kTcBQ + 4 * kTcBK) * size_t(tc_lds(160)),
              "attention_tc_smem must mirror tc_smem_bytes");

bool attention_tc_supported(DType dt, int64_t D) {
  if (dt != DType::F16 && dt != DType::BF16) return false;
  switch (D) {
    case 32: case 40: case 64: case 80: case 96: case 128: case 160: return true;
    default: return false;
  }
}

void attention_forward_tc(DType dt, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                          int64_t H, int64_t Lq, int64_t Lk, int64_t D, float scale, bool causal, int device) {
  if (B <= 0 || H <= 0 || Lq <= 0 || D <= 0 || Lk <= 0) return;
  dispatch_tc(dt, D, "attention", [&](auto tag, auto dc) {
    launch_fwd_tc<decltype(tag), decltype(dc)::value>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
  });
}

void attention_backward_tc(DType dt, const void* q, const void* k, const void* v, const void* dout, const float* lse,
                           const float* dvec, void* dq, void* dk, void* dv, int64_t B, int64_t H, int64_t Lq,
                           int64_t Lk, int64_t D, float scale, bool causal, int device) {
  if (B <= 0 || H <= 0 || Lq <= 0 || D <= 0 || Lk <= 0) return;
  dispatch_tc(dt, D, "attentionBackward", [&](auto tag, auto dc) {
    launch_bwd_tc<decltype(tag), decltype(dc)::value>(q, k, v, dout, lse, dvec, dq, dk, dv, B, H, Lq, Lk, scale,
                                                      causal, device);
  });
}

}  // namespace ie::cuda
