import { native } from '../native';
import { Tensor } from '../tensor';
import { bool, checkOptions, finiteNumber, integer, pair } from '../validate';
import { h, T } from './wrap';

/**
 * Nearest-neighbour upsampling of x[N, C, H, W]: by an integer `scale` (default 2) or to an exact
 * `size` [h, w] (PyTorch's index rule).
 */
export function upsampleNearest(x: Tensor, options: { scale?: number; size?: [number, number] } = {}): Tensor {
  const op = 'upsampleNearest';
  checkOptions(options, ['scale', 'size'], op);
  const xh = h(x, op, 'x');
  if (x.ndim !== 4) throw new RangeError(`${op}: x must be 4-D [batch, channels, height, width], got ${x.describe()}`);
  let oh: number, ow: number;
  if (options.size !== undefined) {
    if (options.scale !== undefined) throw new TypeError(`${op}: give either scale or size, not both`);
    [oh, ow] = pair(options.size, op, 'size', 1);
  } else {
    const s = integer(options.scale ?? 2, op, 'scale', 1);
    oh = x.shape[2] * s;
    ow = x.shape[3] * s;
  }
  return T(native.upsampleNearest(xh, oh, ow));
}

/** Gradient of upsampleNearest back to the input size [h, w]. */
export function upsampleNearestBackward(dy: Tensor, inputSize: [number, number]): Tensor {
  const op = 'upsampleNearestBackward';
  const [ih, iw] = pair(inputSize, op, 'inputSize', 1);
  return T(native.upsampleNearestBackward(h(dy, op, 'dy'), ih, iw));
}

export interface TimestepEmbeddingOptions {
  /** Output [cos, sin] instead of [sin, cos] (diffusers' flip_sin_to_cos; the SD UNet uses true). Default false. */
  flipSinToCos?: boolean;
  /** diffusers' downscale_freq_shift (default 0 for the SD UNet's Timesteps; 1 in the function's own default). */
  freqShift?: number;
  /** Default 10000. */
  maxPeriod?: number;
}

/** Sinusoidal embedding of (possibly fractional) timesteps t[N] → [N, dim], as diffusers computes it. */
export function timestepEmbedding(t: Tensor, dim: number, options: TimestepEmbeddingOptions = {}): Tensor {
  const op = 'timestepEmbedding';
  checkOptions(options, ['flipSinToCos', 'freqShift', 'maxPeriod'], op);
  return T(
    native.timestepEmbedding(
      h(t, op, 'timesteps'),
      integer(dim, op, 'dim', 2),
      bool(options.flipSinToCos ?? false, op, 'flipSinToCos'),
      finiteNumber(options.freqShift ?? 0, op, 'freqShift'),
      finiteNumber(options.maxPeriod ?? 10000, op, 'maxPeriod'),
    ),
  );
}
