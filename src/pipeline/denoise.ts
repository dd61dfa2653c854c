// The InstructPix2Pix denoising loop (SPEC §1 step 6), shared by the Editor and by tests that replay
// a reference run. Every tensor op here is queued on the device stream; the only awaits are the UNet
// passes, so the JS thread stays free and an abort takes effect within one step.
import { UNet2DConditionModel } from '../models/unet';
import * as ops from '../ops';
import { Scheduler } from '../schedulers';
import { Tensor } from '../tensor';

export interface DenoiseProgress {
  /** Steps done (1-based after each step). */
  step: number;
  steps: number;
  /** The timestep of the step just done. */
  timestep: number;
}

export interface DenoiseArgs {
  unet: UNet2DConditionModel;
  /** A scheduler with its timesteps set (setTimesteps) and fresh state. */
  scheduler: Scheduler;
  /** [3B, L, D] = [cond, uncond, uncond] with guidance, [B, L, D] without. */
  promptEmbeds: Tensor;
  /** [3B, 4, h, w] = [m, m, 0] with guidance, [B, 4, h, w] without (m: the VAE mean, unscaled). */
  imageLatents: Tensor;
  /** Initial latents [B, 4, h, w], already multiplied by the scheduler's initNoiseSigma. */
  latents: Tensor;
  /** Two-way guidance on (diffusers: guidanceScale > 1 and imageGuidanceScale >= 1). */
  guidance: boolean;
  guidanceScale: number;
  imageGuidanceScale: number;
  /** Seed of the noise the scheduler draws inside its steps (ancestral samplers). */
  seed: number;
  /** Replays given step noise instead of drawing it (tests against a reference run). */
  stepNoise?: (step: number) => Tensor | undefined;
  signal?: AbortSignal;
  onStep?: (p: DenoiseProgress) => void;
  /** Replay the UNet forward from a CUDA graph (a CUDA UNet only; see UNetForwardOptions.graph). */
  cudaGraph?: boolean;
}

export function abortError(what: string): Error {
  const e = new Error(`${what}: aborted`);
  e.name = 'AbortError';
  return e;
}

/** Runs every scheduler step; resolves to the final latents [B, 4, h, w] (the caller owns them). */
export async function denoise(a: DenoiseArgs): Promise<Tensor> {
  const ts = a.scheduler.timesteps;
  let latents = a.latents;
  const copies = a.guidance ? 3 : 1;
  try {
    for (let i = 0; i < ts.length; i++) {
      if (a.signal?.aborted) throw abortError('edit');
      const t = ts[i];
      const stacked = copies === 1 ? latents : ops.concat([latents, latents, latents], 0);
      const scaled = a.scheduler.scaleModelInput(stacked, t);
      const unetIn = ops.concat([scaled, a.imageLatents], 1); // 4 noisy channels first, then the image's 4
      if (stacked !== latents) stacked.dispose();
      scaled.dispose();
      let eps: Tensor;
      try {
        eps = await a.unet.forward(unetIn, t, a.promptEmbeds, a.cudaGraph ? { signal: a.signal, graph: true } : { signal: a.signal });
      } catch (e) {
        if (a.signal?.aborted) throw abortError('edit');
        throw e;
      } finally {
        unetIn.dispose();
      }
      const guided = a.guidance ? ops.pix2pixGuidance(eps, a.guidanceScale, a.imageGuidanceScale) : eps;
      if (guided !== eps) eps.dispose();
      const noise = a.stepNoise?.(i);
      const out = a.scheduler.step(guided, t, latents, noise ? { noise } : { seed: a.seed });
      guided.dispose();
      out.predOriginalSample.dispose();
      if (latents !== a.latents) latents.dispose();
      latents = out.prevSample;
      a.onStep?.({ step: i + 1, steps: ts.length, timestep: t });
    }
  } catch (e) {
    if (latents !== a.latents) latents.dispose();
    throw e;
  }
  return latents === a.latents ? a.latents.clone() : latents;
}
