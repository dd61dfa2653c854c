"""Writes the benchmark's random-weight, full-size InstructPix2Pix UNet (SD1.5 topology, in_channels
8, 859,532,484 parameters) once, deterministically, as a diffusers-layout folder:

    bench/.cache/unet_sd15_random/config.json
    bench/.cache/unet_sd15_random/diffusion_pytorch_model.safetensors   (F32, 3.44 GB, 686 tensors)

    /usr/bin/python3 bench/peers/make_unet_weights.py [--out DIR] [--seed N] [--force]

Key names and shapes are diffusers' state_dict (checked against
../shared/parity/real_arch_keys/keys.json). Initialisation follows the parity fixtures, so
activations stay O(1): weights N(0, 1/fan_in), norm scales 1 + 0.1·N(0,1), biases 0.05·N(0,1).
Values come from one torch.Generator(seed) drawn in sorted key order, so the file is the same on
every run with the same torch version. Peak memory is about one copy of the model (3.4 GB): the
tensors are filled in place and streamed to disk.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from unet_torch import build_empty  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PARITY = os.environ.get("INSTRUCTEDIT_PARITY_DIR", os.path.normpath(os.path.join(ROOT, "..", "shared", "parity")))
DEFAULT_OUT = os.path.join(ROOT, "bench", ".cache", "unet_sd15_random")
WEIGHTS = "diffusion_pytorch_model.safetensors"


def real_config():
    return json.load(open(os.path.join(PARITY, "manifest.json")))["ip2p_real_unet_config"]


def randomize_(model, seed):
    kinds = {}
    for mname, m in model.named_modules():
        for pname, _ in m.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and pname == "weight":
                kinds[full] = "scale"
            elif pname == "bias":
                kinds[full] = "bias"
            else:
                kinds[full] = "weight"
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            k = kinds[name]
            if k == "weight":
                fan_in = p[0].numel()
                p.normal_(0.0, fan_in ** -0.5, generator=g)
            elif k == "scale":
                p.normal_(1.0, 0.1, generator=g)
            else:
                p.normal_(0.0, 0.05, generator=g)


def check_keys(model):
    ref = json.load(open(os.path.join(PARITY, "real_arch_keys", "keys.json")))["unet"]["keys"]
    ref = {k: list(v["shape"] if isinstance(v, dict) else v) for k, v in ref.items()}
    mine = {k: list(v.shape) for k, v in model.state_dict().items()}
    if mine != ref:
        bad = sorted(set(mine) ^ set(ref)) + [k for k in mine if k in ref and mine[k] != ref[k]]
        raise SystemExit(f"key/shape mismatch against real_arch_keys/keys.json: {bad[:10]}")
    return len(ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=20241)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    path = os.path.join(a.out, WEIGHTS)
    os.makedirs(a.out, exist_ok=True)
    cfg = real_config()
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump({"_class_name": "UNet2DConditionModel", **cfg}, f, indent=2)
    if os.path.exists(path) and not a.force:
        print(f"{path} exists (use --force to rewrite)")
        return 0
    t0 = time.time()
    model = build_empty(cfg)
    n = check_keys(model)
    randomize_(model, a.seed)
    nparams = sum(p.numel() for p in model.parameters())
    meta = {"format": "pt", "generator": "instructedit bench/peers/make_unet_weights.py", "seed": a.seed, "init": "w~N(0,1/fan_in), norm scale~1+0.1N, bias~0.05N"}
    tmp = path + ".tmp"
    st.save(tmp, model.state_dict(), meta)
    os.replace(tmp, path)
    print(f"wrote {path}: {n} tensors, {nparams:,} parameters, {os.path.getsize(path) / 1e9:.2f} GB, seed {a.seed}, {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
