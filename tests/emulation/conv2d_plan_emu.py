# CPU emulation of native/src/cuda/conv2d.cu's host logic and kernel indexing: the scratch plan
# (make_plan / conv2d_scratch: chunks of whole images, bands of output rows), each_chunk, the
# per-thread index math of im2col / col2im / gather_dy / the bias sums, and the (offset, ld, stride,
# batch) arguments each pass hands to cuda::gemm (done here by a plain strided GEMM), against a
# float64 direct convolution, for odd shapes, strides, paddings and scratch budgets down to 1 byte
# (forward, dx, dw and db, overwrite and accumulate). Also asserts every chunk fits the scratch the
# op allocates. Keep it in step with conv2d.cu when its plan or indexing changes.
# Run: python3 tests/emulation/conv2d_plan_emu.py (~5 s; PASS/FAIL, exit 1 on failure; SKIP without numpy).
import sys, itertools
try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(0)

def gemm(tA, tB, M, N, K, alpha, A, aoff, lda, sA, B, boff, ldb, sB, beta, C, coff, ldc, sC, batch, bias=None, mode=0):
    if M <= 0 or N <= 0 or batch <= 0: return
    for z in range(batch):
        out = np.zeros((M, N))
        for m in range(M):
            for n in range(N):
                s = 0.0
                for k in range(K):
                    a = A[aoff + z*sA + (k*lda + m if tA else m*lda + k)]
                    b = B[boff + z*sB + (n*ldb + k if tB else k*ldb + n)]
                    s += a*b
                out[m, n] = s
        for m in range(M):
            for n in range(N):
                idx = coff + z*sC + m*ldc + n
                v = alpha*out[m, n]
                if beta != 0: v += beta*C[idx]
                if mode == 1: v += bias[n]
                elif mode == 2: v += bias[m]
                C[idx] = v

