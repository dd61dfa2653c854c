"""Proves bench/peers/unet_torch.py computes diffusers' UNet2DConditionModel: runs the unet_tiny2
parity fixture (../shared/parity/unet_tiny2, see parity/README.md) forward and backward.

    /usr/bin/python3 bench/peers/check_unet_parity.py [--fixtures DIR] [--intermediates]

Prints the relative L2 error of the output (must be < 1e-4) and of the gradients of
loss = (out * R).sum() with respect to sample, encoder_hidden_states and every parameter (each
< 1e-3). Exit code 1 on any failure.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from unet_torch import UNet2DConditionModel, load_weights  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "parity"))


def rel(a, b):
    a = a.detach().double().reshape(-1)
    b = torch.from_numpy(np.array(b)).double().reshape(-1)
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b).clamp_min(1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.environ.get("INSTRUCTEDIT_PARITY_DIR", DEFAULT_FIXTURES))
    ap.add_argument("--intermediates", action="store_true", help="also compare every recorded sub-module output")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    manifest = json.load(open(os.path.join(a.fixtures, "manifest.json")))
    fx = manifest["fixtures"]["unet_tiny2"]
    d = os.path.join(a.fixtures, "unet_tiny2")

    model = UNet2DConditionModel(fx["config"])
    load_weights(model, os.path.join(d, "unet.safetensors"))
    inp = {k: torch.from_numpy(np.array(v)) for k, v in st.load(os.path.join(d, "inputs.safetensors")).items()}
    ref = st.load(os.path.join(d, "outputs.safetensors"))
    grads = st.load(os.path.join(d, "grads.safetensors"))

    sample = inp["sample"].clone().requires_grad_(True)
    ehs = inp["encoder_hidden_states"].clone().requires_grad_(True)

    inter = {}
    if a.intermediates:
        want = st.read_header(os.path.join(d, "intermediates.safetensors"))[0]
        for name, mod in model.named_modules():
            if name in want:
                mod.register_forward_hook(lambda m, i, o, name=name: inter.__setitem__(name, o[0] if isinstance(o, tuple) else o))

    out = model(sample, inp["timestep"], ehs)
    loss = (out * inp["R"]).sum()
    loss.backward()

    failures = []
    e = rel(out, ref["out"])
    print(f"output                         rel-L2 {e:.3e}  (limit 1e-4)")
    if not e < 1e-4:
        failures.append("output")
    el = rel(loss.reshape(1), ref["loss"])
    print(f"loss                           rel    {el:.3e}")

    checks = [("sample", sample.grad), ("encoder_hidden_states", ehs.grad)]
    for name, p in model.named_parameters():
        checks.append(("param." + name, p.grad))
    worst = (0.0, None)
    for key, g in checks:
        if key not in grads:
            failures.append(f"{key} (no reference gradient)")
            continue
        if g is None:
            failures.append(f"{key} (no gradient computed)")
            continue
        e = rel(g, grads[key])
        if key in ("sample", "encoder_hidden_states"):
            print(f"grad {key:<25} rel-L2 {e:.3e}  (limit 1e-3)")
        if e > worst[0]:
            worst = (e, key)
        if not e < 1e-3:
            failures.append(key)
    extra = set(grads) - {k for k, _ in checks}
    if extra:
        failures.append(f"reference gradients without a parameter here: {sorted(extra)[:5]}")
    nparams = len(checks) - 2
    print(f"grad of all {nparams} parameters: worst rel-L2 {worst[0]:.3e} ({worst[1]})  (limit 1e-3 each)")

    if a.intermediates:
        iref = st.load(os.path.join(d, "intermediates.safetensors"))
        for k in sorted(iref):
            if k in inter:
                print(f"  intermediate {k:<55} {rel(inter[k], iref[k]):.2e}")

    if failures:
        print("FAIL:", ", ".join(failures[:20]))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
