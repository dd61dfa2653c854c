#!/usr/bin/env python3
"""CPU emulator of the float16/bfloat16 mma.sync GEMM kernel (hgemm_mma_kernel in native/src/cuda/gemm.cu).

It runs the kernel lane by lane / thread by thread with the kernel's own index formulas:
  * the cp.async loads: thread tid's chunks idx = tid + 256·i -> (row, 8-element column chunk) of the
    stored-layout tile, the global source (row r0 + r, column c0 + c, leading dim, batch stride), the
    src-size (bytes inside the matrix; 0 -> nothing read, zero-fill) and the padded shared address;
  * the 3-stage pipeline (prologue of S-1 commit groups, wait_group S-2 + barrier, prefetch of tile
    kt+S-1 into stage (kt+S-1) % S, drain): a cp.async's destination reads as NaN from its issue until
    a wait_group completes its group, so reading a stage too early, or overwriting one still being
    read, poisons the result;
  * the ldmatrix lane addresses of mma_a_frag / mma_b_frag for all four transposes, with the 8 row
    addresses of every 8x8 matrix checked for 16-byte alignment and for distinct 16-byte bank groups
    (conflict-free);
  * mma.m16n8k16 register use (acc[i][j] += A_i · (b[j>>1][2(j&1)], b[j>>1][2(j&1)+1])) and the
    epilogue mapping (c0, c1 = C[g][2t, 2t+1], c2, c3 = C[g+8][..]) with alpha, beta (C not read when
    beta == 0: C is NaN there), bias per column / per row, float32 C (c_f32) or C rounded to T;
    every output element written exactly once, nothing outside M x N (C's padding) touched;
against a float64 GEMM, for all four transposes, odd M/N/K tails, batch 3, float16 and bfloat16.
ldmatrix and mma are the PTX-ISA models of attention_mma_emu.py (imported from it, not re-derived).
Deliberate mutations (wrong A.trans lane address, wrong B register pairing, a too-weak wait_group,
a missing src-size clamp, an epilogue row off by the +8 half) must each be caught.

Run:  python3 tests/emulation/gemm_mma_emu.py      (PASS/FAIL per case; exit 1 on FAIL)
Needs numpy; prints SKIP and exits 0 without it. A development aid, not part of npm test.
"""
import importlib.util
import os
import sys
import traceback

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("SKIP: numpy is not installed")
    sys.exit(0)

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("attention_mma_emu", os.path.join(_here, "attention_mma_emu.py"))
_att = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_att)
ldmatrix_isa = _att.ldmatrix
mma_m16n8k16 = _att.mma_m16n8k16
round_f16, round_bf16 = _att.round_f16, _att.round_bf16

BM, BN, BK, S, NT = 128, 128, 32, 3, 256
LANE = np.arange(32)
MUTATE = None


def layout(TA, TB):
    A_ROWS, A_COLS = (BK, BM) if TA else (BM, BK)
    B_ROWS, B_COLS = (BN, BK) if TB else (BK, BN)
    L = dict(A_ROWS=A_ROWS, A_COLS=A_COLS, A_LD=A_COLS + 8, B_ROWS=B_ROWS, B_COLS=B_COLS, B_LD=B_COLS + 8)
    L["A_ELEMS"] = A_ROWS * L["A_LD"]
    L["B_ELEMS"] = B_ROWS * L["B_LD"]
    L["STAGE"] = L["A_ELEMS"] + L["B_ELEMS"]
    return L


class Block:
    """One CTA's dynamic shared memory (flat, 16-bit elements as float32) and cp.async state."""

    def __init__(self, L):
        self.L = L
        self.smem = np.full(S * L["STAGE"], np.nan, np.float32)
        self.pending = []  # (group, dst flat index, values[8])
        self.committed = 0

    def cp_async(self, dst, gbuf, src, nbytes, src_lo, src_hi):
        assert dst % 8 == 0, "cp.async shared destination not 16-byte aligned"
        assert src % 8 == 0, "cp.async global source not 16-byte aligned"
        assert 0 <= nbytes <= 16 and nbytes % 2 == 0
        n = nbytes // 2
        vals = np.zeros(8, np.float32)
        if n:
            assert src_lo <= src and src + n <= src_hi, "cp.async reads outside the matrix's row"
            vals[:n] = gbuf[src:src + n]
        self.smem[dst:dst + 8] = np.nan  # in flight: undefined until its group completes
        self.pending.append((self.committed, dst, vals))

    def commit(self):
        self.committed += 1

    def wait(self, n):
        keep = []
        for grp, dst, vals in self.pending:
            if grp < self.committed - n:
                self.smem[dst:dst + 8] = vals
            else:
                keep.append((grp, dst, vals))
        self.pending = keep

    def view(self, s, which):
        L = self.L
        base = s * L["STAGE"] + (0 if which == "A" else L["A_ELEMS"])
        rows, ld = (L["A_ROWS"], L["A_LD"]) if which == "A" else (L["B_ROWS"], L["B_LD"])
        return base, self.smem[base:base + rows * ld].reshape(rows, ld), ld


