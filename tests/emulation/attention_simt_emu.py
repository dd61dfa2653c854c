#!/usr/bin/env python3
"""CPU emulator of the float32-SIMT flash attention (native/src/cuda/attention.cu), thread by thread.

Runs attn_fwd_kernel, attn_dvec_kernel, attn_bwd_dkdv_kernel and attn_bwd_dq_kernel with exactly the
kernels' per-thread indexing (128 threads as ty = tid / 8, tx = tid % 8; tile rows ty + 16·a,
columns tx + 8·b, channels tx + 8·m; the head-dim bucket DMAX; the grid-stride task loop over a
small grid; causal block skipping) on one flat shared-memory array laid out as the kernel carves
it, and checks:
  * every shared-memory read hits an address written before (smem starts as NaN) and inside the
    kernel's dynamic allocation (fwd_smem_bytes / bwd_smem_bytes);
  * no race between two __syncthreads: an address written by one thread is neither written nor
    read by another thread in the same phase;
  * every global load is inside the tensor and inside its (b, h) head; every output element is
    written exactly once (outputs start as NaN);
  * out, lse, dq, dk, dv against a float64 attention (relative L2 error < 1e-5; float32 math is
    emulated with one rounding per fmaf/op, the 8-lane row reductions in shuffle order).
Odd Lq/Lk, causal, D in several buckets (1, 8, 17, 33, 40, 70, 100), Lq = 1, Lk = 1.

Run:  python3 tests/emulation/attention_simt_emu.py   (prints PASS/FAIL per case; exit 1 on FAIL)
Needs numpy; prints SKIP and exits 0 without it. A development aid, not part of npm test.
"""
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("SKIP: numpy is not installed")
    sys.exit(0)

f32 = np.float32
NT = 128
TID = np.arange(NT)
TY, TX = TID >> 3, TID & 7
FWD_BQ = FWD_BK = 64
BWD_B = 32


def dmax_of(D):
    for b in (16, 32, 40, 64, 80, 128, 160, 256):
        if D <= b:
            return b
    raise ValueError(D)


def fma(a, b, c):  # fmaf: one rounding (float32 products are exact in float64)
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(f32)


