// SGEMM in the GotoBLAS/BLIS style. C is cut into per-thread rectangles; each thread runs a
// blocked serial GEMM on its rectangle:
//
//   for jc (NC columns of C)          B block KC x NC packed into NR-wide panels (L2/L3)
//     for pc (KC of the inner dim)    first pass applies the caller's beta, later ones add
//       for ic (MC rows of C)         A block MC x KC packed into MR-tall panels (L2)
//         for jr, ir                  microkernel: MR x NR tile of C in registers
//
// Packed panels are zero-padded to full MR / NR, so the microkernel always runs full tiles of
// the inner loop; only its store is clipped at the edges of C. Packing also absorbs the
// transposes: the microkernel sees one layout whatever transA / transB are.
#include "cpu/gemm.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "cpu/scratch.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

// Register tile (MR x NR) and cache blocks, per ISA.
// KC x NR floats of B and MR x KC of A are streamed from L2 by the microkernel; the MC x KC block
// of A (~250 KiB) stays in L2, the KC x NC block of B (3 MiB) in L3.
#if defined(__AVX512F__)
// 28 zmm accumulators + 2 for B + 1 broadcast of A: 31 of 32 registers.
constexpr int MR = 14, NR = 32;
constexpr int64_t KC = 384, MC = 14 * 12, NC = 2048;
#elif defined(__AVX2__)
// 12 ymm accumulators + 2 for B + 1 broadcast: 15 of 16 registers.
constexpr int MR = 6, NR = 16;
constexpr int64_t KC = 384, MC = 6 * 28, NC = 2048;
#else
constexpr int MR = 4, NR = 16;
constexpr int64_t KC = 256, MC = 4 * 32, NC = 2048;
#endif

thread_local Scratch t_pack_a, t_pack_b;  // see cpu/scratch.h

// ---- packing ---------------------------------------------------------------------------------

// dst[k * width + i] = src[i * ld + k] for i < rows, 0 for rows <= i < width (k < kc): the
// transposing copy behind both "A not transposed" and "B transposed".
void transpose_pack(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst) {
  int64_t k0 = 0;
#if defined(__AVX2__)
  // 8 x 8 blocks transposed in registers; the last group of a 14- or 6-wide panel is stored
  // with a mask.
  for (; k0 + 8 <= kc; k0 += 8)
    for (int g = 0; g < width; g += 8) {
      __m256 t[8];
      for (int i = 0; i < 8; ++i) {
        if (g + i < rows) {
          // Rows are far apart (often in DRAM): fetch a few blocks ahead of the transposes.
          _mm_prefetch(reinterpret_cast<const char*>(src + (g + i) * ld + k0 + 64), _MM_HINT_T0);
          t[i] = _mm256_loadu_ps(src + (g + i) * ld + k0);
        } else {
          t[i] = _mm256_setzero_ps();
        }
      }
      __m256 a0 = _mm256_unpacklo_ps(t[0], t[1]), a1 = _mm256_unpackhi_ps(t[0], t[1]);
      __m256 a2 = _mm256_unpacklo_ps(t[2], t[3]), a3 = _mm256_unpackhi_ps(t[2], t[3]);
      __m256 a4 = _mm256_unpacklo_ps(t[4], t[5]), a5 = _mm256_unpackhi_ps(t[4], t[5]);
      __m256 a6 = _mm256_unpacklo_ps(t[6], t[7]), a7 = _mm256_unpackhi_ps(t[6], t[7]);
      __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
      __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
      __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xEE);
      __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xEE);
      // column k0 + j of the block, for rows g..g+7
      __m256 col[8] = {_mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b1, b5, 0x20),
                       _mm256_permute2f128_ps(b2, b6, 0x20), _mm256_permute2f128_ps(b3, b7, 0x20),
                       _mm256_permute2f128_ps(b0, b4, 0x31), _mm256_permute2f128_ps(b1, b5, 0x31),
                       _mm256_permute2f128_ps(b2, b6, 0x31), _mm256_permute2f128_ps(b3, b7, 0x31)};
      float* d = dst + k0 * width + g;
      if (width - g >= 8) {
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(d + j * width, col[j]);
      } else {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - g), lane);
        for (int j = 0; j < 8; ++j) _mm256_maskstore_ps(d + j * width, mask, col[j]);
      }
    }
#endif
  for (int64_t k = k0; k < kc; ++k)
    for (int i = 0; i < width; ++i) dst[k * width + i] = i < rows ? src[i * ld + k] : 0.f;
}

