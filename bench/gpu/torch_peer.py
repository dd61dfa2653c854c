#!/usr/bin/env python3
"""PyTorch peer of the GPU benchmark (bench/gpu/bench_gpu.cc times the same rows through instructedit).

    python3 bench/gpu/torch_peer.py [--only unet,edit,train,kernels] [--no-compile] [--iters N]
    python3 bench/gpu/torch_peer.py --warm-compile-cache     # compile only (fills inductor's cache)

Prints one JSON object per line on stdout:
    {"name", "impl", "dtype", "ms", "tflops"?, "gbps"?, "flop"?, "bytes"?, "note"?}   a timing
    {"name", "impl", "error"}                                                       a row that failed
and a first {"name": "device", ...} line describing the GPU and the software. Every row is timed
with CUDA events: warm-up calls, then the median of `iters` samples; a sample runs the call enough
times back to back to last >= 1 ms (short kernels would otherwise time the launch), and ms is per call.

Rows (names shared with bench_gpu.cc; keep the two lists in sync):
  unet_fwd_b3_64_f16        SD1.5-sized InstructPix2Pix UNet (conv_in 8 -> 320, blocks 320/640/1280/1280,
                            2 resnets per level, transformer blocks with self-attn, cross-attn to
                            77x768 text, GEGLU FF, 8 heads, GroupNorm 32), forward at batch 3 (one
                            pix2pix step: text+image, image only, neither), 64x64 latents, fp16 weights
                            and activations; torch-eager (attention through F.scaled_dot_product_attention)
                            and torch-compile (torch.compile(model), default mode). ~2.4 TFLOP.
  edit_512_20steps_f16      a whole 20-step 512x512 edit: VAE encode, 20 x (UNet at batch 3, guidance,
                            Euler-ancestral step), VAE decode; fp16. The CLIP text encoder (one
                            77-token pass, < 1% of the time) is left out.
  train_step_b8x2_32_bf16   a training step: UNet fwd+bwd at batch 16 (8 pairs x 2 for the triplet),
                            32x32 latents, bf16 autocast over float32 master weights, the triplet loss
                            fused with the MSE, clip_grad_norm_(1.0), fused AdamW, zero_grad.
  gemm_MxNxK_<dt>           y[M,N] = x[M,K] . w[N,K]^T (F.linear, cuBLAS); float32 without TF32 (torch's default)
  conv3x3_<N>x<C>x<H>x<W>_<dt>  3x3 pad 1 conv, C -> C channels (cudnn.benchmark on)
  attn_fwd_b<B>h<H>_<Lq>x<Lk>_d<D>_<dt> / attn_bwd_...   SDPA (flash / memory-efficient), [B, L, H*D] layout
  groupnorm_silu_<N>x<C>x<H>x<W>_<dt>   GroupNorm(32) + SiLU (eager: two kernels; compile: fused)
  adamw_860M_f32            one AdamW step over a flat 860M float32 parameter buffer (fused=True)

The UNet is bench/peers/unet_torch.py (diffusers' UNet2DConditionModel in plain torch.nn, proved
equal to diffusers by bench/peers/check_unet_parity.py): diffusers is not installed on the GPU
machine. Weights are torch's default init (timing does not depend on the values).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))

# The InstructPix2Pix UNet (timbrooks/instruct-pix2pix unet/config.json, the fields that matter),
# the same as ../shared/parity/manifest.json's ip2p_real_unet_config.
IP2P_UNET_CONFIG = {
    "sample_size": 64, "in_channels": 8, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-05,
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
# Stable Diffusion 1.5's VAE (AutoencoderKL, KL-f8).
SD15_VAE_CONFIG = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4, "scaling_factor": 0.18215, "sample_size": 512,
}
TEXT_LEN, TEXT_DIM = 77, 768

# Kernel-level shapes (the same in bench_gpu.cc). GEMMs: y[M,N] = x[M,K] w[N,K]^T, from the UNet at
# 64x64 latents (4096 tokens per image at level 0, 1024 at level 1, 256 at level 2).
GEMMS = [(4096, 320, 320), (12288, 320, 320), (4096, 2560, 320), (4096, 320, 1280), (4096, 1280, 320),
         (1024, 640, 640), (256, 1280, 1280)]
CONVS = [(3, 320, 64, 64), (3, 1280, 16, 16)]  # N, C, H, W; 3x3, pad 1, C -> C
ATTN_FWD = [(3, 8, 4096, 4096, 40), (3, 8, 4096, 77, 40), (3, 8, 1024, 1024, 80)]  # B, H, Lq, Lk, D
ATTN_BWD = [(16, 8, 1024, 1024, 40), (16, 8, 1024, 77, 40)]  # the training step's level-0 shapes
GROUPNORMS = [(3, 320, 64, 64), (16, 640, 16, 16)]
ADAMW_N = 859_532_484  # the UNet's parameter count

DT_NAMES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32"}

# Where and how big: the GPU run as above; --smoke-cpu shrinks everything to run each code path on a
# CPU (a check of this script where no GPU is, not a benchmark).
DEV = "cuda"
LAT = 64  # latent side of the UNet forward and the edit (image side = 8 * LAT)
TRAIN_S = 32  # latent side of the training step


def smoke_cpu():
    global DEV, LAT, TRAIN_S, GEMMS, CONVS, ATTN_FWD, ATTN_BWD, GROUPNORMS, ADAMW_N
    DEV, LAT, TRAIN_S = "cpu", 16, 8
    IP2P_UNET_CONFIG["block_out_channels"] = [32, 32, 64, 64]
    SD15_VAE_CONFIG["block_out_channels"] = [32, 32, 32, 32]
    GEMMS, CONVS = [(64, 32, 16)], [(1, 32, 8, 8)]
    ATTN_FWD, ATTN_BWD = [(1, 2, 16, 16, 8), (1, 2, 16, 7, 8)], [(2, 2, 16, 7, 8)]
    GROUPNORMS, ADAMW_N = [(1, 32, 4, 4)], 1000


def sync(torch):
    if DEV == "cuda":
        torch.cuda.synchronize()


def empty_cache(torch):
    if DEV == "cuda":
        torch.cuda.empty_cache()


def peak_mem_gb(torch):
    return round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if DEV == "cuda" else None


def emit(**row):
    print(json.dumps(row), flush=True)


def fail_row(name, impl, e):
    emit(name=name, impl=impl, error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
    traceback.print_exc(file=sys.stderr)


class Timer:
    def __init__(self, torch, iters, warmup):
        self.torch, self.iters, self.warmup = torch, iters, warmup

    def ms(self, fn, min_sample_ms=1.0):
        """Median ms per call of fn() (CUDA events)."""
        torch = self.torch
        if DEV != "cuda":  # --smoke-cpu: wall time, a check that the code runs, not a benchmark
            fn()
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3
        for _ in range(self.warmup):
            fn()
        sync(torch)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        one = max(s.elapsed_time(e), 1e-3)
        reps = max(1, min(1000, math.ceil(min_sample_ms / one)))
        samples = []
        for _ in range(self.iters):
            s.record()
            for _ in range(reps):
                fn()
            e.record()
            e.synchronize()
            samples.append(s.elapsed_time(e) / reps)
        return statistics.median(samples)


def timed_row(name, impl, dtype, ms, flop=None, nbytes=None, **extra):
    row = {"name": name, "impl": impl, "dtype": dtype, "ms": round(ms, 4)}
    if flop:
        row["flop"] = flop
        row["tflops"] = round(flop / (ms * 1e-3) / 1e12, 2)
    if nbytes:
        row["bytes"] = nbytes
        row["gbps"] = round(nbytes / (ms * 1e-3) / 1e9, 1)
    row.update(extra)
    emit(**row)


def count_flops(torch, fn):
    """FLOPs of one call by torch's FlopCounterMode (matmuls, convs, SDPA), or None."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            fn()
        return int(fc.get_total_flops())
    except Exception as e:  # noqa: BLE001
        print(f"flop counter failed: {e}", file=sys.stderr)
        return None


