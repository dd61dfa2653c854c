#!/usr/bin/env python3
"""CPU emulator of the tensor-core flash-attention forward (native/src/cuda/attention_tc.cuh).

It runs the kernel's algorithm lane by lane: the same shared-memory tile layout (rows of LDS = DP + 8
16-bit elements, zero padding past D and past the sequence), the same per-lane ldmatrix row
addresses, the same register order into mma.m16n8k16, the S-accumulator -> P-A-operand register
reuse, the online softmax (row max/sum over the 4 lanes of a row, exp2 with log2(e)-prescaled
scores), and the same epilogue (out = O / l, lse = m·ln2 + log l, rows with nothing visible -> 0 and
-inf). ldmatrix and mma are emulated from their PTX ISA definitions (independently of the kernel's
index formulas), so a wrong lane/register mapping in the kernel's formulas shows up as a wrong result
against a float64 attention.

Sources of the fragment layouts (PTX ISA, "Warp Level Matrix Multiply-Accumulate Instructions"):
  * 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with floating point type" (A: a0..a7 in four
    .f16x2/.bf16x2 registers, row = groupID (+8 for a2,a3,a6,a7), col = 2·threadID_in_group +
    (i & 1) (+8 for i >= 4); B: b0..b3, row = 2·threadID_in_group + (i & 1) (+8 for i >= 2),
    col = groupID; C/D f32: c0..c3, row = groupID (+8 for c2,c3), col = 2·threadID_in_group + (i & 1)),
    groupID = laneid >> 2, threadID_in_group = laneid % 4.
  * 9.7.14.5.15 "ldmatrix": .m8n8 .x1/.x2/.x4: lanes 8·i .. 8·i+7 give the row addresses of
    matrix i (16 bytes per row); destination register i of lane l holds row l/4, elements
    2·(l%4), 2·(l%4)+1 of matrix i (low half = lower column); with .trans it holds elements
    [2·(l%4)][l/4] and [2·(l%4)+1][l/4] (the matrix transposed).
  (Read from the PTX ISA text, e.g. https://docs.nvidia.com/cuda/parallel-thread-execution/ ; the
  same layouts are used by FlashAttention-2 / CUTLASS SM80_16x8x16 MMA atoms.)

Run:  python3 tests/emulation/attention_mma_emu.py      (prints PASS/FAIL per case; exit 1 on FAIL)
Needs numpy; prints SKIP and exits 0 without it. A development aid, not part of npm test.
"""
import math
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("SKIP: numpy is not installed")
    sys.exit(0)

BQ = 64  # queries per CTA: 4 warps x 16 rows
BK = 64  # keys per block
NWARPS = 4
LANE = np.arange(32)
GROUP = LANE >> 2  # groupID
TIG = LANE & 3  # threadID_in_group
LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453