// dst[k * width + i] = src[k * ld + i] for i < cols, 0 up to width: the plain panel copy.
void copy_pack(const float* src, int64_t ld, int cols, int width, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* s = src + k * ld;
    float* d = dst + k * width;
    if (cols == width) {
      std::memcpy(d, s, size_t(width) * sizeof(float));
    } else {
      int i = 0;
      for (; i < cols; ++i) d[i] = s[i];
      for (; i < width; ++i) d[i] = 0.f;
    }
  }
}

// op(A)[0:mc, 0:kc] -> MR-row panels; panel r holds, for each k, MR consecutive values (rows past
// mc are zero). `a` points at op(A)(0, 0).
void pack_a(bool transA, const float* a, int64_t lda, int64_t mc, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    int mr = int(mc - i0 < MR ? mc - i0 : MR);
    if (transA)
      copy_pack(a + i0, lda, mr, MR, kc, dst);  // A stored [K, M]
    else
      transpose_pack(a + i0 * lda, lda, mr, MR, kc, dst);  // A stored [M, K]
  }
}

// op(B)[0:kc, 0:nc] -> NR-column panels; panel j holds, for each k, NR consecutive values
// (columns past nc are zero). `b` points at op(B)(0, 0).
void pack_b(bool transB, const float* b, int64_t ldb, int64_t kc, int64_t nc, float* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    int nr = int(nc - j0 < NR ? nc - j0 : NR);
    if (transB)
      transpose_pack(b + j0 * ldb, ldb, nr, NR, kc, dst);  // B stored [N, K]
    else
      copy_pack(b + j0, ldb, nr, NR, kc, dst);  // B stored [K, N]
  }
}

template <int N>
struct KernelRow {
  void (*fns[N])(int64_t, const float*, const float*, float*, int64_t, int, float, float);
};
// ---- microkernels ----------------------------------------------------------------------------
// C[0:ROWS, 0:nr] = alpha * Apanel * Bpanel + beta * C  (beta == 0: C is not read).
// ROWS <= MR is a template parameter so short edge panels (and small M) skip the zero rows.

// Writes a finished tile held in `t` (ROWS x NR, row stride NR) to C, clipped to nr columns.
template <int ROWS>
inline void store_tile_clipped(const float* t, float* c, int64_t ldc, int nr, float alpha, float beta) {
  for (int i = 0; i < ROWS; ++i) {
    float* ci = c + i * ldc;
    const float* ti = t + i * NR;
    if (beta == 0.f)
      for (int j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
    else
      for (int j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
  }
}

#if defined(__AVX512F__) || defined(__AVX2__)
#if defined(__AVX512F__)
using V = __m512;
constexpr int VW = 16;  // floats per vector
inline V vzero() { return _mm512_setzero_ps(); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vload(const float* p) { return _mm512_load_ps(p); }
inline V vloadu(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm512_store_ps(p, x); }
inline void vstoreu(float* p, V x) { _mm512_storeu_ps(p, x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
#else
using V = __m256;
constexpr int VW = 8;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vload(const float* p) { return _mm256_load_ps(p); }
inline V vloadu(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm256_store_ps(p, x); }
inline void vstoreu(float* p, V x) { _mm256_storeu_ps(p, x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
#endif
constexpr int NV_MAX = NR / VW;

// ROWS x (NV vectors) tile; NV < NV_MAX serves the last, narrow column panel (e.g. N = 40 is
// 32 + one 16-wide vector instead of 32 + 32).
template <int ROWS, int NV>
void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc, int nr,
             float alpha, float beta) {
  V acc[ROWS][NV];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = vzero();
    // The C tile is needed only after the k loop: start fetching it now.
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * VW - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + v * VW);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
      V ai = vset1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = vfma(ai, bv[v], acc[i][v]);
    }
  }
  const V va = vset1(alpha), vb = vset1(beta);
  if (nr == NV * VW) {
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
      float* ci = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        if (beta == 0.f)
          vstoreu(ci + v * VW, vmul(va, acc[i][v]));
        else
          vstoreu(ci + v * VW, vfma(va, acc[i][v], vmul(vb, vloadu(ci + v * VW))));
      }
    }
  } else {
    alignas(64) float t[ROWS * NR];
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) vstore(t + i * NR + v * VW, acc[i][v]);
    store_tile_clipped<ROWS>(t, c, ldc, nr, alpha, beta);
  }
}
#else
// Portable: the compiler vectorises the j loops for the baseline ISA.
constexpr int VW = NR, NV_MAX = 1;
template <int ROWS, int NV>
void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc, int nr,
             float alpha, float beta) {
  float t[ROWS * NR];
  for (int i = 0; i < ROWS * NR; ++i) t[i] = 0.f;
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR)
    for (int i = 0; i < ROWS; ++i) {
      float ai = a[i];
      for (int j = 0; j < NR; ++j) t[i * NR + j] += ai * b[j];
    }
  store_tile_clipped<ROWS>(t, c, ldc, nr, alpha, beta);
}
#endif

