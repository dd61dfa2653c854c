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
# the kernels, lane by lane (names and formulas as in attention_tc.cu)
MUTATE = None  # a deliberate mapping error, to show the check catches it


def load_tile(src, row0, L, R, D, DP, lds, rnd):
    """rows [row0, row0+R) of one head ([L][D] float array) -> [R][lds] tile; zeros past L / past D."""
    tile = np.zeros((R, lds), np.float32)
    # 16-byte chunks of 8 elements, as tc_load_tile (D % 8 == 0)
    for c in range(R * (DP // 8)):
        r, d0 = c // (DP // 8), (c % (DP // 8)) * 8
        if row0 + r < L and d0 < D:
            tile[r, d0:d0 + 8] = rnd(src[row0 + r, d0:d0 + 8])
    return tile


def ldsm_a(tile, row0, col0, lds):
    return ldmatrix(tile, row0 + (LANE & 15), col0 + (LANE >> 4) * 8, 4, False, lds)


def ldsm_b_nk(tile, row0, col0, lds):
    return ldmatrix(tile, row0 + (LANE & 7) + ((LANE >> 4) << 3), col0 + ((LANE >> 3) & 1) * 8, 4, False, lds)


def ldsm_b_kn(tile, row0, col0, lds):
    if MUTATE == "v_addr":
        return ldmatrix(tile, row0 + (LANE & 7) + (LANE >> 4) * 8, col0 + ((LANE >> 3) & 1) * 8, 4, True, lds)
    return ldmatrix(tile, row0 + (LANE & 7) + ((LANE >> 3) & 1) * 8, col0 + (LANE >> 4) * 8, 4, True, lds)


def ldsm_b_kn1(tile, row0, col0, lds):
    return ldmatrix(tile, row0 + (LANE & 7) + ((LANE >> 3) & 1) * 8, np.full(32, col0), 2, True, lds)


def acc_to_a(c0, c1, rnd):
    """two 16x8 accumulator tiles ([32][4] each) -> A fragment [32][4][2], rounded."""
    order = [(c0, 0), (c0, 2), (c1, 0), (c1, 2)]
    if MUTATE == "p_regs":
        order = [(c0, 0), (c1, 0), (c0, 2), (c1, 2)]
    a = np.zeros((32, 4, 2), np.float32)
    for reg, (c, e0) in enumerate(order):
        a[:, reg, 0] = rnd(c[:, e0])
        a[:, reg, 1] = rnd(c[:, e0 + 1])
    return a


def mma_a_kn(acc, a, tile, k0, DN, lds):
    """acc[32][DN][4] += A·B, B = rows k0..k0+15 of a (k rows, n columns) tile."""
    for dp in range(DN // 2):
        b = ldsm_b_kn(tile, k0, dp * 16, lds)
        acc[:, 2 * dp] = mma_m16n8k16(a, b[:, 0:2], acc[:, 2 * dp])
        acc[:, 2 * dp + 1] = mma_m16n8k16(a, b[:, 2:4], acc[:, 2 * dp + 1])
    if DN % 2:
        b = ldsm_b_kn1(tile, k0, (DN - 1) * 8, lds)
        acc[:, DN - 1] = mma_m16n8k16(a, b[:, 0:2], acc[:, DN - 1])


def store_rows(acc, mul, row0, L, DN, dst, rnd):
    """accumulator rows g + 8r (times mul[:, r]) -> dst[row0 + row] for rows < L (rounded)."""
    for dn in range(DN):
        for e in range(4):
            i = row0 + GROUP + 8 * (e >> 1)
            d = dn * 8 + 2 * TIG + (e & 1)
            val = rnd(acc[:, dn, e] * mul[:, e >> 1])
            for lane in range(32):
                if i[lane] < L:
                    dst[i[lane], d[lane]] = val[lane]


def dims(D):
    DP = (D + 15) // 16 * 16
    return DP, DP // 16, D // 8, DP + 8  # DP, KC, DN, LDS


def kernel_forward(q, k, v, scale, causal, rnd):
    """q[Lq][D], k/v[Lk][D] (one (b, h)) -> out[Lq][D] (rounded), lse[Lq]."""
    Lq, D = q.shape
    Lk = k.shape[0]
    DP, KC, DN, lds = dims(D)
    scale_log2 = np.float32(scale * LOG2E)
    out = np.full((Lq, D), np.nan, np.float32)
    lse = np.full(Lq, np.nan, np.float32)
    for qb in range((Lq + BQ - 1) // BQ):
        i0 = qb * BQ
        Qs = load_tile(q, i0, Lq, BQ, D, DP, lds, rnd)
        kend = min(i0 + BQ, Lk) if causal else Lk
        nkb = (kend + BK - 1) // BK
        for w in range(NWARPS):
            qf = [ldsm_a(Qs, w * 16, kc * 16, lds) for kc in range(KC)]
            m = np.full((32, 2), -np.inf, np.float32)  # running max (log2 units), rows g and g+8
            l = np.zeros((32, 2), np.float32)  # per-lane partial row sums
            o = np.zeros((32, DN, 4), np.float32)
            for kb in range(nkb):
                j0 = kb * BK
                Ks = load_tile(k, j0, Lk, BK, D, DP, lds, rnd)
                Vs = load_tile(v, j0, Lk, BK, D, DP, lds, rnd)
                s = np.zeros((32, 8, 4), np.float32)
                for kc in range(KC):
                    for np_ in range(4):
                        kr = ldsm_b_nk(Ks, np_ * 16, kc * 16, lds)
                        s[:, 2 * np_] = mma_m16n8k16(qf[kc], kr[:, 0:2], s[:, 2 * np_])
                        s[:, 2 * np_ + 1] = mma_m16n8k16(qf[kc], kr[:, 2:4], s[:, 2 * np_ + 1])
                # element e of n-tile nt: row g + 8(e >> 1), key j0 + 8nt + 2t + (e & 1)
                for nt in range(8):
                    for e in range(4):
                        i = i0 + w * 16 + GROUP + 8 * (e >> 1)
                        j = j0 + nt * 8 + 2 * TIG + (e & 1)
                        masked = (j >= Lk) | (causal & (j > i))
                        s[:, nt, e] = np.where(masked, -np.inf, s[:, nt, e] * scale_log2)
                alpha = np.zeros((32, 2), np.float32)
                msub = np.zeros((32, 2), np.float32)
                for r in range(2):
                    mx = s[:, :, 2 * r:2 * r + 2].max(axis=(1, 2))
                    mx = np.maximum(mx, mx[LANE ^ 1])  # __shfl_xor_sync 1
                    mx = np.maximum(mx, mx[LANE ^ 2])  # __shfl_xor_sync 2
                    mnew = np.maximum(m[:, r], mx)
                    msub[:, r] = np.where(mnew == -np.inf, 0.0, mnew)
                    alpha[:, r] = np.exp2(m[:, r] - msub[:, r])
                    m[:, r] = mnew
                for e in range(4):
                    s[:, :, e] = np.exp2(s[:, :, e] - msub[:, e >> 1][:, None])
                for r in range(2):
                    l[:, r] = l[:, r] * alpha[:, r] + s[:, :, 2 * r:2 * r + 2].sum(axis=(1, 2))
                for e in range(4):
                    o[:, :, e] *= alpha[:, e >> 1][:, None]
                for kk in range(4):
                    mma_a_kn(o, acc_to_a(s[:, 2 * kk], s[:, 2 * kk + 1], rnd), Vs, kk * 16, DN, lds)
            for r in range(2):
                l[:, r] = l[:, r] + l[LANE ^ 1, r]
                l[:, r] = l[:, r] + l[LANE ^ 2, r]
            inv = np.where(l > 0, 1.0 / np.where(l > 0, l, 1.0), 0.0).astype(np.float32)
            store_rows(o, inv, i0 + w * 16, Lq, DN, out, rnd)
            for r in range(2):
                for lane in range(32):
                    i = i0 + w * 16 + (lane >> 2) + 8 * r
                    if (lane & 3) == 0 and i < Lq:
                        lse[i] = m[lane, r] * LN2 + math.log(l[lane, r]) if l[lane, r] > 0 else -np.inf
    return out, lse


BWD_BK = 64  # dK/dV: keys per CTA; dQ: queries per CTA
BWD_BS = 32  # inner step (queries for dK/dV, keys for dQ)


def kernel_backward(q, k, v, dout, lse, dvec, scale, causal, rnd):
    """attn_bwd_dkdv_tc_kernel and attn_bwd_dq_tc_kernel for one (b, h) -> dq, dk, dv (rounded)."""
    Lq, D = q.shape
    Lk = k.shape[0]
    DP, KC, DN, lds = dims(D)
    scale_log2 = np.float32(scale * LOG2E)
    lse2 = (lse.astype(np.float32) * np.float32(LOG2E)).astype(np.float32)
    dq = np.full((Lq, D), np.nan, np.float32)
    dk = np.full((Lk, D), np.nan, np.float32)
    dv = np.full((Lk, D), np.nan, np.float32)
    full_scale = np.full((32, 2), scale, np.float32)
    ones = np.ones((32, 2), np.float32)
    # dK/dV
    for kb in range((Lk + BWD_BK - 1) // BWD_BK):
        j0 = kb * BWD_BK
        Ks = load_tile(k, j0, Lk, BWD_BK, D, DP, lds, rnd)
        Vs = load_tile(v, j0, Lk, BWD_BK, D, DP, lds, rnd)
        qstart = (j0 // BWD_BS) * BWD_BS if causal else 0
        nsteps = (Lq - qstart + BWD_BS - 1) // BWD_BS if qstart < Lq else 0
        for w in range(NWARPS):
            dka = np.zeros((32, DN, 4), np.float32)
            dva = np.zeros((32, DN, 4), np.float32)
            for n in range(nsteps):
                i0 = qstart + n * BWD_BS
                Qb = load_tile(q, i0, Lq, BWD_BS, D, DP, lds, rnd)
                dOb = load_tile(dout, i0, Lq, BWD_BS, D, DP, lds, rnd)
                lse_b = np.array([lse2[i0 + t] if i0 + t < Lq else 0.0 for t in range(BWD_BS)], np.float32)
                dv_b = np.array([dvec[i0 + t] if i0 + t < Lq else 0.0 for t in range(BWD_BS)], np.float32)
                s = np.zeros((32, 4, 4), np.float32)
                dp = np.zeros((32, 4, 4), np.float32)
                for kc in range(KC):
                    ka = ldsm_a(Ks, w * 16, kc * 16, lds)
                    va = ldsm_a(Vs, w * 16, kc * 16, lds)
                    for np_ in range(2):
                        qb_ = ldsm_b_nk(Qb, np_ * 16, kc * 16, lds)
                        ob = ldsm_b_nk(dOb, np_ * 16, kc * 16, lds)
                        s[:, 2 * np_] = mma_m16n8k16(ka, qb_[:, 0:2], s[:, 2 * np_])
                        s[:, 2 * np_ + 1] = mma_m16n8k16(ka, qb_[:, 2:4], s[:, 2 * np_ + 1])
                        dp[:, 2 * np_] = mma_m16n8k16(va, ob[:, 0:2], dp[:, 2 * np_])
                        dp[:, 2 * np_ + 1] = mma_m16n8k16(va, ob[:, 2:4], dp[:, 2 * np_ + 1])
                for nt in range(4):
                    for e in range(4):
                        ii = nt * 8 + 2 * TIG + (e & 1)
                        j = j0 + w * 16 + GROUP + 8 * (e >> 1)
                        i = i0 + ii
                        valid = (j < Lk) & (i < Lq) & ~(causal & (j > i))
                        p = np.where(valid, np.exp2(s[:, nt, e] * scale_log2 - lse_b[ii]), 0.0).astype(np.float32)
                        s[:, nt, e] = p
                        dp[:, nt, e] = p * (dp[:, nt, e] - dv_b[ii])
                for kk in range(2):
                    mma_a_kn(dva, acc_to_a(s[:, 2 * kk], s[:, 2 * kk + 1], rnd), dOb, kk * 16, DN, lds)
                    mma_a_kn(dka, acc_to_a(dp[:, 2 * kk], dp[:, 2 * kk + 1], rnd), Qb, kk * 16, DN, lds)
            store_rows(dka, full_scale, j0 + w * 16, Lk, DN, dk, rnd)
            store_rows(dva, ones, j0 + w * 16, Lk, DN, dv, rnd)
    # dQ
    for qb in range((Lq + BWD_BK - 1) // BWD_BK):
        i0 = qb * BWD_BK
        Qs = load_tile(q, i0, Lq, BWD_BK, D, DP, lds, rnd)
        dOs = load_tile(dout, i0, Lq, BWD_BK, D, DP, lds, rnd)
        kend = min(i0 + BWD_BK, Lk) if causal else Lk
        nsteps = (kend + BWD_BS - 1) // BWD_BS
        for w in range(NWARPS):
            rows = [i0 + w * 16 + GROUP + 8 * r for r in range(2)]
            lse_r = np.stack([np.array([lse2[i] if i < Lq else 0.0 for i in rr], np.float32) for rr in rows], 1)
            dv_r = np.stack([np.array([dvec[i] if i < Lq else 0.0 for i in rr], np.float32) for rr in rows], 1)
            qf = [ldsm_a(Qs, w * 16, kc * 16, lds) for kc in range(KC)]
            of = [ldsm_a(dOs, w * 16, kc * 16, lds) for kc in range(KC)]
            dqa = np.zeros((32, DN, 4), np.float32)
            for n in range(nsteps):
                j0 = n * BWD_BS
                Kb = load_tile(k, j0, Lk, BWD_BS, D, DP, lds, rnd)
                Vb = load_tile(v, j0, Lk, BWD_BS, D, DP, lds, rnd)
                s = np.zeros((32, 4, 4), np.float32)
                dp = np.zeros((32, 4, 4), np.float32)
                for kc in range(KC):
                    for np_ in range(2):
                        kr = ldsm_b_nk(Kb, np_ * 16, kc * 16, lds)
                        vr = ldsm_b_nk(Vb, np_ * 16, kc * 16, lds)
                        s[:, 2 * np_] = mma_m16n8k16(qf[kc], kr[:, 0:2], s[:, 2 * np_])
                        s[:, 2 * np_ + 1] = mma_m16n8k16(qf[kc], kr[:, 2:4], s[:, 2 * np_ + 1])
                        dp[:, 2 * np_] = mma_m16n8k16(of[kc], vr[:, 0:2], dp[:, 2 * np_])
                        dp[:, 2 * np_ + 1] = mma_m16n8k16(of[kc], vr[:, 2:4], dp[:, 2 * np_ + 1])
                for nt in range(4):
                    for e in range(4):
                        i = i0 + w * 16 + GROUP + 8 * (e >> 1)
                        j = j0 + nt * 8 + 2 * TIG + (e & 1)
                        valid = (j < Lk) & (i < Lq) & ~(causal & (j > i))
                        p = np.where(valid, np.exp2(s[:, nt, e] * scale_log2 - lse_r[:, e >> 1]), 0.0)
                        dp[:, nt, e] = (p * (dp[:, nt, e] - dv_r[:, e >> 1])).astype(np.float32)
                for kk in range(2):
                    mma_a_kn(dqa, acc_to_a(dp[:, 2 * kk], dp[:, 2 * kk + 1], rnd), Kb, kk * 16, DN, lds)
            store_rows(dqa, full_scale, i0 + w * 16, Lq, DN, dq, rnd)
    return dq, dk, dv


def reference(q, k, v, scale, causal):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    s = q @ k.T * scale
    if causal:
        s = np.where(np.arange(k.shape[0])[None, :] > np.arange(q.shape[0])[:, None], -np.inf, s)
    mx = s.max(axis=1, keepdims=True)
    e = np.exp(s - mx)
    tot = e.sum(axis=1, keepdims=True)
    return e @ v / tot, (mx + np.log(tot))[:, 0], e / tot


def reference_backward(q, k, v, dout, scale, causal):
    q, k, v, dout = (np.asarray(a, np.float64) for a in (q, k, v, dout))
    _, _, P = reference(q, k, v, scale, causal)
    dP = dout @ v.T
    Dv = (P * dP).sum(axis=1, keepdims=True)
    dS = P * (dP - Dv) * scale
    return dS @ k, dS.T @ q, P.T @ dout


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30))


def run_case(Lq, Lk, D, causal, dtype, seed, backward=False, mag=1.0):
    rng = np.random.default_rng(seed)
    rnd = round_f16 if dtype == "f16" else round_bf16
    q = rnd(rng.standard_normal((Lq, D)) * mag)
    k = rnd(rng.standard_normal((Lk, D)) * mag)
    v = rnd(rng.standard_normal((Lk, D)))
    scale = 1.0 / math.sqrt(D)
    out, lse = kernel_forward(q, k, v, scale, causal, rnd)
    ro, rl, _ = reference(q, k, v, scale, causal)
    errs = {"out": rel(out, ro), "lse": rel(lse, rl)}
    if backward:
        dout = rnd(rng.standard_normal((Lq, D)))
        dvec = (dout.astype(np.float32) * out).sum(axis=1).astype(np.float32)  # attn_dvec_kernel, from the stored out
        dq, dk, dv = kernel_backward(q, k, v, dout, lse, dvec, scale, causal, rnd)
        rdq, rdk, rdv = reference_backward(q, k, v, dout, scale, causal)
        errs.update(dq=rel(dq, rdq), dk=rel(dk, rdk), dv=rel(dv, rdv))
        if np.isnan(dq).any() or np.isnan(dk).any() or np.isnan(dv).any():
            errs["nan"] = 1.0
    tol = 1e-2 if dtype == "f16" else 2e-2  # as tests/native/test_cuda_attention.cc
    ok = not np.isnan(out).any() and all(e < tol for e in errs.values())
    return ok, errs


def main():
    global MUTATE
    cases = [  # Lq, Lk, D, causal, dtype, backward
        (70, 77, 40, False, "f16", True), (70, 77, 40, True, "f16", False), (77, 77, 40, True, "bf16", True),
        (70, 77, 40, False, "bf16", False), (33, 150, 32, False, "f16", True), (65, 65, 80, True, "f16", True),
        (20, 77, 160, False, "bf16", True), (17, 30, 64, False, "f16", False), (1, 1, 96, False, "f16", True),
        (130, 70, 128, False, "f16", False),
    ]
    fails = 0
    for n, (Lq, Lk, D, causal, dt, bwd) in enumerate(cases):
        ok, errs = run_case(Lq, Lk, D, causal, dt, 100 + n, backward=bwd)
        fails += not ok
        print(f"{'PASS' if ok else 'FAIL'} Lq={Lq} Lk={Lk} D={D} causal={int(causal)} {dt}: rel err "
              + " ".join(f"{key} {val:.2e}" for key, val in errs.items()))
    # the check has teeth: a deliberately wrong register order / ldmatrix address must fail
    for mut in ("p_regs", "v_addr"):
        MUTATE = mut
        ok, errs = run_case(70, 77, 40, False, "f16", 7)
        MUTATE = None
        fails += ok
        print(f"{'PASS' if not ok else 'FAIL'} mutation '{mut}' is detected (rel err out {errs['out']:.2e})")
    print("FAIL" if fails else "PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
