// Flash-attention forward on tensor cores (FlashAttention-2 structure) for float16/bfloat16:
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
// What a faster version does (not yet): 128-query CTAs (8 warps) for D ≤ 64 so K/V tiles are
// reused by more rows, splitting the K and V cp.async groups (S = Q·Kᵀ starts while V lands),
// skipping the mask arithmetic of fully-visible blocks more finely, swizzled shared layouts instead
// of padding, wgmma + TMA on sm_90a, and a tensor-core backward (the backward is still SIMT).
#include <cstdint>
#include <cstring>

#include "cuda/attention_tc.cuh"
#include "cuda/common.cuh"

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

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- PTX wrappers ----
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void ldsm_x2_trans(uint32_t (&r)[2], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(addr)
               : "memory");
}

// d += A·B for one 16×8×16 tile; A and B 16-bit (T), d float32.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to T, `lo` in the low 16 bits (the lower column of an mma fragment pair).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &h, 4);
  return u;
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &h, 4);
  return u;
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
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
        for (int kc = 0; kc < KC; ++kc)
          ldsm_x4(qf[kc], smem_addr(Qs + (warp * 16 + (lane & 15)) * LDS + kc * 16 + (lane >> 4) * 8));
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
          ldsm_x4(kr, smem_addr(Kb + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kc * 16 +
                                ((lane >> 3) & 1) * 8));
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
        pa[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
        pa[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
        pa[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
        const T* vrow = Vb + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS;
#pragma unroll
        for (int dp = 0; dp < DN / 2; ++dp) {
          uint32_t vr[4];
          ldsm_x4_trans(vr, smem_addr(vrow + dp * 16 + (lane >> 4) * 8));
          mma16816<T>(o[2 * dp], pa, vr[0], vr[1]);
          mma16816<T>(o[2 * dp + 1], pa, vr[2], vr[3]);
        }
        if constexpr (DN % 2 == 1) {
          uint32_t vr[2];
          ldsm_x2_trans(vr, smem_addr(vrow + (DN - 1) * 8));  // lanes 0-15's addresses are used
          mma16816<T>(o[DN - 1], pa, vr[0], vr[1]);
        }
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
    T* stage = Qs + warp * 16 * LDS;
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        *reinterpret_cast<uint32_t*>(stage + (g + 8 * r) * LDS + dn * 8 + 2 * tg) =
            pack2<T>(o[dn][2 * r] * inv[r], o[dn][2 * r + 1] * inv[r]);
    __syncwarp();
    for (int c = lane; c < 16 * DN; c += 32) {
      const int r = c / DN, cc = c - r * DN;
      const int64_t i = i0 + warp * 16 + r;
      if (i >= Lq) continue;
      T* dst = out + (b * Lq + i) * HD + h * D + cc * 8;
      const T* src = stage + r * LDS + cc * 8;
      if constexpr (VEC) {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) dst[e] = src[e];
      }
    }
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
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
        "cudaFuncSetAttribute (attention forward tensor-core shared memory)");
  const int64_t cap = int64_t(sm_count(device)) * 32;
  const int grid = int(tasks < cap ? tasks : cap);
  const float scale_log2 = float(double(scale) * 1.4426950408889634);
  kernel<<<grid, kTcThreads, smem, stream(device)>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                                      static_cast<const T*>(v), static_cast<T*>(out), lse, H, Lq,
                                                      Lk, scale_log2, causal, nqb, tasks);
  check_launch("attention_forward (tensor cores)");
}

template <typename T>
void dispatch_tc_head_dim(int64_t D, const void* q, const void* k, const void* v, void* out, float* lse, int64_t B,
                          int64_t H, int64_t Lq, int64_t Lk, float scale, bool causal, int device) {
  switch (D) {
    case 32: return launch_fwd_tc<T, 32>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 40: return launch_fwd_tc<T, 40>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 64: return launch_fwd_tc<T, 64>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 80: return launch_fwd_tc<T, 80>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 96: return launch_fwd_tc<T, 96>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 128: return launch_fwd_tc<T, 128>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    case 160: return launch_fwd_tc<T, 160>(q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
    default: fail("attention: the tensor-core kernel has no head dim ", D);
  }
}

}  // namespace

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
  if (dt == DType::F16) return dispatch_tc_head_dim<__half>(D, q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
  if (dt == DType::BF16)
    return dispatch_tc_head_dim<__nv_bfloat16>(D, q, k, v, out, lse, B, H, Lq, Lk, scale, causal, device);
  fail("attention: the tensor-core kernel has no ", dtype_name(dt));
}

}  // namespace ie::cuda