using Kernel = void (*)(int64_t, const float*, const float*, float*, int64_t, int, float, float);

// kTable.rows[nv - 1].fns[rows - 1] computes a rows x (nv vectors) tile.
struct KernelTableT {
  KernelRow<MR> rows[NV_MAX];
};
template <int NV, int... I>
constexpr KernelRow<sizeof...(I)> kernel_row(std::integer_sequence<int, I...>) {
  return {{&ukernel<I + 1, NV>...}};
}
template <int... V>
constexpr KernelTableT kernel_table(std::integer_sequence<int, V...>) {
  return {{kernel_row<V + 1>(std::make_integer_sequence<int, MR>())...}};
}
constexpr KernelTableT kTable = kernel_table(std::make_integer_sequence<int, NV_MAX>());

inline Kernel pick_kernel(int rows, int nr) {
  int nv = (nr + VW - 1) / VW;
  return kTable.rows[nv - 1].fns[rows - 1];
}

// ---- serial blocked GEMM on one rectangle of C -------------------------------------------------
// a = op(A)(0,0), b = op(B)(0,0); M, N, K > 0.
void gemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const int64_t kc_max = K < KC ? K : KC;
  const int64_t nc_max = N < NC ? N : NC;
  const int64_t mc_max = M < MC ? M : MC;
  float* bp = t_pack_b.get(size_t(kc_max * ((nc_max + NR - 1) / NR) * NR));
  float* ap = t_pack_a.get(size_t(kc_max * ((mc_max + MR - 1) / MR) * MR));
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = N - jc < NC ? N - jc : NC;
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = K - pc < KC ? K - pc : KC;
      float beta_eff = pc == 0 ? beta : 1.f;
      pack_b(transB, transB ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = M - ic < MC ? M - ic : MC;
        pack_a(transA, transA ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int nr = int(nc - jr < NR ? nc - jr : NR);
          const float* bpanel = bp + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int mr = int(mc - ir < MR ? mc - ir : MR);
            pick_kernel(mr, nr)(kc, ap + ir * kc, bpanel, c + (ic + ir) * ldc + jc + jr, ldc, nr, alpha, beta_eff);
          }
        }
      }
    }
  }
}

// ---- few rows (M <= kSmallM): matrix-vector-like, bandwidth-bound on B --------------------------
// Packing B would read and write it once more than the product itself, so B is read in place, as
// long contiguous runs. Computes columns [j0, j1) of C; op(A) must be A itself (rows read along k).
// The plain loops vectorise for each ISA.
constexpr int64_t kSmallM = 4;

void small_m_cols(bool transB, int64_t M, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc, int64_t j0, int64_t j1) {
  const int64_t nb = j1 - j0;
  auto finish = [&](int64_t m, int64_t j, float v) {
    float* c = C + m * ldc + j;
    *c = beta == 0.f ? alpha * v : alpha * v + beta * *c;
  };
  if (!transB) {
    // Rows of B stream by: acc[m, :] += A(m, k) * B[k, j0:j1]; acc (M x nb) stays in L1/L2.
    float* acc = t_pack_a.get(size_t(M * nb));
    for (int64_t i = 0; i < M * nb; ++i) acc[i] = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float* brow = B + k * ldb + j0;
      for (int64_t m = 0; m < M; ++m) {
        const float a = A[m * lda + k];
        float* am = acc + m * nb;
        for (int64_t j = 0; j < nb; ++j) am[j] += a * brow[j];
      }
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < nb; ++j) finish(m, j0 + j, acc[m * nb + j]);
  } else {
    // Column j of op(B) is row j of B: dot products along k, 16 partial sums each.
    for (int64_t j = j0; j < j1; ++j) {
      const float* bcol = B + j * ldb;
      for (int64_t m = 0; m < M; ++m) {
        const float* arow = A + m * lda;
        float part[16] = {};
        int64_t k = 0;
        for (; k + 16 <= K; k += 16)
          for (int u = 0; u < 16; ++u) part[u] += arow[k + u] * bcol[k + u];
        for (; k < K; ++k) part[k & 15] += arow[k] * bcol[k];
        float sum = 0.f;
        for (int u = 0; u < 16; ++u) sum += part[u];
        finish(m, j, sum);
      }
    }
  }
}

