import { native } from '../native';
import { Tensor } from '../tensor';
import { finiteNumber } from '../validate';
import { h, T } from './wrap';

/**
 * InstructPix2Pix two-way classifier-free guidance in one fused pass. `eps` [3B, ...] stacks the UNet
 * outputs for [text + image, image only, neither] (the pipeline's batch order); returns [B, ...]:
 * `ε_uncond + guidanceScale·(ε_text − ε_image) + imageGuidanceScale·(ε_image − ε_uncond)`.
 */
export function pix2pixGuidance(eps: Tensor, guidanceScale: number, imageGuidanceScale: number): Tensor {
  const op = 'pix2pixGuidance';
  return T(
    native.pix2pixGuidance(
      h(eps, op, 'eps'),
      finiteNumber(guidanceScale, op, 'guidanceScale'),
      finiteNumber(imageGuidanceScale, op, 'imageGuidanceScale'),
    ),
  );
}

/** Gradient of pix2pixGuidance: dy [B, ...] → d eps [3B, ...]. */
export function pix2pixGuidanceBackward(dy: Tensor, guidanceScale: number, imageGuidanceScale: number): Tensor {
  const op = 'pix2pixGuidanceBackward';
  return T(
    native.pix2pixGuidanceBackward(
      h(dy, op, 'dy'),
      finiteNumber(guidanceScale, op, 'guidanceScale'),
      finiteNumber(imageGuidanceScale, op, 'imageGuidanceScale'),
    ),
  );
}
