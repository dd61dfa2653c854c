"""Proves the PyTorch peer of `npm run bench -- edit` computes what diffusers/transformers compute:

  * vae_torch.py against vae_tiny2 (encode: mean / std / logvar / moments; decode), also with the
    weights renamed to the legacy attention names (SPEC §4.4);
  * clip_torch.py against clip_text_tiny (last_hidden_state, every layer's hidden state);
  * the Euler-ancestral scheduler of pipeline_torch.py against schedulers/euler_ancestral (20 steps
    fed the recorded model outputs and noises);
  * the whole pipeline_torch.edit() loop (tiny UNet + VAE + CLIP) against
    pipeline_ip2p_euler_ancestral, fed the recorded ancestral noise: prompt embeddings, image
    latents, every step's UNet input/output, guided noise and latents, final latents, decoded image.

    /usr/bin/python3 bench/peers/check_pipeline_parity.py [--fixtures DIR]

Prints each relative L2 error (limit 1e-4; scheduler 1e-5, timesteps exact). Exit code 1 on any
failure.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from clip_torch import CLIPTextModel  # noqa: E402
from clip_torch import load_weights as load_clip  # noqa: E402
from pipeline_torch import EulerAncestral, edit  # noqa: E402
from unet_torch import UNet2DConditionModel  # noqa: E402
from unet_torch import load_weights as load_unet  # noqa: E402
from vae_torch import LEGACY_ATTENTION, AutoencoderKL  # noqa: E402
from vae_torch import load_weights as load_vae  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "parity"))


def rel(a, b):
    a = torch.as_tensor(a).detach().double().reshape(-1)
    b = torch.from_numpy(np.array(b)).double().reshape(-1)
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b).clamp_min(1e-30))


def T(a):
    return torch.from_numpy(np.array(a))


class Report:
    def __init__(self):
        self.failures = []

    def check(self, name, err, limit):
        ok = err < limit
        print(f"  {name:<42} rel-L2 {err:.3e}  (limit {limit:g}){'' if ok else '  FAIL'}")
        if not ok:
            self.failures.append(name)


def check_vae(fx, d, rep):
    print("vae_tiny2 (vae_torch.py)")
    cfg = fx["vae_tiny2"]["config"]
    inp = st.load(os.path.join(d, "vae_tiny2", "inputs.safetensors"))
    ref = st.load(os.path.join(d, "vae_tiny2", "outputs.safetensors"))
    path = os.path.join(d, "vae_tiny2", "vae.safetensors")
    vae = load_vae(AutoencoderKL(cfg), path)
    with torch.no_grad():
        moments = vae.encode_moments(T(inp["image"]))
        mean, logvar = vae.encode(T(inp["image"]))
        std = torch.exp(0.5 * logvar)
        dec = vae.decode(T(inp["latent"]))
    rep.check("moments", rel(moments, ref["moments"]), 1e-4)
    rep.check("mean", rel(mean, ref["mean"]), 1e-4)
    rep.check("logvar", rel(logvar, ref["logvar"]), 1e-4)
    rep.check("std", rel(std, ref["std"]), 1e-4)
    rep.check("decoded", rel(dec, ref["decoded"]), 1e-4)

    # the same weights under the legacy attention names must load to the same model
    legacy = {}
    inv = {v: k for k, v in LEGACY_ATTENTION.items()}
    for k, v in st.load(path).items():
        for new, old in inv.items():
            k = k.replace(f"mid_block.attentions.0.{new}.", f"mid_block.attentions.0.{old}.")
        legacy[k] = np.array(v)
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vae_legacy_{os.getpid()}.safetensors")
    st.save(tmp, legacy)
    try:
        vae2 = load_vae(AutoencoderKL(cfg), tmp)
    finally:
        os.unlink(tmp)
    with torch.no_grad():
        dec2 = vae2.decode(T(inp["latent"]))
    n_legacy = sum(1 for k in legacy if ".query." in k or ".proj_attn." in k)
    rep.check(f"decoded, legacy names ({n_legacy} renamed)", rel(dec2, ref["decoded"]), 1e-4)


def check_clip(fx, d, rep):
    print("clip_text_tiny (clip_torch.py)")
    cfg = fx["clip_text_tiny"]["config"]
    ids = T(st.load(os.path.join(d, "clip_text_tiny", "inputs.safetensors"))["input_ids"])
    ref = st.load(os.path.join(d, "clip_text_tiny", "outputs.safetensors"))
    clip = load_clip(CLIPTextModel(cfg), os.path.join(d, "clip_text_tiny", "text_encoder.safetensors"))
    with torch.no_grad():
        last, hidden = clip(ids, output_hidden_states=True)
    rep.check("last_hidden_state", rel(last, ref["last_hidden_state"]), 1e-4)
    for i, h in enumerate(hidden):
        rep.check(f"hidden_states.{i}", rel(h, ref[f"hidden_states.{i}"]), 1e-4)


def check_scheduler(d, rep):
    print("schedulers/euler_ancestral (pipeline_torch.EulerAncestral)")
    ref = st.load(os.path.join(d, "schedulers", "euler_ancestral.safetensors"))
    n = ref["timesteps"].shape[0]
    s = EulerAncestral()
    s.set_timesteps(n)
    exact = np.array_equal(s.timesteps.numpy(), np.array(ref["timesteps"]))
    print(f"  timesteps ({n})                             {'exact' if exact else 'DIFFER  FAIL'}")
    if not exact:
        rep.failures.append("scheduler timesteps")
    rep.check("sigmas", rel(s.sigmas, ref["sigmas"]), 1e-6)
    worst_scaled, worst_x0, worst_x = 0.0, 0.0, 0.0
    for i in range(n):
        x = T(ref["samples"][i])
        worst_scaled = max(worst_scaled, rel(s.scale_model_input(x, i), ref["scaled_inputs"][i]))
        out, x0 = s.step(T(ref["model_outputs"][i]), i, x, T(ref["noises"][i]))
        worst_x0 = max(worst_x0, rel(x0, ref["pred_original"][i]))
        worst_x = max(worst_x, rel(out, ref["samples"][i + 1]))
    rep.check("scaled inputs, worst step", worst_scaled, 1e-6)
    rep.check("predicted x0, worst step", worst_x0, 1e-6)
    rep.check("step output, worst step", worst_x, 1e-5)


def check_pipeline(fx, d, rep):
    print("pipeline_ip2p_euler_ancestral (pipeline_torch.edit over unet/vae/clip_torch)")
    pf = fx["pipeline_ip2p_euler_ancestral"]
    pd = os.path.join(d, "pipeline_ip2p_euler_ancestral")
    inp = st.load(os.path.join(pd, "inputs.safetensors"))
    steps_ref = st.load(os.path.join(pd, "steps.safetensors"))
    out_ref = st.load(os.path.join(pd, "outputs.safetensors"))
    unet = load_unet(UNet2DConditionModel(fx["unet_tiny2"]["config"]), os.path.join(d, "unet_tiny2", "unet.safetensors"))
    vae = load_vae(AutoencoderKL(fx["vae_tiny2"]["config"]), os.path.join(d, "vae_tiny2", "vae.safetensors"))
    clip = load_clip(CLIPTextModel(fx["clip_text_tiny"]["config"]), os.path.join(d, "clip_text_tiny", "text_encoder.safetensors"))
    noise = T(steps_ref["ancestral_noise"])
    trace = {}
    with torch.no_grad():
        lat, img, _ = edit(
            unet,
            vae,
            clip,
            T(inp["input_ids_cond"]),
            T(inp["input_ids_uncond"]),
            T(inp["image01"]),
            T(inp["latents"]),
            pf["num_inference_steps"],
            lambda i, shape: noise[i].reshape(shape),
            guidance_scale=pf["guidance_scale"],
            image_guidance_scale=pf["image_guidance_scale"],
            scaling_factor=fx["vae_tiny2"]["config"]["scaling_factor"],
            trace=trace,
        )
    exact = np.array_equal(trace["timesteps"].numpy(), np.array(steps_ref["timesteps"]))
    print(f"  timesteps {trace['timesteps'].tolist()}      {'exact' if exact else 'DIFFER  FAIL'}")
    if not exact:
        rep.failures.append("pipeline timesteps")
    rep.check("prompt_embeds", rel(trace["prompt_embeds"], steps_ref["prompt_embeds"]), 1e-4)
    rep.check("image_latents", rel(trace["image_latents"], steps_ref["image_latents"]), 1e-4)
    for i in range(pf["num_inference_steps"]):
        for k in ("unet_in", "unet_out", "guided_noise", "latents_after_step"):
            rep.check(f"step {i} {k}", rel(trace[k][i], steps_ref[k][i]), 1e-4)
    rep.check("final latents", rel(lat, out_ref["latents"]), 1e-4)
    rep.check("decoded_raw", rel(img, out_ref["decoded_raw"]), 1e-4)
    rep.check("image = (decoded/2+0.5).clamp(0,1)", rel((img / 2 + 0.5).clamp(0, 1), out_ref["image"]), 1e-4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.environ.get("INSTRUCTEDIT_PARITY_DIR", DEFAULT_FIXTURES))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fx = json.load(open(os.path.join(a.fixtures, "manifest.json")))["fixtures"]
    rep = Report()
    check_vae(fx, a.fixtures, rep)
    check_clip(fx, a.fixtures, rep)
    check_scheduler(a.fixtures, rep)
    check_pipeline(fx, a.fixtures, rep)
    if rep.failures:
        print("FAIL:", ", ".join(rep.failures[:20]))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
