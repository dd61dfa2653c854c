"""Exports the benchmark UNet (bench/peers/unet_torch.py with the weights that
make_unet_weights.py wrote) to ONNX for the onnxruntime-node peer:

    bench/.cache/unet_sd15_random_onnx/unet.onnx         graph (opset 17)
    bench/.cache/unet_sd15_random_onnx/unet.onnx.data    all weights, one external-data file (3.4 GB)

    /usr/bin/python3 bench/peers/export_unet_onnx.py [--model DIR] [--out DIR] [--force]

Inputs: sample [batch, 8, height, width] f32, timestep [batch] f32, encoder_hidden_states
[batch, seq, 768] f32; output: out [batch, 4, height, width]. batch, height, width and seq are
dynamic axes (height and width must be multiples of 8, where the UNet needs no explicit upsample
sizes). A model over 2 GB cannot live in one protobuf, so the weights go to external data; the
exporter writes one file per tensor, which this script then gathers into unet.onnx.data.
Debian has no python onnxruntime: the bench checks the export with
`node bench/peers/ort_unet.mjs --verify` against the case `torch_unet.py --make-verify` writes.
"""
import argparse
import glob
import json
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import from_pretrained  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CACHE = os.path.join(ROOT, "bench", ".cache")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(CACHE, "unet_sd15_random"))
    ap.add_argument("--out", default=os.path.join(CACHE, "unet_sd15_random_onnx"))
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    final = os.path.join(a.out, "unet.onnx")
    if os.path.exists(final) and os.path.exists(final + ".data") and not a.force:
        print(f"{final} exists (use --force to re-export)")
        return 0
    torch.set_num_threads(a.threads)
    import onnx  # Debian python3-onnx

    t0 = time.time()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    model = from_pretrained(cfg, os.path.join(a.model, "diffusion_pytorch_model.safetensors"))
    for p in model.parameters():
        p.requires_grad_(False)

    # exported at 32x32 batch 1; the verification case (batch 2, 16x16) exercises the dynamic axes
    ex = (torch.randn(1, cfg["in_channels"], 32, 32), torch.tensor([500.0]), torch.randn(1, 77, cfg["cross_attention_dim"]))
    tmpdir = a.out + ".tmp"
    shutil.rmtree(tmpdir, ignore_errors=True)
    os.makedirs(tmpdir)
    tmp = os.path.join(tmpdir, "unet.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            ex,
            tmp,
            opset_version=a.opset,
            input_names=["sample", "timestep", "encoder_hidden_states"],
            output_names=["out"],
            dynamic_axes={
                "sample": {0: "batch", 2: "height", 3: "width"},
                "timestep": {0: "batch"},
                "encoder_hidden_states": {0: "batch", 1: "seq"},
                "out": {0: "batch", 2: "height", 3: "width"},
            },
            do_constant_folding=True,
        )
    del model
    t1 = time.time()
    print(f"exported in {t1 - t0:.0f} s; gathering external data", flush=True)

    # one external-data file instead of one per tensor
    m = onnx.load(tmp, load_external_data=True)
    os.makedirs(a.out, exist_ok=True)
    for f in (final, final + ".data"):
        if os.path.exists(f):
            os.remove(f)
    onnx.save_model(m, final, save_as_external_data=True, all_tensors_to_one_file=True, location="unet.onnx.data", size_threshold=1024)
    nodes = len(m.graph.node)
    ninit = len(m.graph.initializer)
    del m
    shutil.rmtree(tmpdir, ignore_errors=True)
    onnx.checker.check_model(final)  # path form: works with external data and > 2 GB
    left = glob.glob(os.path.join(a.out, "*"))
    print(
        f"wrote {final} (+ unet.onnx.data {os.path.getsize(final + '.data') / 1e9:.2f} GB): opset {a.opset}, {nodes} nodes, "
        f"{ninit} initializers; {len(left)} files; {time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