def use_sdpa(unet_torch, F):
    """Attention through F.scaled_dot_product_attention (diffusers' default AttnProcessor2_0)."""

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b = x.shape[0]
        q = self.to_q(x).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        k = self.to_k(ctx).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        v = self.to_v(ctx).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v)
        o = o.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim)
        return self.to_out[1](self.to_out[0](o))

    unet_torch.Attention.forward = forward


# --------------------------------------------------------------------------------------------------
# model-level rows


def make_unet(torch, unet_torch, dtype):
    with torch.device(DEV):
        model = unet_torch.UNet2DConditionModel(IP2P_UNET_CONFIG)
    return model.to(dtype).eval()


def bench_unet(torch, unet_torch, timer, args, warm_only=False):
    name = "unet_fwd_b3_64_f16"
    dt = torch.float16
    model = make_unet(torch, unet_torch, dt)
    nparams = sum(p.numel() for p in model.parameters())
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.randn(3, 8, LAT, LAT, device=DEV, dtype=dt, generator=g)
    t = torch.full((3,), 500.0, device=DEV)
    ehs = torch.randn(3, TEXT_LEN, TEXT_DIM, device=DEV, dtype=dt, generator=g)
    models = {}
    flop = None
    with torch.inference_mode():
        if not warm_only:
            fwd = lambda: model(x, t, ehs)  # noqa: E731
            flop = count_flops(torch, fwd)
            try:
                timed_row(name, "torch-eager", "float16", timer.ms(fwd), flop, params=nparams, attention="sdpa")
            except Exception as e:  # noqa: BLE001
                fail_row(name, "torch-eager", e)
            models["eager"] = model
        if args.compile:
            try:
                t0 = time.perf_counter()
                cmodel = torch.compile(model)
                cmodel(x, t, ehs)
                sync(torch)
                compile_s = time.perf_counter() - t0
                if warm_only:
                    emit(name=name, impl="torch-compile", note=f"cache warmed in {compile_s:.1f} s")
                else:
                    timed_row(name, "torch-compile", "float16", timer.ms(lambda: cmodel(x, t, ehs)), flop,
                              compile_s=round(compile_s, 1))
                models["compile"] = cmodel
            except Exception as e:  # noqa: BLE001
                fail_row(name, "torch-compile", e)
            # The peer of our graph-replay row: torch.compile with CUDA graphs (reduce-overhead).
            if not warm_only:
                gname = name + "_graph"
                try:
                    t0 = time.perf_counter()
                    gmodel = torch.compile(model, mode="reduce-overhead")
                    for _ in range(3):  # cudagraph trees record on the second/third call
                        gmodel(x, t, ehs)
                    sync(torch)
                    compile_s = time.perf_counter() - t0
                    timed_row(gname, "torch-compile", "float16", timer.ms(lambda: gmodel(x, t, ehs)), flop,
                              compile_s=round(compile_s, 1), note="mode=reduce-overhead (CUDA graphs)")
                except Exception as e:  # noqa: BLE001
                    fail_row(gname, "torch-compile", e)
    return models