# ---------------------------------------------------------------------------------------------
# number formats
def round_f16(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def round_bf16(x):
    b = np.asarray(x, np.float32).copy().view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16  # round to nearest even (no NaN inputs here)
    return (b.astype(np.uint32)).view(np.float32)


# ---------------------------------------------------------------------------------------------
# PTX semantics (written from the ISA text, not from the kernel)
def ldmatrix(smem, row, col, num, trans, lds):
    """smem: 2-D float32 array [rows][lds] of 16-bit values; row/col: per-lane row address (int[32]).
    Returns regs[32][num][2] (low, high 16-bit halves)."""
    regs = np.zeros((32, num, 2), np.float32)
    for mi in range(num):
        m = np.zeros((8, 8), np.float32)
        for r in range(8):
            lane = 8 * mi + r
            rr, cc = int(row[lane]), int(col[lane])
            assert (rr * lds + cc) % 8 == 0, "ldmatrix row address not 16-byte aligned"
            assert 0 <= rr < smem.shape[0] and 0 <= cc and cc + 8 <= lds, "ldmatrix row out of the tile"
            m[r] = smem[rr, cc:cc + 8]
        for l in range(32):
            if not trans:
                regs[l, mi] = m[l // 4, 2 * (l % 4):2 * (l % 4) + 2]
            else:
                regs[l, mi] = (m[2 * (l % 4), l // 4], m[2 * (l % 4) + 1, l // 4])
    return regs


def mma_m16n8k16(a, b, c):
    """a: [32][4][2] (a0..a7 = reg i//2, half i%2), b: [32][2][2], c: [32][4] float32 -> d [32][4]."""
    A = np.full((16, 16), np.nan)
    B = np.full((16, 8), np.nan)
    C = np.full((16, 8), np.nan)
    for l in range(32):
        g, t = l >> 2, l & 3
        for i in range(8):
            row = g if (i < 2 or 4 <= i < 6) else g + 8
            col = 2 * t + (i & 1) + (8 if i >= 4 else 0)
            assert np.isnan(A[row, col])
            A[row, col] = a[l, i // 2, i % 2]
        for i in range(4):
            row = 2 * t + (i & 1) + (8 if i >= 2 else 0)
            assert np.isnan(B[row, g])
            B[row, g] = b[l, i // 2, i % 2]
        for i in range(4):
            row = g + (8 if i >= 2 else 0)
            col = 2 * t + (i & 1)
            C[row, col] = c[l, i]
    assert not (np.isnan(A).any() or np.isnan(B).any() or np.isnan(C).any())
    D = (A @ B + C).astype(np.float32)  # fp32 accumulation (exact products of 16-bit inputs)
    d = np.zeros((32, 4), np.float32)
    for l in range(32):
        g, t = l >> 2, l & 3
        for i in range(4):
            d[l, i] = D[g + (8 if i >= 2 else 0), 2 * t + (i & 1)]
    return d


# ---------------------------------------------------------------------------------------------
# the kernel, lane by lane (names as in attention_tc.cuh)
def load_tile(src, row0, L, D, DP, lds, rnd):
    """rows [row0, row0+R) of one head ([L][D] float array) -> [R][lds] tile; zeros past L / past D."""
    tile = np.zeros((BK, lds), np.float32)
    # 16-byte chunks of 8 elements, as the kernel's loader (D % 8 == 0)
    for c in range(BK * (DP // 8)):
        r, d0 = c // (DP // 8), (c % (DP // 8)) * 8
        if row0 + r < L and d0 < D:
            tile[r, d0:d0 + 8] = rnd(src[row0 + r, d0:d0 + 8])
    return tile


def kernel_forward(q, k, v, scale, causal, rnd, mutate=None):
    """q[Lq][D], k/v[Lk][D] (one (b, h)) -> out[Lq][D] (rounded), lse[Lq]."""
    Lq, D = q.shape
    Lk = k.shape[0]
    DP = (D + 15) // 16 * 16  # k-dim of Q·Kᵀ, padded with zeros
    KC = DP // 16  # 16-wide k chunks
    DN = D // 8  # 8-wide output column tiles (D % 8 == 0)
    lds = DP + 8
    scale_log2 = scale * LOG2E
    out = np.full((Lq, D), np.nan, np.float32)
    lse = np.full(Lq, np.nan, np.float32)
    nqb = (Lq + BQ - 1) // BQ
    for qb in range(nqb):
        i0 = qb * BQ
        Qs = load_tile(q, i0, Lq, D, DP, lds, rnd)
        kend = min(i0 + BQ, Lk) if causal else Lk
        nkb = (kend + BK - 1) // BK
        for w in range(NWARPS):
            # Q fragments: ldmatrix.x4 at row w·16 + (lane & 15), col kc·16 + (lane >> 4)·8
            qf = [ldmatrix(Qs, w * 16 + (LANE & 15), kc * 16 + (LANE >> 4) * 8, 4, False, lds)
                  for kc in range(KC)]
            m = np.full((32, 2), -np.inf, np.float32)  # running max (log2 units), rows g and g+8
            l = np.zeros((32, 2), np.float32)  # per-lane partial row sums
            o = np.zeros((32, DN, 4), np.float32)
            for kb in range(nkb):
                j0 = kb * BK
                Ks = load_tile(k, j0, Lk, D, DP, lds, rnd)
                Vs = load_tile(v, j0, Lk, D, DP, lds, rnd)
                # S = Q·Kᵀ: 8 key n-tiles; ldmatrix.x4 gives two n-tiles' b0b1/b2b3
                s = np.zeros((32, 8, 4), np.float32)
                for kc in range(KC):
                    for np_ in range(4):
                        kr = ldmatrix(Ks, np_ * 16 + (LANE & 7) + ((LANE >> 4) << 3),
                                      kc * 16 + ((LANE >> 3) & 1) * 8, 4, False, lds)
                        a = qf[kc].reshape(32, 4, 2)
                        s[:, 2 * np_] = mma_m16n8k16(a, kr[:, 0:2], s[:, 2 * np_])
                        s[:, 2 * np_ + 1] = mma_m16n8k16(a, kr[:, 2:4], s[:, 2 * np_ + 1])
                # scale, mask: element e of n-tile nt is row g + 8·(e >> 1), key j0 + nt·8 + 2t + (e & 1)
                x = np.zeros_like(s)
                for nt in range(8):
                    for e in range(4):
                        i = i0 + w * 16 + GROUP + 8 * (e >> 1)
                        j = j0 + nt * 8 + 2 * TIG + (e & 1)
                        val = (s[:, nt, e] * np.float32(scale_log2)).astype(np.float32)
                        masked = (j >= Lk) | (causal & (j > i))
                        x[:, nt, e] = np.where(masked, -np.inf, val)
                alpha = np.zeros((32, 2), np.float32)
                msub = np.zeros((32, 2), np.float32)
                for r in range(2):
                    mx = x[:, :, 2 * r:2 * r + 2].max(axis=(1, 2))
                    mx = np.maximum(mx, mx[LANE ^ 1])  # __shfl_xor_sync 1
                    mx = np.maximum(mx, mx[LANE ^ 2])  # __shfl_xor_sync 2
                    mnew = np.maximum(m[:, r], mx)
                    msub[:, r] = np.where(mnew == -np.inf, 0.0, mnew)
                    alpha[:, r] = np.exp2(m[:, r] - msub[:, r])
                    m[:, r] = mnew
                p = np.zeros_like(x)
                for e in range(4):
                    p[:, :, e] = np.exp2(x[:, :, e] - msub[:, e >> 1][:, None])
                for r in range(2):
                    l[:, r] = l[:, r] * alpha[:, r] + p[:, :, 2 * r:2 * r + 2].sum(axis=(1, 2))
                for e in range(4):
                    o[:, :, e] *= alpha[:, e >> 1][:, None]
                # P -> A operand of P·V for key chunk kk (keys 16kk..16kk+15 = n-tiles 2kk, 2kk+1):
                #   a0a1 = S[2kk] c0c1 (row g, keys 2t..), a2a3 = S[2kk] c2c3 (row g+8),
                #   a4a5 = S[2kk+1] c0c1 (row g, keys 8+2t..), a6a7 = S[2kk+1] c2c3 (row g+8).
                for kk in range(4):
                    pa = np.zeros((32, 4, 2), np.float32)
                    order = [(2 * kk, 0), (2 * kk, 2), (2 * kk + 1, 0), (2 * kk + 1, 2)]
                    if mutate == "p_regs":
                        order = [(2 * kk, 0), (2 * kk + 1, 0), (2 * kk, 2), (2 * kk + 1, 2)]
                    for reg, (nt, e0) in enumerate(order):
                        pa[:, reg, 0] = rnd(p[:, nt, e0])
                        pa[:, reg, 1] = rnd(p[:, nt, e0 + 1])
                    # V: ldmatrix.x4.trans at row kk·16 + (lane & 7) + ((lane >> 3) & 1)·8, col dp·16 + (lane >> 4)·8
                    for dp in range(DN // 2):
                        vcol = dp * 16 + (LANE >> 4) * 8
                        vrow = kk * 16 + (LANE & 7) + ((LANE >> 3) & 1) * 8
                        if mutate == "v_addr":
                            vrow = kk * 16 + (LANE & 7) + (LANE >> 4) * 8
                            vcol = dp * 16 + ((LANE >> 3) & 1) * 8
                        vr = ldmatrix(Vs, vrow, vcol, 4, True, lds)
                        o[:, 2 * dp] = mma_m16n8k16(pa, vr[:, 0:2], o[:, 2 * dp])
                        o[:, 2 * dp + 1] = mma_m16n8k16(pa, vr[:, 2:4], o[:, 2 * dp + 1])
                    if DN % 2:
                        # odd DN (D = 40): the last n-tile by ldmatrix.x2.trans (lanes 0..15 addresses)
                        vr = ldmatrix(Vs, kk * 16 + (LANE & 7) + ((LANE >> 3) & 1) * 8,
                                      np.full(32, (DN - 1) * 8), 2, True, lds)
                        o[:, DN - 1] = mma_m16n8k16(pa, vr[:, 0:2], o[:, DN - 1])
            # epilogue: full row sums over the 4 lanes of a row, out = O / l, lse
            for r in range(2):
                l[:, r] = l[:, r] + l[LANE ^ 1, r]
                l[:, r] = l[:, r] + l[LANE ^ 2, r]
            inv = np.where(l > 0, 1.0 / np.where(l > 0, l, 1.0), 0.0).astype(np.float32)
            for dn in range(DN):
                for e in range(4):
                    i = i0 + w * 16 + GROUP + 8 * (e >> 1)
                    d = dn * 8 + 2 * TIG + (e & 1)
                    val = rnd(o[:, dn, e] * inv[:, e >> 1])
                    for lane in range(32):
                        if i[lane] < Lq:
                            out[i[lane], d[lane]] = val[lane]
            for r in range(2):
                for lane in range(32):
                    i = i0 + w * 16 + (lane >> 2) + 8 * r
                    if (lane & 3) == 0 and i < Lq:
                        lse[i] = m[lane, r] * LN2 + math.log(l[lane, r]) if l[lane, r] > 0 else -np.inf
    return out, lse


def reference(q, k, v, scale, causal):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    s = q @ k.T * scale
    if causal:
        s = np.where(np.arange(k.shape[0])[None, :] > np.arange(q.shape[0])[:, None], -np.inf, s)
    mx = s.max(axis=1, keepdims=True)
    e = np.exp(s - mx)
    tot = e.sum(axis=1, keepdims=True)
    return e @ v / tot, (mx + np.log(tot))[:, 0]


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30))


def run_case(Lq, Lk, D, causal, dtype, seed, mutate=None, mag=1.0):
    rng = np.random.default_rng(seed)
    rnd = round_f16 if dtype == "f16" else round_bf16
    q = rnd(rng.standard_normal((Lq, D)) * mag)
    k = rnd(rng.standard_normal((Lk, D)) * mag)
    v = rnd(rng.standard_normal((Lk, D)))
    scale = 1.0 / math.sqrt(D)
    out, lse = kernel_forward(q, k, v, scale, causal, rnd, mutate)
    ro, rl = reference(q, k, v, scale, causal)
    eo, el = rel(out, ro), rel(lse, rl)
    tol = 4e-3 if dtype == "f16" else 2e-2  # the C++ test uses 1e-2 / 2e-2
    ok = not np.isnan(out).any() and eo < tol and el < tol
    return ok, eo, el


def main():
    cases = [
        (70, 77, 40, False, "f16"), (70, 77, 40, True, "f16"), (77, 77, 40, True, "bf16"),
        (70, 77, 40, False, "bf16"), (33, 150, 32, False, "f16"), (65, 65, 80, True, "f16"),
        (20, 77, 160, False, "bf16"), (17, 30, 64, False, "f16"), (1, 1, 96, False, "f16"),
        (130, 70, 128, False, "f16"),
    ]
    fails = 0
    for n, (Lq, Lk, D, causal, dt) in enumerate(cases):
        ok, eo, el = run_case(Lq, Lk, D, causal, dt, 100 + n)
        fails += not ok
        print(f"{'PASS' if ok else 'FAIL'} Lq={Lq} Lk={Lk} D={D} causal={int(causal)} {dt}: "
              f"rel err out {eo:.2e} lse {el:.2e}")
    # the check has teeth: deliberately wrong register order / ldmatrix addresses must fail
    for mut in ("p_regs", "v_addr"):
        ok, eo, _ = run_case(70, 77, 40, False, "f16", 7, mutate=mut)
        fails += ok
        print(f"{'PASS' if not ok else 'FAIL'} mutation '{mut}' is detected (rel err out {eo:.2e})")
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
