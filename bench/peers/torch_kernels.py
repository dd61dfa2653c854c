"""PyTorch CPU peer for bench/kernels.mjs: the same cases, the same thread count, timed the same
way (best-of-N wall time per call after warm-up). Reads {"threads", "cases": [...]} as JSON on
stdin and prints {"torch": version, "results": {case_id: seconds}} on stdout.

Attention is PyTorch's unfused softmax(q·kᵀ·scale)·v (torch 1.13 has no fused SDPA)."""
import json
import sys
import time

import torch
import torch.nn.functional as F


def timeit(fn, min_time, max_iters=50):
    fn()  # warm-up (allocations, oneDNN primitive creation)
    best = float("inf")
    spent = 0.0
    iters = 0
    while (spent < min_time or iters < 3) and iters < max_iters:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        iters += 1
    return best


def make(case):
    kind = case["kind"]
    g = torch.Generator().manual_seed(0)
    rn = lambda *s: torch.randn(*s, generator=g)
    if kind == "gemm":
        n = case["n"]
        a, b = rn(n, n), rn(n, n)
        return lambda: torch.mm(a, b)
    if kind in ("conv2d", "conv2d_bwd"):
        x = rn(case["batch"], case["cin"], case["h"], case["h"])
        w = rn(case["cout"], case["cin"], 3, 3) * 0.05
        b = rn(case["cout"])
        if kind == "conv2d":
            with torch.no_grad():
                return lambda: F.conv2d(x, w, b, padding=1)
        x.requires_grad_(True)
        w.requires_grad_(True)
        b.requires_grad_(True)
        y = F.conv2d(x, w, b, padding=1)
        gy = torch.randn_like(y)

        def bwd():
            torch.autograd.grad(y, (x, w, b), gy, retain_graph=True)

        return bwd
    if kind == "attention":
        B, H, Lq, Lk, D = case["batch"], case["heads"], case["lq"], case["lk"], case["d"]
        q, k, v = rn(B * H, Lq, D), rn(B * H, Lk, D), rn(B * H, Lk, D)
        scale = D ** -0.5
        return lambda: torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)) * scale, dim=-1), v)
    if kind == "sched_euler_a":
        # diffusers' EulerAncestralDiscreteScheduler.step at step 1 of 20 (sigmas of SD1.5)
        x, e = rn(*case["shape"]) * 5, rn(*case["shape"])
        sigma, sigma_to = torch.tensor(10.746849), torch.tensor(8.081535)

        def euler_a():
            pred = x - sigma * e
            up = (sigma_to**2 * (sigma**2 - sigma_to**2) / sigma**2) ** 0.5
            down = (sigma_to**2 - up**2) ** 0.5
            prev = x + (x - pred) / sigma * (down - sigma)
            return prev + torch.randn(x.shape, generator=g) * up, pred

        return euler_a
    if kind == "sched_dpm2m":
        # diffusers' DPMSolverMultistepScheduler (dpmsolver++, midpoint) second-order update
        x, e, m1 = rn(*case["shape"]) * 5, rn(*case["shape"]), rn(*case["shape"])
        s0, s1, st = torch.tensor(10.904239), torch.tensor(14.614645), torch.tensor(8.302805)

        def a_s(s):
            a = 1 / ((s**2 + 1) ** 0.5)
            return a, s * a

        def dpm():
            (a0, q0), (a1, q1), (at, qt) = a_s(s0), a_s(s1), a_s(st)
            x0 = (x - q0 * e) / a0
            l0, l1, lt = torch.log(a0) - torch.log(q0), torch.log(a1) - torch.log(q1), torch.log(at) - torch.log(qt)
            h, h0 = lt - l0, l0 - l1
            d1 = (1.0 / (h0 / h)) * (x0 - m1)
            return (qt / q0) * x - (at * (torch.exp(-h) - 1.0)) * x0 - 0.5 * (at * (torch.exp(-h) - 1.0)) * d1, x0

        return dpm
    if kind == "guidance":
        # diffusers' pix2pix CFG: chunk(3), then the expression (as the pipeline writes it)
        eps = rn(*case["shape"])

        def cfg():
            t, i, u = eps.chunk(3)
            return u + 7.5 * (t - i) + 1.5 * (i - u)

        return cfg
    if kind == "groupnorm_silu":
        x = rn(case["batch"], case["c"], case["h"], case["h"])
        gm, bt = rn(case["c"]), rn(case["c"])
        return lambda: F.silu(F.group_norm(x, case["groups"], gm, bt, 1e-5))
    if kind == "triplet":
        # SuperEdit's released loss (mse distance) and its gradient through autograd
        B = case["b"]
        target = rn(B, *case["shape"])
        pred = rn(2 * B, *case["shape"])
        mask = torch.tensor([0.0 if i % 4 == 3 else 1.0 for i in range(B)])

        def triplet():
            with torch.enable_grad():
                x = pred.detach().requires_grad_(True)
                pos, neg = torch.chunk(x, 2, dim=0)
                dp = F.mse_loss(pos, target, reduction="none").mean(dim=[1, 2, 3])
                dn = F.mse_loss(neg, target, reduction="none").mean(dim=[1, 2, 3])
                tl = torch.relu(dp - dn + 5e-4)
                tl = (tl * mask).sum() / (mask.sum() + 1e-8)
                loss = F.mse_loss(pos, target) + tl
                return torch.autograd.grad(loss, x)

        return triplet
    if kind == "adamw":
        p = torch.nn.Parameter(rn(int(case["n"])))
        p.grad = rn(int(case["n"])) * 0.01
        opt = torch.optim.AdamW([p], lr=1e-4, foreach=True)
        return opt.step
    if kind == "sumsq":
        g = rn(int(case["n"]))
        # clip_grad_norm_'s reduction (float32 accumulation; its non-finite check is on this total)
        return lambda: torch.linalg.vector_norm(g)
    if kind == "ema":
        e, p = rn(int(case["n"])), rn(int(case["n"]))
        return lambda: e.sub_(1e-4 * (e - p))  # diffusers' EMAModel.step
    raise ValueError(kind)


def main():
    cfg = json.load(sys.stdin)
    torch.set_num_threads(cfg["threads"])
    out = {}
    with torch.no_grad():
        for case in cfg["cases"]:
            fn = make(case)
            if case["kind"] == "conv2d_bwd":
                with torch.enable_grad():
                    fn = make(case)
                    out[case["id"]] = timeit(fn, cfg["minTime"])
            else:
                out[case["id"]] = timeit(fn, cfg["minTime"])
            print(f"  torch {case['id']}: {out[case['id']] * 1e3:.2f} ms", file=sys.stderr, flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": out}))


main()
