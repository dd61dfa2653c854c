"""PyTorch CPU peer for `npm run bench -- edit`: times whole InstructPix2Pix edits with the real
SD1.5-sized models (random weights, fp32) in this process and prints one JSON line on stdout.

    /usr/bin/python3 bench/peers/torch_pipeline.py '{"threads": 2, "size": 512, "steps": 20,
        "iters": 1, "unet_dir": "bench/.cache/unet_sd15_random"}'

Job fields: threads (torch.set_num_threads), size (image side in pixels, a multiple of 8), steps,
iters (timed edits), optional: unet_dir (a diffusers-layout folder as make_unet_weights.py writes;
without it the UNet is built and randomised in-process with the same seed and scheme, i.e. the
same weights), warmup (untimed 1-step edits before the timed ones; default 1), seed (inputs and
noise; default 0), guidance_scale (7.5), image_guidance_scale (1.5).

Models: UNet = SD1.5 with in_channels 8 (unet_torch.py; manifest.json ip2p_real_unet_config),
VAE = the SD KL-f8 AutoencoderKL (vae_torch.py, SPEC §4), text encoder = the CLIP ViT-L/14 text
tower (clip_torch.py, SPEC §5); their key names and shapes are checked against
real_arch_keys/keys.json when the parity folder is there. Weights as the parity fixtures draw
them: N(0, 1/fan_in), norm scales 1 + 0.1·N, biases 0.05·N, CLIP embeddings N(0, 0.2²).

One edit = pipeline_torch.edit() (the loop check_pipeline_parity.py proves against diffusers):
text encoder on [prompt, ""] as one batch-2 call; VAE encode of the image (its mean); `steps`
Euler-ancestral steps, each = batch-3 UNet + two-way CFG + scheduler step (with its N(0,1) draw);
VAE decode. Tokenisation and image file I/O are not included (fixed token ids, random image).
Everything runs under torch.no_grad().
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
import clip_torch  # noqa: E402
import make_unet_weights  # noqa: E402
import unet_torch  # noqa: E402
import vae_torch  # noqa: E402
from pipeline_torch import edit  # noqa: E402

# SPEC §4 real config (the SD VAE, as in real_arch_keys/keys.json)
SD_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": 0.18215,
    "use_quant_conv": True,
    "use_post_quant_conv": True,
    "mid_block_add_attention": True,
}

BOS, EOS = 49406, 49407
PROMPT_IDS = [BOS, 320, 1125, 539, 320, 2368, EOS]  # "a photo of a cat" (SPEC §6), padded with EOS


def randomize_(model, seed, embedding_std=0.2):
    """In-place init, one normal_ per parameter (fast): weights N(0, 1/fan_in), norm scales
    1 + 0.1·N, biases 0.05·N, embeddings N(0, embedding_std²)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mname, m in sorted(model.named_modules()):
            for pname, p in m.named_parameters(recurse=False):
                if isinstance(m, nn.Embedding):
                    p.normal_(0.0, embedding_std, generator=g)
                elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and pname == "weight":
                    p.normal_(1.0, 0.1, generator=g)
                elif pname == "bias":
                    p.normal_(0.0, 0.05, generator=g)
                else:
                    p.normal_(0.0, p[0].numel() ** -0.5, generator=g)


def check_keys(model, which):
    """Key names and shapes against real_arch_keys/keys.json (skipped when it is absent)."""
    path = os.path.join(make_unet_weights.PARITY, "real_arch_keys", "keys.json")
    if not os.path.exists(path):
        return False
    ref = json.load(open(path))[which]["keys"]
    ref = {k: list(v["shape"] if isinstance(v, dict) else v) for k, v in ref.items()}
    mine = {k: list(v.shape) for k, v in model.state_dict().items()}
    if mine != ref:
        bad = sorted(set(mine) ^ set(ref)) + [k for k in mine if k in ref and mine[k] != ref[k]]
        raise SystemExit(f"{which}: key/shape mismatch against {path}: {bad[:10]}")
    return True