def bench_edit(torch, unet_torch, vae_torch, models, timer):
    """VAE encode, 20 Euler-ancestral steps of the pix2pix UNet at batch 3, VAE decode (fp16)."""
    import numpy as np

    name = "edit_512_20steps_f16"
    dt = torch.float16
    with torch.device(DEV):
        vae = vae_torch.AutoencoderKL(SD15_VAE_CONFIG)
    vae = vae.to(dt).eval()
    # Euler-ancestral sigmas, linspace spacing (as bench/peers/pipeline_torch.py), on the host
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    acp = np.cumprod(1 - betas)
    train_sigmas = ((1 - acp) / acp) ** 0.5
    steps = 20
    ts = np.linspace(0, 999, steps)[::-1]
    sig = np.concatenate([np.interp(ts, np.arange(1000), train_sigmas), [0.0]])
    g = torch.Generator(device=DEV).manual_seed(1)
    img = torch.rand(1, 3, 8 * LAT, 8 * LAT, device=DEV, dtype=dt, generator=g) * 2 - 1
    text = torch.randn(3, TEXT_LEN, TEXT_DIM, device=DEV, dtype=dt, generator=g)
    noise0 = torch.randn(1, 4, LAT, LAT, device=DEV, dtype=dt, generator=g)
    gs, igs = 7.5, 1.5

    def edit(unet):
        mean, _ = vae.encode(img)
        image_lat = torch.cat([mean, mean, torch.zeros_like(mean)])
        x = noise0 * float(sig.max())
        for i in range(steps):
            s, s_next = float(sig[i]), float(sig[i + 1])
            xin = torch.cat([x, x, x]) / math.sqrt(s * s + 1)
            eps = unet(torch.cat([xin, image_lat], dim=1), torch.full((3,), float(ts[i]), device=DEV), text)
            e_text, e_img, e_unc = eps.chunk(3)
            e = e_unc + gs * (e_text - e_img) + igs * (e_img - e_unc)
            sigma_up = math.sqrt(max(s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2, 0.0))
            sigma_down = math.sqrt(max(s_next ** 2 - sigma_up ** 2, 0.0))
            x = x + e * (sigma_down - s)  # d = (x - x0)/s = eps
            if sigma_up > 0:
                x = x + torch.randn_like(x) * sigma_up
        return vae.decode(x / SD15_VAE_CONFIG["scaling_factor"])

    with torch.inference_mode():
        for impl, key in (("torch-eager", "eager"), ("torch-compile", "compile")):
            if key not in models:
                continue
            try:
                timer_few = Timer(torch, iters=3, warmup=1)
                timed_row(name, impl, "float16", timer_few.ms(lambda: edit(models[key])), None,
                          note="unet compiled, vae eager" if key == "compile" else "sdpa")
            except Exception as e:  # noqa: BLE001
                fail_row(name, impl, e)
    del vae