// C = beta * C for the degenerate cases (K == 0 or alpha == 0).
void scale_c(int64_t M, int64_t N, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.f)
      for (int64_t j = 0; j < N; ++j) ci[j] = 0.f;
    else if (beta != 1.f)
      for (int64_t j = 0; j < N; ++j) ci[j] *= beta;
  }
}

// How to cut C among `t` threads: tm row groups x tn column groups (tm * tn == t), counted in
// MR x NR tiles. Picks the split with the least work on the busiest thread; ties go to splitting
// rows. (Each thread packs its own copy of the B panels it needs, so no barrier is needed.)
void choose_split(int64_t M, int64_t N, int t, int* tm, int* tn) {
  int64_t mp = (M + MR - 1) / MR, np = (N + NR - 1) / NR;
  int64_t best = -1;
  for (int d = t; d >= 1; --d) {
    if (t % d) continue;
    int e = t / d;
    int64_t work = ((mp + d - 1) / d) * ((np + e - 1) / e);
    if (best < 0 || work < best) best = work, *tm = d, *tn = e;
  }
}

// Range [b, e) of piece p of `parts` near-equal pieces of `units` blocks of `unit` elements,
// clipped to total.
inline void piece(int64_t units, int64_t unit, int64_t total, int parts, int p, int64_t* b, int64_t* e) {
  *b = units * p / parts * unit;
  *e = units * (p + 1) / parts * unit;
  if (*e > total) *e = total;
  if (*b > total) *b = total;
}

struct GemmArgs {
  bool transA, transB;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
};

// Part p of the (tm x tn) split of one GEMM.
void gemm_part(const GemmArgs& g, int tm, int tn, int p) {
  int64_t m0, m1, n0, n1;
  piece((g.M + MR - 1) / MR, MR, g.M, tm, p / tn, &m0, &m1);
  piece((g.N + NR - 1) / NR, NR, g.N, tn, p % tn, &n0, &n1);
  if (m0 >= m1 || n0 >= n1) return;
  const float* a = g.transA ? g.A + m0 : g.A + m0 * g.lda;
  const float* b = g.transB ? g.B + n0 * g.ldb : g.B + n0;
  gemm_serial(g.transA, g.transB, m1 - m0, n1 - n0, g.K, g.alpha, a, g.lda, b, g.ldb, g.beta,
              g.C + m0 * g.ldc + n0, g.ldc);
}

// Threads worth using for a GEMM of this size (thread start-up is a few microseconds).
int threads_for(int64_t M, int64_t N, int64_t K, int64_t batch) {
  double flops = 2.0 * double(M) * double(N) * double(K) * double(batch);
  int t = num_threads();
  if (flops < 4e5) return 1;
  return t;
}

}  // namespace

void sgemm_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta, float* C,
                   int64_t ldc, int64_t strideC, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    parallel_for(batch * M, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) scale_c(1, N, beta, C + (r / M) * strideC + (r % M) * ldc, ldc);
    });
    return;
  }
  if (M <= kSmallM && !transA) {
    // Columns split evenly over the threads (per GEMM), in multiples of 16.
    const int parts = threads_for(M, N, K, batch) > 1 && N >= 64 ? num_threads() : 1;
    parallel_for(batch * parts, 1, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        int64_t i = item / parts, j0, j1;
        piece((N + 15) / 16, 16, N, parts, int(item % parts), &j0, &j1);
        if (j0 < j1)
          small_m_cols(transB, M, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta, C + i * strideC, ldc,
                       j0, j1);
      }
    });
    return;
  }
  // Work items: each GEMM is cut into `sub` parts, with sub chosen so that batch * sub spreads
  // evenly over the threads (e.g. 3 GEMMs on 2 threads -> 2 parts each, 3 items per thread).
  int t = threads_for(M, N, K, batch);
  int sub = 1;
  if (t > 1) {
    int64_t a = batch % t, g = t;
    while (a) {  // gcd(batch, t)
      int64_t r = g % a;
      g = a;
      a = r;
    }
    sub = int(t / g);
  }
  int tm = 1, tn = 1;
  choose_split(M, N, sub, &tm, &tn);
  parallel_for(batch * sub, 1, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      int64_t i = item / sub;
      GemmArgs g{transA, transB, M,   N,    K,   alpha, A + i * strideA, lda, B + i * strideB, ldb,
                 beta,   C + i * strideC, ldc};
      gemm_part(g, tm, tn, int(item % sub));
    }
  });
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_batched(transA, transB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

}  // namespace ie::cpu::IE_ISA
