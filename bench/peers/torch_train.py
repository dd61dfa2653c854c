"""PyTorch CPU peer for `npm run bench -- train`: times one InstructPix2Pix training step with
SuperEdit's triplet loss on the full-size UNet in this process and prints one JSON line on stdout.

    /usr/bin/python3 bench/peers/torch_train.py '{"unet_dir": DIR, "threads": 2, "batch": 2,
        "size": 32, "iters": 3, "warmup": 1, "triplet": true, "checkpoint": false, "seed": 0}'

Optional keys: unet_dir (without it the UNet is randomised in-process with make_unet_weights.py's
seed, i.e. the same weights as its file), warmup (default 1), triplet (default true), checkpoint
(gradient checkpointing of every resnet and transformer block, default false), seed (default 0),
foreach (AdamW's multi-tensor path, default true; falls back to the per-tensor loop if this torch
cannot run it). Memory: torch 1.13's multi-tensor AdamW keeps two parameter-sized temporaries
(sqrt of the second moment and the denominator) alive at once, so at SD1.5 size the peak RSS is
~21.9 GB with foreach and ~16.4 GB without (same losses); on a 24 GiB machine "foreach": false
leaves the headroom.

The step, written from the issue's description of our Trainer (not from library code):
  inputs, made once outside the timing from `seed`: target latents x0 [B,4,S,S] (already scaled),
  source-image latents [B,4,S,S], positive / negative text states [B,77,768], null text [1,77,768];
  per step: t ~ randint(0, 1000) per sample, noise ~ N(0, 1), noisy = √ᾱ_t·x0 + √(1−ᾱ_t)·noise
  (SD's scaled_linear betas 0.00085..0.012, 1000 steps, ᾱ = cumprod(1 − β) in float32);
  conditioning dropout p = 0.05 as diffusers' train_instruct_pix2pix.py (r < p: text → null;
  p ≤ r < 2p: both; 2p ≤ r < 3p: source latents zeroed); input = cat([noisy, src], 1);
  triplet: one UNet call at batch 2B on [input; input], text [pos; neg], timesteps [t; t];
  pos, neg = out.chunk(2); mse = mean((pos − ε)²); d_pos / d_neg = per-sample mean over C,H,W;
  triplet = mean over samples whose text was kept of relu(d_pos − d_neg + 5e-4) (0 if none);
  loss = mse + 1.0·triplet (without triplet: batch B, loss = mse);
  backward, clip_grad_norm_(1.0), AdamW(lr 1e-4, wd 1e-2) step, zero_grad(set_to_none=True).
EMA is not part of the timed step (our Trainer's EMA is optional; it is not run here at all).

Timing: `warmup` untimed steps (the first also allocates AdamW's state), then `iters` timed steps.
samples_per_s = batch / step_s: a sample is one training pair; the triplet's second branch is a
cost of that pair, not another sample. peak_rss_bytes is the getrusage high-water mark: weights
(3.4 GB) + AdamW moments (2×) + gradients + activations + the optimizer's temporaries.
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_unet_weights  # noqa: E402
import unet_torch  # noqa: E402

NUM_TRAIN_TIMESTEPS = 1000
DROPOUT_P = 0.05
MARGIN = 5e-4
TRIPLET_WEIGHT = 1.0
LR = 1e-4
WEIGHT_DECAY = 1e-2
MAX_GRAD_NORM = 1.0
TEXT_LEN = 77


def alphas_cumprod():
    # scaled_linear: linear in sqrt(beta), squared; the product taken in float32 as diffusers' DDPM does
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, NUM_TRAIN_TIMESTEPS, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def load_unet(job):
    unet_dir = job.get("unet_dir")
    if unet_dir:
        cfg = json.load(open(os.path.join(unet_dir, "config.json")))
        return unet_torch.from_pretrained(cfg, os.path.join(unet_dir, make_unet_weights.WEIGHTS)), cfg
    cfg = make_unet_weights.real_config()
    unet = unet_torch.build_empty(cfg)
    make_unet_weights.randomize_(unet, 20241)  # make_unet_weights' default seed: the same weights as its file
    return unet, cfg


def enable_checkpointing(model):
    """Recomputes each resnet / transformer block in backward instead of keeping its activations
    (the same granularity as diffusers' gradient checkpointing). Done per instance, so unet_torch.py
    stays untouched."""
    n = 0
    for m in model.modules():
        if isinstance(m, (unet_torch.ResnetBlock2D, unet_torch.Transformer2DModel)):
            inner = m.forward

            def wrapped(*args, _inner=inner):
                return torch.utils.checkpoint.checkpoint(_inner, *args, use_reentrant=False)

            m.forward = wrapped
            n += 1
    return n


def make_inputs(cfg, batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    lat = cfg["out_channels"]  # 4 latent channels; the UNet input is target-noisy ++ source = 8
    ctx = cfg["cross_attention_dim"]
    return {
        "x0": torch.randn(batch, lat, size, size, generator=g),
        "src": torch.randn(batch, cfg["in_channels"] - lat, size, size, generator=g),
        "pos": torch.randn(batch, TEXT_LEN, ctx, generator=g),
        "neg": torch.randn(batch, TEXT_LEN, ctx, generator=g),
        "null": torch.randn(1, TEXT_LEN, ctx, generator=g),
    }


def train_step(model, params, opt, inp, acp, g, triplet):
    """One optimizer step; returns the loss terms as floats."""
    x0, src = inp["x0"], inp["src"]
    b = x0.shape[0]
    t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (b,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    a = acp[t].view(b, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1.0 - a).sqrt() * noise

    # conditioning dropout, one draw per sample
    r = torch.rand(b, generator=g)
    text_kept = r >= 2 * DROPOUT_P  # r < 2p: text replaced by the null text (alone or with the image)
    image_dropped = (r >= DROPOUT_P) & (r < 3 * DROPOUT_P)
    keep_t = text_kept.view(b, 1, 1).to(x0.dtype)
    pos = keep_t * inp["pos"] + (1 - keep_t) * inp["null"]
    src = src * (~image_dropped).view(b, 1, 1, 1).to(x0.dtype)
    x = torch.cat([noisy, src], dim=1)
    tf = t.to(torch.float32)

    if triplet:
        # the negative branch sees the same dropout (a dropped text is null in both branches); those
        # samples are masked out of the triplet anyway, so this only keeps the two branches consistent
        neg = keep_t * inp["neg"] + (1 - keep_t) * inp["null"]
        out = model(torch.cat([x, x]), torch.cat([tf, tf]), torch.cat([pos, neg]))
        pred_pos, pred_neg = out.chunk(2)
        mse = F.mse_loss(pred_pos, noise)
        d_pos = (pred_pos - noise).pow(2).mean(dim=(1, 2, 3))
        d_neg = (pred_neg - noise).pow(2).mean(dim=(1, 2, 3))
        m = text_kept.to(d_pos.dtype)
        # masked mean without a data-dependent branch: 0 when every text was dropped
        trip = (F.relu(d_pos - d_neg + MARGIN) * m).sum() / m.sum().clamp(min=1.0)
        loss = mse + TRIPLET_WEIGHT * trip
    else:
        pred = model(x, tf, pos)
        mse = F.mse_loss(pred, noise)
        trip = torch.zeros(())
        loss = mse

    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach()), float(mse.detach()), float(trip.detach())


def make_optimizer(params, want_foreach):
    """AdamW, multi-tensor when asked and this torch can do it on CPU; which one is reported."""
    if want_foreach:
        try:
            # probe on a throwaway parameter so a failure cannot leave the real state half-updated
            p = torch.nn.Parameter(torch.ones(3))
            p.grad = torch.ones(3)
            torch.optim.AdamW([p], lr=LR, weight_decay=WEIGHT_DECAY, foreach=True).step()
            return torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY, foreach=True), True
        except (RuntimeError, TypeError, NotImplementedError):
            pass
    return torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY, foreach=False), False


def main():
    job = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    threads = int(job.get("threads", 2))
    batch = int(job.get("batch", 2))
    size = int(job.get("size", 32))
    iters = int(job.get("iters", 3))
    warmup = int(job.get("warmup", 1))
    triplet = bool(job.get("triplet", True))
    checkpoint = bool(job.get("checkpoint", False))
    seed = int(job.get("seed", 0))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    t0 = time.perf_counter()
    model, cfg = load_unet(job)
    load_s = time.perf_counter() - t0
    model.train()  # no dropout or batch norm in this UNet, so this changes nothing numerically
    if checkpoint:
        enable_checkpointing(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, foreach = make_optimizer(params, bool(job.get("foreach", True)))

    inp = make_inputs(cfg, batch, size, seed)
    acp = alphas_cumprod()
    g = torch.Generator().manual_seed(seed + 1)  # per-step draws (t, noise, dropout), separate from the inputs'

    losses, times = [], []
    for i in range(warmup + iters):
        t1 = time.perf_counter()
        loss, mse, trip = train_step(model, params, opt, inp, acp, g, triplet)
        dt = time.perf_counter() - t1
        losses.append({"loss": loss, "mse": mse, "triplet": trip})
        if i >= warmup:
            times.append(dt)

    ru = resource.getrusage(resource.RUSAGE_SELF)
    step_s = statistics.median(times) if times else None
    print(
        json.dumps(
            {
                "peer": "torch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "batch": batch,
                "size": size,
                "triplet": triplet,
                "checkpoint": checkpoint,
                "warmup": warmup,
                "iters": iters,
                "step_s": step_s,
                "step_times": times,
                "samples_per_s": batch / step_s if step_s else None,
                "load_s": load_s,
                "peak_rss_bytes": ru.ru_maxrss * 1024,
                "cpu_s": ru.ru_utime + ru.ru_stime,
                "loss_first": losses[0]["loss"] if losses else None,  # the first step run (warm-up included)
                "loss_last": losses[-1]["loss"] if losses else None,
                "losses": losses,
                "adamw_foreach": foreach,
                "ema": False,
                "unet_source": job.get("unet_dir") or "random-in-process",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