def bench_train(torch, unet_torch, timer, args):
    """One training step, batch 8 pairs x 2 (triplet) at 32x32 latents, bf16 autocast."""
    import torch.nn.functional as F

    name = "train_step_b8x2_32_bf16"
    B, S = 8, TRAIN_S
    with torch.device(DEV):
        model = unet_torch.UNet2DConditionModel(IP2P_UNET_CONFIG)
    model.train()
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2, fused=True)
    g = torch.Generator(device=DEV).manual_seed(2)
    x0 = torch.randn(B, 4, S, S, device=DEV, generator=g)
    src = torch.randn(B, 4, S, S, device=DEV, generator=g)
    pos = torch.randn(B, TEXT_LEN, TEXT_DIM, device=DEV, generator=g)
    neg = torch.randn(B, TEXT_LEN, TEXT_DIM, device=DEV, generator=g)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, device=DEV) ** 2
    acp = torch.cumprod(1 - betas, 0)
    keep = torch.ones(B, device=DEV)

    def fwd_bwd(m):
        t = torch.randint(0, 1000, (B,), device=DEV)
        noise = torch.randn_like(x0)
        a = acp[t].view(B, 1, 1, 1)
        x = torch.cat([a.sqrt() * x0 + (1 - a).sqrt() * noise, src], 1)
        tf = t.float()
        with torch.autocast(DEV, dtype=torch.bfloat16):
            out = m(torch.cat([x, x]), torch.cat([tf, tf]), torch.cat([pos, neg]))
        p, n = out.float().chunk(2)
        mse = F.mse_loss(p, noise)
        d_pos = (p - noise).pow(2).mean(dim=(1, 2, 3))
        d_neg = (n - noise).pow(2).mean(dim=(1, 2, 3))
        trip = (F.relu(d_pos - d_neg + 5e-4) * keep).sum() / keep.sum().clamp(min=1)
        (mse + trip).backward()

    def step(m):
        fwd_bwd(m)
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)

    flop = count_flops(torch, lambda: fwd_bwd(model))
    opt.zero_grad(set_to_none=True)
    try:
        few = Timer(torch, iters=5, warmup=2)
        timed_row(name, "torch-eager", "bfloat16", few.ms(lambda: step(model)), flop,
                  note="autocast bf16, fp32 master weights, fused AdamW, sdpa",
                  peak_mem_gb=peak_mem_gb(torch))
    except Exception as e:  # noqa: BLE001
        fail_row(name, "torch-eager", e)
    if args.compile_train:
        try:
            t0 = time.perf_counter()
            cm = torch.compile(model)
            step(cm)
            sync(torch)
            few = Timer(torch, iters=5, warmup=1)
            timed_row(name, "torch-compile", "bfloat16", few.ms(lambda: step(cm)), flop,
                      compile_s=round(time.perf_counter() - t0, 1))
        except Exception as e:  # noqa: BLE001
            fail_row(name, "torch-compile", e)
    del model, opt, params