def build(job):
    unet_dir = job.get("unet_dir")
    if unet_dir:
        cfg = json.load(open(os.path.join(unet_dir, "config.json")))
        unet = unet_torch.from_pretrained(cfg, os.path.join(unet_dir, make_unet_weights.WEIGHTS))
    else:
        cfg = make_unet_weights.real_config()
        unet = unet_torch.build_empty(cfg)
        make_unet_weights.randomize_(unet, 20241)  # make_unet_weights' default seed: the same weights as its file
    vae = vae_torch.build_empty(SD_VAE)
    randomize_(vae, 20242)
    clip = clip_torch.build_empty(clip_torch.VIT_L14_TEXT)
    randomize_(clip, 20243)
    checked = [check_keys(unet, "unet"), check_keys(vae, "vae"), check_keys(clip, "text_encoder")]
    for m in (unet, vae, clip):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return unet, vae, clip, all(checked)


def main():
    job = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    threads = int(job.get("threads", 2))
    torch.set_num_threads(threads)
    size = int(job.get("size", 512))
    if size % 8:
        raise SystemExit("size must be a multiple of 8")
    steps = int(job.get("steps", 20))
    iters = int(job.get("iters", 1))
    warmup = int(job.get("warmup", 1))
    seed = int(job.get("seed", 0))
    gs = float(job.get("guidance_scale", 7.5))
    igs = float(job.get("image_guidance_scale", 1.5))

    t0 = time.perf_counter()
    unet, vae, clip, keys_checked = build(job)
    init_s = time.perf_counter() - t0

    g = torch.Generator().manual_seed(seed)
    image01 = torch.rand(1, 3, size, size, generator=g)
    latents = torch.randn(1, 4, size // 8, size // 8, generator=g)
    ids_cond = torch.full((1, 77), EOS, dtype=torch.int64)
    ids_cond[0, : len(PROMPT_IDS)] = torch.tensor(PROMPT_IDS)
    ids_uncond = torch.full((1, 77), EOS, dtype=torch.int64)
    ids_uncond[0, 0] = BOS

    def run(n):
        ng = torch.Generator().manual_seed(seed + 1)  # the scheduler's ancestral noise
        with torch.no_grad():
            return edit(
                unet, vae, clip, ids_cond, ids_uncond, image01, latents, n,
                lambda i, shape: torch.randn(shape, generator=ng),
                guidance_scale=gs, image_guidance_scale=igs, scaling_factor=SD_VAE["scaling_factor"],
            )

    for _ in range(warmup):  # first-call costs (allocator, oneDNN primitive setup) at the same shapes
        run(1)
    runs = []
    for _ in range(iters):
        lat, img, times = run(steps)
        runs.append(times)

    ru = resource.getrusage(resource.RUSAGE_SELF)
    all_steps = [s for r in runs for s in r["step_s"]]
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    print(
        json.dumps(
            {
                "peer": "torch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "size": size,
                "latent_size": size // 8,
                "steps": steps,
                "iters": iters,
                "warmup": warmup,
                "guidance_scale": gs,
                "image_guidance_scale": igs,
                "unet_source": job.get("unet_dir") or "random-in-process",
                "keys_checked": keys_checked,
                "init_s": init_s,
                "text_encode_s": med("text_s"),
                "vae_encode_s": med("encode_s"),
                "step_s": statistics.median(all_steps),
                "step_best_s": min(all_steps),
                "vae_decode_s": med("decode_s"),
                "edit_s": med("total_s"),
                "edit_times": [r["total_s"] for r in runs],
                "step_times": [r["step_s"] for r in runs],
                "peak_rss_bytes": ru.ru_maxrss * 1024,
                "cpu_s": ru.ru_utime + ru.ru_stime,
                "latents_std": float(lat.std()),
                "image_finite": bool(torch.isfinite(img).all()),
                "image_mean": float(img.mean()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