def expf(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(np.asarray(x, np.float64)).astype(f32)


class Fail(Exception):
    pass


class Smem:
    """Flat float32 shared memory with per-phase read/write logs (thread id, address)."""

    def __init__(self, nfloats):
        self.a = np.full(nfloats, np.nan, f32)
        self.reads, self.writes = [], []

    def _chk(self, addr):
        if addr.size and (addr.min() < 0 or addr.max() >= self.a.size):
            raise Fail("shared-memory access outside the dynamic allocation")

    def read(self, tid, addr):
        tid, addr = np.broadcast_arrays(tid, addr)
        self._chk(addr)
        self.reads.append((tid.ravel(), addr.ravel()))
        v = self.a[addr]
        if np.isnan(v).any():
            raise Fail("read of unwritten shared memory")
        return v

    def write(self, tid, addr, val):
        tid, addr, val = np.broadcast_arrays(tid, addr, val)
        self._chk(addr)
        self.writes.append((tid.ravel(), addr.ravel()))
        self.a[addr.ravel()] = val.ravel()

    def sync(self):
        if self.writes:
            wt = np.concatenate([w[0] for w in self.writes])
            wa = np.concatenate([w[1] for w in self.writes])
            order = np.argsort(wa, kind="stable")
            wa, wt = wa[order], wt[order]
            same = wa[1:] == wa[:-1]
            if (same & (wt[1:] != wt[:-1])).any():
                raise Fail("two threads write one shared address between barriers")
            if self.reads:
                rt = np.concatenate([r[0] for r in self.reads])
                ra = np.concatenate([r[1] for r in self.reads])
                pos = np.searchsorted(wa, ra)
                hit = pos < wa.size
                hit[hit] &= wa[pos[hit]] == ra[hit]
                if (wt[pos[hit]] != rt[hit]).any():
                    raise Fail("a thread reads a shared address another thread writes between barriers")
        self.reads, self.writes = [], []


class Gmem:
    """A global tensor [B, L, H·D] (or flat) with bounds/head checks; outputs count their writes."""

    def __init__(self, data, out=False):
        self.a = np.array(data, f32).ravel()
        self.count = np.zeros(self.a.size, np.int64) if out else None

    def load(self, idx):
        if idx.size and (idx.min() < 0 or idx.max() >= self.a.size):
            raise Fail("global load out of bounds")
        return self.a[idx]

    def store(self, idx, val):
        if idx.size and (idx.min() < 0 or idx.max() >= self.a.size):
            raise Fail("global store out of bounds")
        self.a[idx] = val
        np.add.at(self.count, idx, 1)


def row8(v, op):  # v[tid, ...]: butterfly over lanes xor 1, 2, 4 (8 consecutive lanes = one tile row)
    for o in (1, 2, 4):
        v = op(v, v[TID ^ o])
    return v


def load_tile(sm, tile, g, base, row0, L, HD, D, mul, R, DMAX):
    LD = DMAX + 1
    idx = np.arange(R * DMAX)
    tid = idx % NT  # for (idx = threadIdx.x; idx < R*DMAX; idx += 128)
    r, d = idx // DMAX, idx % DMAX
    row = row0 + r
    ok = (row < L) & (d < D)
    val = np.zeros(idx.size, f32)
    gi = base + row[ok] * HD + d[ok]
    if gi.size and (((gi - base) % HD) >= D).any():
        raise Fail("global load outside the head's channels")
    val[ok] = (g.load(gi) * f32(mul)).astype(f32)
    sm.write(tid, tile + r * LD + d, val)


def tile_abt(sm, A, B, RM, CN, DMAX):  # c[tid][a][b] = Σ_d A[ty+16a][d]·B[tx+8b][d]
    LD = DMAX + 1
    c = np.zeros((NT, RM, CN), f32)
    ar = (TY[:, None] + 16 * np.arange(RM)[None, :]) * LD
    bc = (TX[:, None] + 8 * np.arange(CN)[None, :]) * LD
    for d in range(DMAX):
        av = sm.read(TID[:, None], A + ar + d)
        bv = sm.read(TID[:, None], B + bc + d)
        c = fma(av[:, :, None], bv[:, None, :], c)
    return c


def tile_acc(sm, P, ldp, X, acc, RM, NJ, DMAX):  # acc[tid][a][m] += Σ_j P[ty+16a][j]·X[j][tx+8m]
    LD = DMAX + 1
    DM8 = DMAX // 8
    pr = (TY[:, None] + 16 * np.arange(RM)[None, :]) * ldp
    xc = TX[:, None] + 8 * np.arange(DM8)[None, :]
    for j in range(NJ):
        pv = sm.read(TID[:, None], P + pr + j)
        xv = sm.read(TID[:, None], X + j * LD + xc)
        acc = fma(pv[:, :, None], xv[:, None, :], acc)
    return acc


def fwd(q, k, v, B, H, Lq, Lk, D, scale, causal, grid):
    DMAX = dmax_of(D)
    BQ, BK, RM, CN, DM8, LD, LDP = FWD_BQ, FWD_BK, FWD_BQ // 16, FWD_BK // 8, DMAX // 8, DMAX + 1, FWD_BK + 1
    HD = H * D
    out = Gmem(np.full(B * Lq * HD, np.nan), out=True)
    lse = Gmem(np.full(B * H * Lq, np.nan), out=True)
    nqb = (Lq + BQ - 1) // BQ
    tasks = B * H * nqb
    smem_floats = (BQ + BK) * (DMAX + 1) + BQ * (BK + 1)  # fwd_smem_bytes / 4
    for blk in range(min(tasks, grid)):
        sm = Smem(smem_floats)
        Qs, KVs = 0, BQ * LD
        Ps = KVs + BK * LD
        for task in range(blk, tasks, grid):
            qb, bh = task % nqb, task // nqb
            b, h = bh // H, bh % H
            i0 = qb * BQ
            sm.sync()
            load_tile(sm, Qs, q, b * Lq * HD + h * D, i0, Lq, HD, D, scale, BQ, DMAX)
            mrow = np.full((NT, RM), -np.inf, f32)
            lrow = np.zeros((NT, RM), f32)
            acc = np.zeros((NT, RM, DM8), f32)
            kend = min(i0 + BQ, Lk) if causal else Lk
            for j0 in range(0, kend, BK):
                sm.sync()
                load_tile(sm, KVs, k, b * Lk * HD + h * D, j0, Lk, HD, D, 1.0, BK, DMAX)
                sm.sync()
                s = tile_abt(sm, Qs, KVs, RM, CN, DMAX)
                i = i0 + TY[:, None] + 16 * np.arange(RM)[None, :]  # [tid, a]
                j = j0 + TX[:, None] + 8 * np.arange(CN)[None, :]  # [tid, b]
                mask = (j[:, None, :] >= Lk) | (causal & (j[:, None, :] > i[:, :, None]))
                s = np.where(mask, f32(-np.inf), s).astype(f32)
                mx = np.full((NT, RM), -np.inf, f32)
                for b2 in range(CN):
                    mx = np.fmax(mx, s[:, :, b2])
                mx = row8(mx, np.fmax)
                mnew = np.fmax(mrow, mx)
                msub = np.where(mnew == -np.inf, f32(0), mnew).astype(f32)
                alpha = expf(mrow - msub)
                p = expf(s - msub[:, :, None])
                rs = np.zeros((NT, RM), f32)
                for b2 in range(CN):
                    rs = (rs + p[:, :, b2]).astype(f32)
                rs = row8(rs, lambda x, y: (x + y).astype(f32))
                lrow = fma(lrow, alpha, rs)  # nvcc contracts lrow*alpha + rs
                mrow = mnew
                acc = (acc * alpha[:, :, None]).astype(f32)
                prow = (TY[:, None, None] + 16 * np.arange(RM)[None, :, None]) * LDP
                pcol = TX[:, None, None] + 8 * np.arange(CN)[None, None, :]
                sm.write(TID[:, None, None], Ps + prow + pcol, p)
                sm.sync()
                load_tile(sm, KVs, v, b * Lk * HD + h * D, j0, Lk, HD, D, 1.0, BK, DMAX)
                sm.sync()
                acc = tile_acc(sm, Ps, LDP, KVs, acc, RM, BK, DMAX)
            for a in range(RM):
                i = i0 + TY + 16 * a
                live = i < Lq
                inv = np.where(lrow[:, a] > 0, f32(1) / lrow[:, a], f32(0)).astype(f32)
                for m in range(DM8):
                    d = TX + 8 * m
                    w = live & (d < D)
                    out.store((b * Lq + i[w]) * HD + h * D + d[w], (acc[w, a, m] * inv[w]).astype(f32))
                w = live & (TX == 0)
                with np.errstate(divide="ignore"):
                    lv = np.where(lrow[w, a] > 0, mrow[w, a] + np.log(lrow[w, a]).astype(f32), -np.inf)
                lse.store(bh * Lq + i[w], lv.astype(f32))
    return out, lse


def dvec_kernel(out, dout, B, H, Lq, D):
    rows = B * H * Lq
    HD = H * D
    dvec = Gmem(np.full(rows, np.nan), out=True)
    for r in range(rows):
        i, bh = r % Lq, r // Lq
        b, h = bh // H, bh % H
        off = (b * Lq + i) * HD + h * D
        lane = np.arange(32)
        s = np.zeros(32, f32)
        for d0 in range(0, D, 32):
            d = d0 + lane
            ok = d < D
            s[ok] = fma(dout.load(off + d[ok]), out.load(off + d[ok]), s[ok])
        for o in (16, 8, 4, 2, 1):
            s = (s + s[lane ^ o]).astype(f32)
        dvec.store(np.array([r]), s[:1])
    return dvec


def bwd(q, k, v, dout, lse, dvec, B, H, Lq, Lk, D, scale, causal, grid):
    DMAX = dmax_of(D)
    BK = BQ = BWD_B
    RM, CN, DM8, LD, LDP = BK // 16, BQ // 8, DMAX // 8, DMAX + 1, BQ + 1
    HD = H * D
    dq = Gmem(np.full(B * Lq * HD, np.nan), out=True)
    dk = Gmem(np.full(B * Lk * HD, np.nan), out=True)
    dv = Gmem(np.full(B * Lk * HD, np.nan), out=True)
    smem_floats = 4 * BWD_B * (DMAX + 1) + 2 * BWD_B * (BWD_B + 1) + 2 * BWD_B  # bwd_smem_bytes / 4
    lsev = lse.a
    # ---- dK/dV: a CTA per (b, h, key block)
    nkb = (Lk + BK - 1) // BK
    tasks = B * H * nkb
    for blk in range(min(tasks, grid)):
        sm = Smem(smem_floats)
        Ks = 0
        Vs = Ks + BK * LD
        Qs = Vs + BK * LD
        dOs = Qs + BQ * LD
        PT = dOs + BQ * LD
        dST = PT + BK * LDP
        lse_s = dST + BK * LDP
        dv_s = lse_s + BQ
        for task in range(blk, tasks, grid):
            kb, bh = task % nkb, task // nkb
            b, h = bh // H, bh % H
            j0 = kb * BK
            qoff, koff = b * Lq * HD + h * D, b * Lk * HD + h * D
            sm.sync()
            load_tile(sm, Ks, k, koff, j0, Lk, HD, D, 1.0, BK, DMAX)
            load_tile(sm, Vs, v, koff, j0, Lk, HD, D, 1.0, BK, DMAX)
            dKa = np.zeros((NT, RM, DM8), f32)
            dVa = np.zeros((NT, RM, DM8), f32)
            qstart = (j0 // BQ) * BQ if causal else 0
            for i0 in range(qstart, Lq, BQ):
                sm.sync()
                load_tile(sm, Qs, q, qoff, i0, Lq, HD, D, scale, BQ, DMAX)
                load_tile(sm, dOs, dout, qoff, i0, Lq, HD, D, 1.0, BQ, DMAX)
                t = TID[TID < BQ]
                i = i0 + t
                ok = i < Lq
                lv = np.zeros(t.size, f32)
                dvv = np.zeros(t.size, f32)
                lv[ok] = lsev[bh * Lq + i[ok]]
                dvv[ok] = dvec.a[bh * Lq + i[ok]]
                sm.write(t, lse_s + t, lv)
                sm.write(t, dv_s + t, dvv)
                sm.sync()
                s = tile_abt(sm, Ks, Qs, RM, CN, DMAX)
                dp = tile_abt(sm, Vs, dOs, RM, CN, DMAX)
                j = j0 + TY[:, None, None] + 16 * np.arange(RM)[None, :, None]
                ii = TX[:, None, None] + 8 * np.arange(CN)[None, None, :]
                i = i0 + ii
                valid = (j < Lk) & (i < Lq) & ~(causal & (j > i))
                ls = sm.read(TID[:, None, None], lse_s + ii + 0 * j)
                dvs = sm.read(TID[:, None, None], dv_s + ii + 0 * j)
                p = np.where(valid, expf(s - ls), f32(0)).astype(f32)
                ds = (p * (dp - dvs).astype(f32)).astype(f32)
                rowp = (TY[:, None, None] + 16 * np.arange(RM)[None, :, None]) * LDP
                sm.write(TID[:, None, None], PT + rowp + ii, p)
                sm.write(TID[:, None, None], dST + rowp + ii, ds)
                sm.sync()
                dVa = tile_acc(sm, PT, LDP, dOs, dVa, RM, BQ, DMAX)
                dKa = tile_acc(sm, dST, LDP, Qs, dKa, RM, BQ, DMAX)
            for a in range(RM):
                j = j0 + TY + 16 * a
                for m in range(DM8):
                    d = TX + 8 * m
                    w = (j < Lk) & (d < D)
                    dk.store(koff + j[w] * HD + d[w], dKa[w, a, m])
                    dv.store(koff + j[w] * HD + d[w], dVa[w, a, m])
    # ---- dQ: a CTA per (b, h, query block)
    BQ = BK = BWD_B
    LDP = BK + 1
    nqb = (Lq + BQ - 1) // BQ
    tasks = B * H * nqb
    for blk in range(min(tasks, grid)):
        sm = Smem(smem_floats)
        Qs = 0
        dOs = Qs + BQ * LD
        Ks = dOs + BQ * LD
        Vs = Ks + BK * LD
        dS = Vs + BK * LD
        for task in range(blk, tasks, grid):
            qb, bh = task % nqb, task // nqb
            b, h = bh // H, bh % H
            i0 = qb * BQ
            qoff, koff = b * Lq * HD + h * D, b * Lk * HD + h * D
            sm.sync()
            load_tile(sm, Qs, q, qoff, i0, Lq, HD, D, scale, BQ, DMAX)
            load_tile(sm, dOs, dout, qoff, i0, Lq, HD, D, 1.0, BQ, DMAX)
            i = i0 + TY[:, None] + 16 * np.arange(RM)[None, :]
            ok = i < Lq
            lse_r = np.zeros((NT, RM), f32)
            dv_r = np.zeros((NT, RM), f32)
            lse_r[ok] = lsev[bh * Lq + i[ok]]
            dv_r[ok] = dvec.a[bh * Lq + i[ok]]
            dQa = np.zeros((NT, RM, DM8), f32)
            kend = min(i0 + BQ, Lk) if causal else Lk
            for j0 in range(0, kend, BK):
                sm.sync()
                load_tile(sm, Ks, k, koff, j0, Lk, HD, D, 1.0, BK, DMAX)
                load_tile(sm, Vs, v, koff, j0, Lk, HD, D, 1.0, BK, DMAX)
                sm.sync()
                s = tile_abt(sm, Qs, Ks, RM, CN, DMAX)
                dp = tile_abt(sm, dOs, Vs, RM, CN, DMAX)
                ii = i[:, :, None]
                jj = TX[:, None, None] + 8 * np.arange(CN)[None, None, :]
                j = j0 + jj
                valid = (j < Lk) & (ii < Lq) & ~(causal & (j > ii))
                p = np.where(valid, expf(s - lse_r[:, :, None]), f32(0)).astype(f32)
                ds = (p * (dp - dv_r[:, :, None]).astype(f32)).astype(f32)
                rowp = (TY[:, None, None] + 16 * np.arange(RM)[None, :, None]) * LDP
                sm.write(TID[:, None, None], dS + rowp + jj, ds)
                sm.sync()
                dQa = tile_acc(sm, dS, LDP, Ks, dQa, RM, BK, DMAX)
            for a in range(RM):
                ia = i0 + TY + 16 * a
                for m in range(DM8):
                    d = TX + 8 * m
                    w = (ia < Lq) & (d < D)
                    dq.store(qoff + ia[w] * HD + d[w], (dQa[w, a, m] * f32(scale)).astype(f32))
    return dq, dk, dv


def reference(q, k, v, dout, B, H, Lq, Lk, D, scale, causal):
    q4 = q.astype(np.float64).reshape(B, Lq, H, D).transpose(0, 2, 1, 3)
    k4 = k.astype(np.float64).reshape(B, Lk, H, D).transpose(0, 2, 1, 3)
    v4 = v.astype(np.float64).reshape(B, Lk, H, D).transpose(0, 2, 1, 3)
    o4 = dout.astype(np.float64).reshape(B, Lq, H, D).transpose(0, 2, 1, 3)
    s = q4 @ k4.transpose(0, 1, 3, 2) * float(scale)
    if causal:
        s = np.where(np.arange(Lk)[None, :] > np.arange(Lq)[:, None], -np.inf, s)
    m = s.max(-1, keepdims=True)
    e = np.exp(s - m)
    l = e.sum(-1, keepdims=True)
    p = e / l
    out = p @ v4
    lse = (m + np.log(l))[..., 0]
    dvv = p.transpose(0, 1, 3, 2) @ o4
    dp = o4 @ v4.transpose(0, 1, 3, 2)
    Di = (dp * p).sum(-1, keepdims=True)
    ds = p * (dp - Di) * float(scale)
    dq = ds @ k4
    dk = ds.transpose(0, 1, 3, 2) @ q4
    back = lambda t, L: t.transpose(0, 2, 1, 3).reshape(B * L * H * D)
    return back(out, Lq), lse.reshape(-1), back(dq, Lq), back(dk, Lk), back(dvv, Lk)


def rel(a, r):
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        return np.inf
    den = np.sqrt((r * r).sum())
    num = np.sqrt(((a - r) ** 2).sum())
    return num / den if den > 0 else num


def run_case(B, H, Lq, Lk, D, causal, grid, seed):
    rng = np.random.default_rng(seed)
    HD = H * D
    q = rng.standard_normal(B * Lq * HD).astype(f32)
    k = rng.standard_normal(B * Lk * HD).astype(f32)
    v = rng.standard_normal(B * Lk * HD).astype(f32)
    do = rng.standard_normal(B * Lq * HD).astype(f32)
    scale = f32(1.0 / np.sqrt(f32(D)))
    gq, gk, gv, gdo = Gmem(q), Gmem(k), Gmem(v), Gmem(do)
    out, lse = fwd(gq, gk, gv, B, H, Lq, Lk, D, scale, causal, grid)
    dvec = dvec_kernel(out, gdo, B, H, Lq, D)
    dq, dk, dv = bwd(gq, gk, gv, gdo, lse, dvec, B, H, Lq, Lk, D, scale, causal, grid)
    for name, g in (("out", out), ("lse", lse), ("dvec", dvec), ("dq", dq), ("dk", dk), ("dv", dv)):
        if not (g.count == 1).all():
            raise Fail(f"{name}: {(g.count == 0).sum()} elements unwritten, {(g.count > 1).sum()} written twice")
    ro, rl, rdq, rdk, rdv = reference(q, k, v, do, B, H, Lq, Lk, D, scale, causal)
    errs = {n: rel(g.a, r) for n, g, r in (("out", out, ro), ("lse", lse, rl), ("dq", dq, rdq), ("dk", dk, rdk),
                                           ("dv", dv, rdv))}
    if Lk == 1:  # one key: p = 1, dS = dP − Σ dO·O = 0 exactly; dq/dk are rounding noise around 0
        for n, g in (("dq", dq), ("dk", dk)):
            errs[n] = float(np.abs(g.a).max())
    bad = {n: e for n, e in errs.items() if not e < 1e-5}
    if bad:
        raise Fail("error above 1e-5: " + ", ".join(f"{n} {e:.3g}" for n, e in bad.items()))
    return errs


CASES = [
    # B, H, Lq, Lk, D, causal, grid (blocks; smaller than the task count exercises the task loop)
    (2, 2, 37, 77, 40, False, 3),
    (1, 2, 77, 37, 33, False, 2),
    (1, 1, 70, 70, 17, False, 64),
    (1, 2, 70, 70, 8, True, 3),
    (1, 1, 129, 129, 1, True, 2),
    (1, 1, 1, 1, 8, False, 1),
    (1, 1, 1, 1, 1, True, 1),
    (2, 1, 1, 65, 70, False, 1),
    (1, 1, 65, 1, 100, False, 2),
    (1, 1, 33, 150, 64, False, 4),
]


def main():
    ok = True
    for n, c in enumerate(CASES):
        try:
            errs = run_case(*c, seed=100 + n)
            print("PASS", c, " ".join(f"{k}={v:.2g}" for k, v in errs.items()))
        except Fail as e:
            ok = False
            print("FAIL", c, e)
    print("all PASS" if ok else "FAILURES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
