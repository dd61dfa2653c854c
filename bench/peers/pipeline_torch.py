"""The InstructPix2Pix edit loop in plain torch: Euler-ancestral scheduler (SPEC.md §7) and the
pipeline (SPEC.md §1), over the plain-torch UNet / VAE / CLIP peers in this folder.

Both check_pipeline_parity.py (against diffusers' recorded pipeline) and torch_pipeline.py (the
benchmark peer) run `edit()`, so the timed loop is the one proved to match.
"""
import time

import numpy as np
import torch


class EulerAncestral:
    """EulerAncestralDiscreteScheduler, epsilon prediction, timestep_spacing="linspace" (SPEC §7).
    Arithmetic in float32 0-d tensors, as the reference does."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012):
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float32) ** 2
        acp = torch.cumprod(1.0 - betas, dim=0).numpy()
        self.train_sigmas = ((1 - acp) / acp) ** 0.5  # float32, from the float32 alphas_cumprod
        self.T = num_train_timesteps

    def set_timesteps(self, n):
        ts = np.linspace(0, self.T - 1, n, dtype=np.float32)[::-1].copy()
        sig = np.interp(ts, np.arange(self.T), self.train_sigmas)  # float64 interpolation
        self.sigmas = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(ts)
        # linspace spacing: the largest sigma itself (not sqrt(sigma^2 + 1))
        self.init_noise_sigma = self.sigmas.max()

    def scale_model_input(self, x, i):
        return x / ((self.sigmas[i] ** 2 + 1) ** 0.5)

    def step(self, eps, i, x, noise):
        """One ancestral step from x at sigma_i to sigma_{i+1}; `noise` is the N(0,1) draw."""
        s, s_next = self.sigmas[i], self.sigmas[i + 1]
        x0 = x - s * eps
        s_up = (s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2) ** 0.5
        s_down = (s_next ** 2 - s_up ** 2) ** 0.5
        out = x + ((x - x0) / s) * (s_down - s)
        return out + noise * s_up, x0


def edit(
    unet,
    vae,
    clip,
    ids_cond,
    ids_uncond,
    image01,
    latents,
    steps,
    noise_fn,
    guidance_scale=7.5,
    image_guidance_scale=1.5,
    scaling_factor=0.18215,
    trace=None,
):
    """One InstructPix2Pix edit with guidance on (SPEC §1), batch 1.

    image01 [1,3,H,W] in [0,1]; latents [1,4,H/f,W/f] = the pipeline's `latents` argument (before
    the init_noise_sigma multiplication); noise_fn(i, shape) gives step i's ancestral N(0,1) noise.
    Returns (final latents, decoded image before clamping, times): times has text_s, encode_s,
    step_s (a list, one per step: batch-3 UNet + CFG + scheduler step), decode_s and total_s.
    With `trace` a dict, the per-step tensors are appended to it (for the parity check).
    """
    pc = time.perf_counter
    t_start = pc()
    # 1. prompt: one batch-2 call [cond, uncond], then cat([cond, uncond, uncond])
    emb = clip(torch.cat([ids_cond, ids_uncond], dim=0))
    cond, uncond = emb[:1], emb[1:]
    prompt_embeds = torch.cat([cond, uncond, uncond], dim=0)
    t_text = pc()

    # 3. image latents: the raw mean (mode), NOT times the scaling factor
    m, _ = vae.encode(2.0 * image01 - 1.0)
    image_latents = torch.cat([m, m, torch.zeros_like(m)], dim=0)
    t_enc = pc()

    sched = EulerAncestral()
    sched.set_timesteps(steps)
    x = latents * sched.init_noise_sigma
    if trace is not None:
        trace.update(prompt_embeds=prompt_embeds, image_latents=image_latents, timesteps=sched.timesteps)
        for k in ("unet_in", "unet_out", "guided_noise", "latents_after_step"):
            trace[k] = []
    step_s = []
    for i, t in enumerate(sched.timesteps):
        t0 = pc()
        x3 = sched.scale_model_input(torch.cat([x] * 3, dim=0), i)
        u_in = torch.cat([x3, image_latents], dim=1)  # 4 noisy channels first, then the image
        eps = unet(u_in, t, prompt_embeds)
        e_txt, e_img, e_unc = eps.chunk(3, dim=0)
        eps_g = e_unc + guidance_scale * (e_txt - e_img) + image_guidance_scale * (e_img - e_unc)
        x, _ = sched.step(eps_g, i, x, noise_fn(i, x.shape))
        step_s.append(pc() - t0)
        if trace is not None:
            for k, v in (("unet_in", u_in), ("unet_out", eps), ("guided_noise", eps_g), ("latents_after_step", x)):
                trace[k].append(v)
    t_loop = pc()

    image = vae.decode(x / scaling_factor)
    t_end = pc()
    times = {"text_s": t_text - t_start, "encode_s": t_enc - t_text, "step_s": step_s, "decode_s": t_end - t_loop, "total_s": t_end - t_start}
    return x, image, times
