"""PyTorch CPU peer for `npm run bench -- unet`: times one benchmark row of the full-size UNet in
this process and prints one JSON line on stdout.

    /usr/bin/python3 bench/peers/torch_unet.py '{"model": DIR, "threads": 2, "kind": "fwd",
                                               "batch": 3, "size": 32, "iters": 3}'
    /usr/bin/python3 bench/peers/torch_unet.py --flops '{"model": DIR, "batch": 1, "size": 64}'
    /usr/bin/python3 bench/peers/torch_unet.py --make-verify '{"model": DIR}'

kind "fwd": forward under torch.no_grad(). kind "fwdbwd": forward, then backward of
loss = (out * R).sum() to the gradients of sample, encoder_hidden_states and all parameters
(param.grad reset to None before each iteration, as zero_grad(set_to_none=True) does).
Timing: one warm-up call, then `iters` timed calls; reports every time, the median and the best.
peak_rss_bytes is this process's RSS high-water mark (getrusage), which includes the 3.4 GB of
weights. --flops counts multiply-adds of convolutions, linears and attention matmuls with hooks
(to cross-check the bench's analytic count) instead of timing. --make-verify writes
DIR/verify_b2_16x16.safetensors: a small input (batch 2, 16x16, 77 tokens, timesteps 999 and
37.5) and this model's output for it, against which the bench checks the ONNX export and
instructedit before timing them.
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from unet_torch import Attention, from_pretrained  # noqa: E402

VERIFY = "verify_b2_16x16.safetensors"


def make_verify(model, cfg, path):
    g = torch.Generator().manual_seed(3)
    vs = torch.randn(2, cfg["in_channels"], 16, 16, generator=g)
    vt = torch.tensor([999.0, 37.5])
    ve = torch.randn(2, 77, cfg["cross_attention_dim"], generator=g)
    with torch.no_grad():
        vo = model(vs, vt, ve)
    tmp = path + ".tmp"
    st.save(tmp, {"sample": vs, "timestep": vt, "encoder_hidden_states": ve, "out": vo})
    os.replace(tmp, path)


def inputs(cfg, batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, cfg["in_channels"], size, size, generator=g)
    t = torch.linspace(999, 1, batch) if batch > 1 else torch.tensor([500.0])
    ehs = torch.randn(batch, 77, cfg["cross_attention_dim"], generator=g)
    return sample, t, ehs


def count_flops(model, sample, t, ehs):
    flops = {"conv": 0, "linear": 0, "attention": 0}

    def conv_hook(m, i, o):
        k = m.weight[0].numel()  # cin/groups * kh * kw
        flops["conv"] += 2 * o.numel() * k

    def lin_hook(m, i, o):
        flops["linear"] += 2 * o.numel() * m.in_features

    def attn_hook(m, i, o):
        x = i[0]
        ctx = i[1] if len(i) > 1 and i[1] is not None else x
        b, n, c = x.shape
        flops["attention"] += 4 * b * n * ctx.shape[1] * c  # q kᵀ and p v

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(lin_hook)
        elif isinstance(m, Attention):
            m.register_forward_hook(attn_hook)
    with torch.no_grad():
        model(sample, t, ehs)
    flops["total"] = sum(flops.values())
    return flops


def main():
    argv = sys.argv[1:]
    flops_mode = "--flops" in argv
    verify_mode = "--make-verify" in argv
    argv = [a for a in argv if a not in ("--flops", "--make-verify")]
    job = json.loads(argv[0] if argv else sys.stdin.read())
    threads = int(job.get("threads", 2))
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(job["model"], "config.json")))
    t0 = time.perf_counter()
    model = from_pretrained(cfg, os.path.join(job["model"], "diffusion_pytorch_model.safetensors"))
    load_s = time.perf_counter() - t0
    if verify_mode:
        path = os.path.join(job["model"], VERIFY)
        make_verify(model, cfg, path)
        print(json.dumps({"wrote": path}))
        return 0
    sample, t, ehs = inputs(cfg, int(job["batch"]), int(job["size"]), int(job.get("seed", 0)))

    if flops_mode:
        print(json.dumps(count_flops(model, sample, t, ehs)))
        return 0

    kind = job.get("kind", "fwd")
    iters = int(job.get("iters", 3))
    if kind == "fwd":
        for p in model.parameters():
            p.requires_grad_(False)

        def step():
            with torch.no_grad():
                return model(sample, t, ehs)

    elif kind == "fwdbwd":
        R = torch.randn(sample.shape[0], cfg["out_channels"], sample.shape[2], sample.shape[3], generator=torch.Generator().manual_seed(7))
        params = list(model.parameters())

        def step():
            for p in params:
                p.grad = None
            s = sample.detach().requires_grad_(True)
            e = ehs.detach().requires_grad_(True)
            out = model(s, t, e)
            out.backward(R)  # = d/dx of (out * R).sum()
            return out

    else:
        raise SystemExit(f"unknown kind {kind}")

    times = []
    out = step()  # warm-up
    stats = {"out_std": float(out.detach().std()), "out_absmax": float(out.detach().abs().max())}
    for _ in range(iters):
        t1 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t1)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = ru.ru_maxrss * 1024
    print(
        json.dumps(
            {
                "peer": "torch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "kind": kind,
                "batch": int(job["batch"]),
                "size": int(job["size"]),
                "load_s": load_s,
                "times": times,
                "median": statistics.median(times),
                "best": min(times),
                "peak_rss_bytes": peak,
                "cpu_s": ru.ru_utime + ru.ru_stime,
                **stats,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