# --------------------------------------------------------------------------------------------------
# kernel-level rows


def bench_kernels(torch, timer, args):
    import torch.nn.functional as F

    dts = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}
    g = torch.Generator(device=DEV).manual_seed(3)

    def rn(*shape, dt):
        return torch.randn(*shape, device=DEV, dtype=dt, generator=g)

    with torch.inference_mode():
        for (M, N, K) in GEMMS:
            for dn, dt in dts.items():
                name = f"gemm_{M}x{N}x{K}_{dn}"
                try:
                    x, w = rn(M, K, dt=dt), rn(N, K, dt=dt)
                    timed_row(name, "torch-eager", DT_NAMES[dn], timer.ms(lambda: F.linear(x, w)), 2 * M * N * K)
                except Exception as e:  # noqa: BLE001
                    fail_row(name, "torch-eager", e)
        for (Nb, C, H, W) in CONVS:
            for dn, dt in dts.items():
                name = f"conv3x3_{Nb}x{C}x{H}x{W}_{dn}"
                try:
                    x, w, b = rn(Nb, C, H, W, dt=dt), rn(C, C, 3, 3, dt=dt), rn(C, dt=dt)
                    timed_row(name, "torch-eager", DT_NAMES[dn], timer.ms(lambda: F.conv2d(x, w, b, padding=1)),
                              2 * Nb * C * H * W * C * 9)
                except Exception as e:  # noqa: BLE001
                    fail_row(name, "torch-eager", e)
        for (B, Hh, Lq, Lk, D) in ATTN_FWD:
            for dn in ("f16", "bf16"):
                dt = dts[dn]
                name = f"attn_fwd_b{B}h{Hh}_{Lq}x{Lk}_d{D}_{dn}"
                try:
                    q = rn(B, Lq, Hh * D, dt=dt).view(B, Lq, Hh, D).transpose(1, 2)
                    k = rn(B, Lk, Hh * D, dt=dt).view(B, Lk, Hh, D).transpose(1, 2)
                    v = rn(B, Lk, Hh * D, dt=dt).view(B, Lk, Hh, D).transpose(1, 2)
                    timed_row(name, "torch-eager", DT_NAMES[dn], timer.ms(lambda: F.scaled_dot_product_attention(q, k, v)),
                              4 * B * Hh * Lq * Lk * D)
                except Exception as e:  # noqa: BLE001
                    fail_row(name, "torch-eager", e)
        for (Nb, C, H, W) in GROUPNORMS:
            for dn, dt in dts.items():
                name = f"groupnorm_silu_{Nb}x{C}x{H}x{W}_{dn}"
                x, w, b = rn(Nb, C, H, W, dt=dt), rn(C, dt=dt), rn(C, dt=dt)
                nbytes = 2 * x.numel() * x.element_size()
                gn = lambda: F.silu(F.group_norm(x, 32, w, b, 1e-5))  # noqa: E731
                try:
                    timed_row(name, "torch-eager", DT_NAMES[dn], timer.ms(gn), None, nbytes)
                except Exception as e:  # noqa: BLE001
                    fail_row(name, "torch-eager", e)
                if args.compile:
                    try:
                        cgn = torch.compile(lambda x, w, b: F.silu(F.group_norm(x, 32, w, b, 1e-5)), dynamic=False)
                        cgn(x, w, b)
                        timed_row(name, "torch-compile", DT_NAMES[dn], timer.ms(lambda: cgn(x, w, b)), None, nbytes)
                    except Exception as e:  # noqa: BLE001
                        fail_row(name, "torch-compile", e)

    # backward rows need autograd
    for (B, Hh, Lq, Lk, D) in ATTN_BWD:
        for dn in ("f16", "bf16"):
            dt = dts[dn]
            name = f"attn_bwd_b{B}h{Hh}_{Lq}x{Lk}_d{D}_{dn}"
            try:
                # leaves in the [B, L, H*D] layout of the UNet (and of our op); SDPA sees [B, H, L, D] views
                qb, kb, vb = (rn(B, L, Hh * D, dt=dt).requires_grad_() for L in (Lq, Lk, Lk))
                heads = lambda t: t.view(B, t.shape[1], Hh, D).transpose(1, 2)  # noqa: E731
                out = F.scaled_dot_product_attention(heads(qb), heads(kb), heads(vb))
                dout = torch.randn_like(out)
                bwd = lambda: torch.autograd.grad(out, (qb, kb, vb), dout, retain_graph=True)  # noqa: E731
                # FlashAttention convention: backward = 2.5x the forward's 4·B·H·Lq·Lk·D (recomputes S)
                timed_row(name, "torch-eager", DT_NAMES[dn], timer.ms(bwd), 10 * B * Hh * Lq * Lk * D)
                del qb, kb, vb, out, dout
            except Exception as e:  # noqa: BLE001
                fail_row(name, "torch-eager", e)

    name = "adamw_860M_f32"
    try:
        p = torch.nn.Parameter(torch.randn(ADAMW_N, device=DEV, generator=g))
        p.grad = torch.randn(ADAMW_N, device=DEV, generator=g)
        opt = torch.optim.AdamW([p], lr=1e-4, weight_decay=1e-2, fused=True)
        opt.step()  # allocates m, v
        few = Timer(torch, iters=5, warmup=1)
        # p read+write, g read, m read+write, v read+write
        timed_row(name, "torch-eager", "float32", few.ms(opt.step), None, 28 * ADAMW_N, note="fused=True")
        del p, opt
    except Exception as e:  # noqa: BLE001
        fail_row(name, "torch-eager", e)
    empty_cache(torch)