def load_tile(blk, dst_base, ROWS, COLS, LD, gbuf, goff, ld, r0, c0, rmax, cmax):
    """mma_load_tile: every thread's chunks (tid + i·256)."""
    CPR = COLS // 8
    assert (ROWS * CPR) % NT == 0
    for i in range(ROWS * CPR // NT):
        for tid in range(NT):
            idx = tid + i * NT
            r, c = idx // CPR, (idx % CPR) * 8
            gr, gc = r0 + r, c0 + c
            n = cmax - gc
            if MUTATE != "no_clamp":
                n = 0 if n < 0 else 8 if n > 8 else n
            else:
                n = 0 if n < 0 else 8
            if gr >= rmax:
                n = 0
            src = goff + gr * ld + gc if n > 0 else goff
            row_lo = goff + gr * ld
            blk.cp_async(dst_base + r * LD + c, gbuf, src, n * 2, row_lo, row_lo + cmax)


def ldsm(blk_base, tile, row, col, num, trans, ld):
    # bank check: per 8x8 matrix, the 8 row addresses hit distinct 16-byte bank groups (of 8)
    for mi in range(num):
        lanes = range(8 * mi, 8 * mi + 8)
        groups = {((blk_base + int(row[l]) * ld + int(col[l])) * 2 // 16) % 8 for l in lanes}
        assert len(groups) == 8, "ldmatrix bank conflict"
    return ldmatrix_isa(tile, row, col, num, trans, ld)


def a_frag(TA, base, tile, ld, mrow, kk):
    if not TA:
        return ldsm(base, tile, mrow + (LANE & 15), kk + (LANE >> 4) * 8, 4, False, ld)
    if MUTATE == "a_trans_addr":
        return ldsm(base, tile, kk + (LANE & 7) + ((LANE >> 3) & 1) * 8, mrow + (LANE >> 4) * 8, 4, True, ld)
    return ldsm(base, tile, kk + (LANE & 7) + ((LANE >> 4) << 3), mrow + ((LANE >> 3) & 1) * 8, 4, True, ld)


def b_frag(TB, base, tile, ld, ncol, kk):
    if not TB:
        return ldsm(base, tile, kk + (LANE & 7) + ((LANE >> 3) & 1) * 8, ncol + (LANE >> 4) * 8, 4, True, ld)
    return ldsm(base, tile, ncol + (LANE & 7) + ((LANE >> 4) << 3), kk + ((LANE >> 3) & 1) * 8, 4, False, ld)


def kernel(TA, TB, M, N, K, alpha, beta, Abuf, lda, sA, Bbuf, ldb, sB, Cbuf, ldc, sC, batch, bias, bias_mode,
           rnd, rnd_c, written):
    """The grid (every (z, tile) a CTA; the grid-stride loops only reorder them)."""
    L = layout(TA, TB)
    tiles_n = (N + BN - 1) // BN
    tiles = ((M + BM - 1) // BM) * tiles_n
    KT = (K + BK - 1) // BK
    for z in range(batch):
        for tile in range(tiles):
            m0, n0 = (tile // tiles_n) * BM, (tile % tiles_n) * BN
            blk = Block(L)
            aoff, boff = z * sA, z * sB

            def load_stage(s, kt):
                k0 = kt * BK
                abase = s * L["STAGE"]
                bbase = abase + L["A_ELEMS"]
                if TA:
                    load_tile(blk, abase, L["A_ROWS"], L["A_COLS"], L["A_LD"], Abuf, aoff, lda, k0, m0, K, M)
                else:
                    load_tile(blk, abase, L["A_ROWS"], L["A_COLS"], L["A_LD"], Abuf, aoff, lda, m0, k0, M, K)
                if TB:
                    load_tile(blk, bbase, L["B_ROWS"], L["B_COLS"], L["B_LD"], Bbuf, boff, ldb, n0, k0, N, K)
                else:
                    load_tile(blk, bbase, L["B_ROWS"], L["B_COLS"], L["B_LD"], Bbuf, boff, ldb, k0, n0, K, N)

            acc = np.zeros((8, 32, 4, 4, 4), np.float32)
            for s in range(S - 1):
                if s < KT:
                    load_stage(s, s)
                blk.commit()
            for kt in range(KT):
                blk.wait(S - 1 if MUTATE == "weak_wait" else S - 2)
                # __syncthreads()
                nk = kt + S - 1
                if nk < KT:
                    load_stage(nk % S, nk)
                blk.commit()
                s = kt % S
                abase, As, alds = blk.view(s, "A")
                bbase, Bs, blds = blk.view(s, "B")
                for warp in range(8):
                    wm, wn = warp >> 2, warp & 3
                    for kk in (0, 16):
                        af = [a_frag(TA, abase, As, alds, wm * 64 + i * 16, kk) for i in range(4)]
                        bf = [b_frag(TB, bbase, Bs, blds, wn * 32 + j * 16, kk) for j in range(2)]
                        for i in range(4):
                            for j in range(4):
                                h = (j & 1) * 2
                                if MUTATE == "b_pairs":
                                    b = bf[j & 1][:, (j >> 1) * 2:(j >> 1) * 2 + 2]
                                else:
                                    b = bf[j >> 1][:, h:h + 2]
                                acc[warp, :, i, j] = mma_m16n8k16(af[i], b, acc[warp, :, i, j])
            blk.wait(0)
            g, t = LANE >> 2, LANE & 3
            coff = z * sC
            for warp in range(8):
                wm, wn = warp >> 2, warp & 3
                for i in range(4):
                    for j in range(4):
                        for e in range(4):
                            half = 8 * (e >> 1) if MUTATE != "epi_row" else 8 * (e & 1)
                            gm = m0 + wm * 64 + i * 16 + g + half
                            gn = n0 + wn * 32 + j * 8 + 2 * t + (e & 1)
                            for lane in range(32):
                                m_, n_ = int(gm[lane]), int(gn[lane])
                                if m_ < M and n_ < N:
                                    p = coff + m_ * ldc + n_
                                    v = np.float32(alpha) * acc[warp, lane, i, j, e]
                                    if beta != 0:
                                        v += np.float32(beta) * Cbuf[p]
                                    if bias_mode == "col":
                                        v += bias[n_]
                                    elif bias_mode == "row":
                                        v += bias[m_]
                                    Cbuf[p] = rnd_c(np.float32(v))
                                    written[p] += 1


def run_case(dt, TA, TB, M, N, K, alpha=1.0, beta=0.0, pad=0, batch=1, stride_pad=0, bias_mode=None, c_f32=False,
             seed=0):
    rng = np.random.default_rng(seed)
    rnd = round_f16 if dt == "f16" else round_bf16
    rnd_c = (lambda x: x) if c_f32 else rnd
    up8 = lambda x: (x + 7) // 8 * 8  # the fast path needs leading dims that are multiples of 8
    lda = up8(M if TA else K) + pad
    ldb = up8(K if TB else N) + pad
    ldc = N + pad
    rowsA, rowsB = (K if TA else M), (N if TB else K)
    sA, sB, sC = rowsA * lda + stride_pad, rowsB * ldb + stride_pad, M * ldc + stride_pad
    # the fast path's preconditions (mma_path_ok)
    assert lda % 8 == 0 and ldb % 8 == 0 and K % 8 == 0 and (batch == 1 or (sA % 8 == 0 and sB % 8 == 0))
    A = rnd(rng.standard_normal(sA * batch).astype(np.float32))
    B = rnd(rng.standard_normal(sB * batch).astype(np.float32))
    C0 = rnd_c(rng.standard_normal(sC * batch).astype(np.float32))
    if beta == 0:
        C0[:] = np.nan  # never read
    SENT = np.float32(1234.0)
    for z in range(batch):
        for m in range(M):
            C0[z * sC + m * ldc + N:z * sC + (m + 1) * ldc] = SENT
    nb = M if bias_mode == "row" else N
    bias = rnd(rng.standard_normal(max(nb, 1)).astype(np.float32))
    # float64 reference
    ref = C0.astype(np.float64).copy()
    for z in range(batch):
        Am = A[z * sA:z * sA + rowsA * lda].reshape(rowsA, lda).astype(np.float64)
        Bm = B[z * sB:z * sB + rowsB * ldb].reshape(rowsB, ldb).astype(np.float64)
        opA = Am[:K, :M].T if TA else Am[:M, :K]
        opB = Bm[:N, :K].T if TB else Bm[:K, :N]
        r = alpha * (opA @ opB)
        if beta != 0:
            r = r + beta * C0[z * sC:z * sC + M * ldc].reshape(M, ldc)[:, :N].astype(np.float64)
        if bias_mode == "col":
            r = r + bias[None, :N].astype(np.float64)
        elif bias_mode == "row":
            r = r + bias[:M, None].astype(np.float64)
        for m in range(M):
            ref[z * sC + m * ldc:z * sC + m * ldc + N] = r[m]
    Cbuf = C0.copy()
    written = np.zeros(Cbuf.shape, np.int32)
    kernel(TA, TB, M, N, K, alpha, beta, A, lda, sA, B, ldb, sB, Cbuf, ldc, sC, batch, bias, bias_mode, rnd,
           rnd_c, written)
    mask = np.zeros(Cbuf.shape, bool)
    for z in range(batch):
        for m in range(M):
            mask[z * sC + m * ldc:z * sC + m * ldc + N] = True
    if not (written[mask] == 1).all():
        return False, "an output element not written exactly once"
    if written[~mask].any():
        return False, "a store outside M x N"
    if not np.array_equal(Cbuf[~mask], C0[~mask], equal_nan=True):
        return False, "C outside M x N changed"
    out = Cbuf[mask].astype(np.float64)
    want = ref[mask]
    if not np.isfinite(out).all():
        return False, "non-finite output (a stage read while in flight / C read with beta 0?)"
    err = np.linalg.norm(out - want) / max(np.linalg.norm(want), 1e-30)
    # float32 accumulation + one rounding of the output (2^-11 f16, 2^-8 bf16; c_f32: float32 only)
    tol = 1e-5 if c_f32 else (2e-3 if dt == "f16" else 1e-2)
    return err < tol, "rel err %.3g (tol %.1g)" % (err, tol)


CASES = [
    # (dt, TA, TB, M, N, K, kwargs)
    ("f16", False, False, 37, 45, 72, {}),                       # tails in M and N, 3 k tiles (pipeline wraps)
    ("f16", True, False, 33, 21, 40, dict(beta=1.0, bias_mode="col")),
    ("bf16", False, True, 19, 70, 24, dict(alpha=0.5, bias_mode="row", c_f32=True)),
    ("bf16", True, True, 130, 9, 16, dict(beta=1.0, pad=8)),     # two m tiles, M tail inside a chunk
    ("f16", True, True, 13, 131, 8, dict(batch=3, stride_pad=8, c_f32=True, bias_mode="col")),  # two n tiles
    ("f16", False, True, 5, 3, 0, dict(beta=1.0, bias_mode="row")),  # K = 0: alpha·0 + beta·C + bias
    ("bf16", False, False, 7, 11, 136, dict(batch=3, beta=1.0)),   # 5 k tiles, K tail (136 = 4·32 + 8)
]

MUTATIONS = [
    ("a_trans_addr", ("f16", True, False, 17, 9, 32, {})),
    ("b_pairs", ("f16", False, False, 17, 20, 32, {})),
    ("weak_wait", ("f16", False, True, 9, 9, 96, {})),
    ("no_clamp", ("f16", True, False, 13, 9, 16, {})),
    ("epi_row", ("bf16", False, False, 17, 9, 16, {})),
]


def main():
    global MUTATE
    bad = 0
    for i, (dt, TA, TB, M, N, K, kw) in enumerate(CASES):
        ok, msg = run_case(dt, TA, TB, M, N, K, seed=i, **kw)
        print("%s gemm %s TA=%d TB=%d M=%d N=%d K=%d %s: %s" % ("PASS" if ok else "FAIL", dt, TA, TB, M, N, K, kw, msg))
        bad += not ok
    for mut, (dt, TA, TB, M, N, K, kw) in MUTATIONS:
        MUTATE = mut
        try:
            ok, msg = run_case(dt, TA, TB, M, N, K, seed=99, **kw)
        except AssertionError as e:
            fr = traceback.extract_tb(e.__traceback__)[-1]
            ok, msg = False, "assertion in %s: %s" % (fr.name, str(e) or fr.line)
        MUTATE = None
        caught = not ok
        print("%s mutation %s caught: %s" % ("PASS" if caught else "FAIL", mut, msg))
        bad += not caught
    print("FAIL" if bad else "ALL PASS")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