def make_plan(s, bpc, budget):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    PQ = P*Q
    cols = budget // bpc if bpc > 0 else PQ*N
    if cols < Q: cols = Q
    images, rows = 1, P
    if PQ <= cols:
        images = min(cols // PQ, N); images = max(images, 1)
    else:
        rows = max(cols // Q, 1); rows = min(rows, P)
    return images, rows

def chunks(s, plan):
    N,P = s[0], s[11]
    images, rows = plan
    n0 = 0
    while n0 < N:
        nb = min(images, N-n0)
        p0 = 0
        while p0 < P:
            yield n0, nb, p0, min(p0+rows, P)
            p0 += rows
        n0 += images

def pointwise(s):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    return R==1 and S==1 and sh==1 and sw==1 and ph==0 and pw==0

def im2col(s, x, n0, nb, p0, cols, col, ld, img_stride):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    RS = R*S; CRS = C*RS
    for i in range(nb*CRS*cols):
        j = i % cols; t = i // cols
        row = t % CRS; img = t // CRS
        p = p0 + j // Q; q = j % Q
        c = row // RS; r = row % RS // S; si = row % S
        h = p*sh - ph + r; w = q*sw - pw + si
        v = 0.0
        if 0 <= h < H and 0 <= w < W: v = x[(((n0+img)*C + c)*H + h)*W + w]
        col[img*img_stride + row*ld + j] = v

def col2im(s, dcol, n0, nb, p0, p1, cols, h0, h1, dx, acc):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    CRS = C*R*S; hn = h1-h0
    for i in range(nb*C*hn*W):
        w = i % W; t1 = i // W
        h = h0 + t1 % hn; t2 = t1 // hn
        c = t2 % C; img = t2 // C
        base = img*CRS*cols
        sm = 0.0
        for r in range(R):
            hp = h + ph - r
            if hp < 0 or hp % sh != 0: continue
            p = hp // sh
            if p < p0 or p >= p1: continue
            for si in range(S):
                wq = w + pw - si
                if wq < 0 or wq % sw != 0: continue
                q = wq // sw
                if q >= Q: continue
                sm += dcol[base + ((c*R + r)*S + si)*cols + (p-p0)*Q + q]
        d = (((n0+img)*C + c)*H + h)*W + w
        dx[d] = dx[d] + sm if acc else sm

def scratch_sizes(s, e, budget):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    PQ = P*Q; CRS = C*R*S
    if N <= 0 or PQ <= 0 or K <= 0 or CRS <= 0 or pointwise(s): return 0, 0, 0
    pf = make_plan(s, CRS*e, budget); fwd = CRS*pf[0]*pf[1]*Q*e
    pi = make_plan(s, CRS*4, budget); bi = CRS*pi[0]*pi[1]*Q*4
    pw_ = make_plan(s, (CRS+K)*e, budget); bw = CRS*pw_[0]*pw_[1]*Q*e
    gb = K*pw_[0]*pw_[1]*Q*e if pw_[0] > 1 else 0
    return fwd, max(bi, bw), gb

def forward(s, x, w, b, e, budget):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    PQ = P*Q; CRS = C*R*S
    y = np.full(N*K*PQ, np.nan)
    mode = 2 if b is not None else 0
    if CRS == 0:
        gemm(False, False, K, PQ, 0, 1, w, 0, 0, 0, x, 0, PQ, 0, 0, y, 0, PQ, K*PQ, N, b, mode); return y
    if pointwise(s):
        gemm(False, False, K, PQ, C, 1, w, 0, C, 0, x, 0, PQ, C*PQ, 0, y, 0, PQ, K*PQ, N, b, mode); return y
    plan = make_plan(s, CRS*e, budget)
    fb = scratch_sizes(s, e, budget)[0]
    col = np.full(fb // e, np.nan)
    for n0, nb, p0, p1 in chunks(s, plan):
        cols = (p1-p0)*Q
        assert nb*CRS*cols <= col.size
        im2col(s, x, n0, nb, p0, cols, col, cols, CRS*cols)
        gemm(False, False, K, cols, CRS, 1, w, 0, CRS, 0, col, 0, cols, CRS*cols, 0, y, n0*K*PQ + p0*Q, PQ, K*PQ, nb, b, mode)
    return y

def backward(s, x, w, dy, e, budget, acc, dw0, db0):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    PQ = P*Q; CRS = C*R*S; HW = H*W
    dx = np.full(N*C*HW, np.nan)
    _, colsz, gsz = scratch_sizes(s, e, budget)
    col = np.full(max(colsz // min(e, 4), 1), np.nan)  # element count generous for f32 col in bwd input
    colb = colsz  # bytes
    # backward input
    if N > 0 and C > 0 and HW > 0:
        if pointwise(s):
            gemm(True, False, C, HW, K, 1, w, 0, C, 0, dy, 0, PQ, K*PQ, 0, dx, 0, HW, C*HW, N)
        elif PQ <= 0 or K <= 0:
            dx[:] = 0
        else:
            plan = make_plan(s, CRS*4, budget)
            banded = plan[1] < P
            if banded: dx[:] = 0
            for n0, nb, p0, p1 in chunks(s, plan):
                cols = (p1-p0)*Q
                assert nb*CRS*cols*4 <= colb, (nb, CRS, cols, colb)
                dcol = np.full(colb // 4, np.nan)
                gemm(True, False, CRS, cols, K, 1, w, 0, CRS, 0, dy, n0*K*PQ + p0*Q, PQ, K*PQ, 0, dcol, 0, cols, CRS*cols, nb)
                h0, h1 = 0, H
                if banded:
                    h0 = max(p0*sh - ph, 0); h1 = min((p1-1)*sh - ph + R, H)
                if h1 <= h0: continue
                col2im(s, dcol, n0, nb, p0, p1, cols, h0, h1, dx, banded)
    # backward weight
    dw = dw0.copy(); db = db0.copy() if db0 is not None else None
    if K > 0:
        if CRS > 0:
            beta = 1 if acc else 0
            if N <= 0 or PQ <= 0:
                if not acc: dw[:] = 0
            elif pointwise(s):
                for n in range(N):
                    gemm(False, True, K, C, PQ, 1, dy, n*K*PQ, PQ, 0, x, n*C*HW, HW, 0, beta, dw, 0, C, 0, 1)
                    beta = 1
            else:
                plan = make_plan(s, (CRS+K)*e, budget)
                for n0, nb, p0, p1 in chunks(s, plan):
                    cols = (p1-p0)*Q; tot = nb*cols
                    assert CRS*tot*e <= colb
                    colw = np.full(colb // e, np.nan)
                    im2col(s, x, n0, nb, p0, cols, colw, tot, cols)
                    g, goff, ldg = dy, n0*K*PQ + p0*Q, PQ
                    if nb > 1:
                        assert p0 == 0 and cols == PQ
                        assert K*tot*e <= gsz
                        gat = np.full(gsz // e, np.nan)
                        totk = nb*PQ
                        for i in range(K*totk):
                            k = i // totk; rem = i % totk; img = rem // PQ; j = rem % PQ
                            gat[i] = dy[((n0+img)*K + k)*PQ + j]
                        g, goff, ldg = gat, 0, tot
                    gemm(False, True, K, CRS, tot, 1, g, goff, ldg, 0, colw, 0, tot, 0, beta, dw, 0, CRS, 0, 1)
                    beta = 1
        if db is not None:
            for k in range(K):
                sm = sum(dy[(n*K + k)*PQ + j] for n in range(N) for j in range(PQ))
                db[k] = db[k] + sm if acc else sm
    return dx, dw, db

def reference(s, x, w, b, dy):
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    X = x.reshape(N,C,H,W); Wt = w.reshape(K,C,R,S); DY = dy.reshape(N,K,P,Q)
    y = np.zeros((N,K,P,Q)); dx = np.zeros((N,C,H,W)); dw = np.zeros((K,C,R,S))
    for n,k,p,q,c,r,si in itertools.product(range(N),range(K),range(P),range(Q),range(C),range(R),range(S)):
        h = p*sh-ph+r; ww = q*sw-pw+si
        if 0 <= h < H and 0 <= ww < W:
            y[n,k,p,q] += X[n,c,h,ww]*Wt[k,c,r,si]
            dx[n,c,h,ww] += DY[n,k,p,q]*Wt[k,c,r,si]
            dw[k,c,r,si] += DY[n,k,p,q]*X[n,c,h,ww]
    if b is not None: y += b.reshape(1,K,1,1)
    db = DY.sum(axis=(0,2,3))
    return y.ravel(), dx.ravel(), dw.ravel(), db

def shape(N,C,H,W,K,R,S,sh,sw,ph,pw):
    return (N,C,H,W,K,R,S,sh,sw,ph,pw,(H+2*ph-R)//sh+1,(W+2*pw-S)//sw+1)

rng = np.random.default_rng(1)
shapes = [shape(2,3,7,9,5,3,3,1,1,1,1), shape(1,4,8,6,3,3,3,2,2,1,1), shape(2,5,9,7,4,3,3,2,2,0,0),
          shape(3,5,5,6,4,1,1,1,1,0,0), shape(2,6,7,5,4,1,1,2,2,0,0), shape(1,3,6,7,2,1,1,1,1,1,1),
          shape(2,3,5,8,4,2,3,1,2,0,1), shape(1,2,4,4,3,3,3,1,1,2,2), shape(3,4,15,15,3,3,3,1,1,1,1),
          shape(2,3,17,11,3,3,3,2,2,1,1), shape(2,3,9,9,2,5,5,3,2,2,1), shape(1,2,9,7,3,3,2,1,1,1,0),
          shape(2,2,6,5,3,4,3,3,1,0,2), shape(1,1,5,5,2,5,5,1,1,0,0), shape(2,0,4,4,3,3,3,1,1,1,1)]
bad = 0
for s in shapes:
    N,C,H,W,K,R,S,sh,sw,ph,pw,P,Q = s
    x = rng.standard_normal(N*C*H*W); w = rng.standard_normal(K*C*R*S); b = rng.standard_normal(K)
    dy = rng.standard_normal(N*K*P*Q)
    yr, dxr, dwr, dbr = reference(s, x, w, b, dy)
    for budget in [256 << 20, 64 << 10, 8 << 10, 2 << 10, 600, 100, 1]:
        for e in (4, 2):
            for acc in (False, True):
                y = forward(s, x, w, b, e, budget)
                dw0 = rng.standard_normal(K*C*R*S); db0 = rng.standard_normal(K)
                dx, dw, db = backward(s, x, w, dy, e, budget, acc, dw0, db0)
                want_dw = dwr + (dw0 if acc else 0); want_db = dbr + (db0 if acc else 0)
                for name, got, want in [("y", y, yr), ("dx", dx, dxr), ("dw", dw, want_dw), ("db", db, want_db)]:
                    if got.shape != want.shape or not np.allclose(got, want, atol=1e-9):
                        bad += 1; print("MISMATCH", name, s, budget, e, acc)
print("FAIL" if bad else "PASS", bad)
sys.exit(1 if bad else 0)