# --------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="kernels,unet,edit,train", help="comma-separated sections")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile rows")
    ap.add_argument("--compile-train", action="store_true", help="also torch.compile the training step (slow)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--warm-compile-cache", action="store_true",
                    help="only compile the UNet forward once (fills inductor's on-disk cache for a later run)")
    ap.add_argument("--smoke-cpu", action="store_true", help="run every row tiny on the CPU (checks this script)")
    args = ap.parse_args()
    sections = set(args.only.split(","))
    if args.smoke_cpu:
        smoke_cpu()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        emit(name="device", impl="torch", error=f"torch not importable: {e}")
        return 0
    if DEV == "cuda" and not torch.cuda.is_available():
        emit(name="device", impl="torch", error="no CUDA device")
        return 0
    import unet_torch
    import vae_torch

    use_sdpa(unet_torch, F)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 rows are float32 (torch's default)
    torch.backends.cudnn.allow_tf32 = False
    timer = Timer(torch, args.iters, args.warmup)

    if args.warm_compile_cache:
        bench_unet(torch, unet_torch, timer, args, warm_only=True)
        return 0

    if DEV == "cuda":
        prop = torch.cuda.get_device_properties(0)
        emit(name="device", impl="torch", gpu=prop.name, sm_count=prop.multi_processor_count,
             memory_gb=round(prop.total_memory / 2 ** 30, 1), capability=f"{prop.major}.{prop.minor}",
             torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    else:
        emit(name="device", impl="torch", gpu="cpu (smoke run, not a benchmark)", torch=torch.__version__)

    t_start = time.perf_counter()
    # the headline rows first (a run cut short by its time limit keeps what it printed)
    models = {}
    if "unet" in sections or "edit" in sections:
        try:
            models = bench_unet(torch, unet_torch, timer, args)
        except Exception as e:  # noqa: BLE001
            fail_row("unet_fwd_b3_64_f16", "torch", e)
    if "edit" in sections:
        try:
            bench_edit(torch, unet_torch, vae_torch, models, timer)
        except Exception as e:  # noqa: BLE001
            fail_row("edit_512_20steps_f16", "torch", e)
    models.clear()
    empty_cache(torch)
    if "train" in sections:
        try:
            bench_train(torch, unet_torch, timer, args)
        except Exception as e:  # noqa: BLE001
            fail_row("train_step_b8x2_32_bf16", "torch", e)
    if "kernels" in sections:
        bench_kernels(torch, timer, args)
    emit(name="done", impl="torch", seconds=round(time.perf_counter() - t_start, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
