// Evaluation helpers for ShapeEdit: did an output image carry out the edit (attribute check), and
// how close is it to a reference inside / outside the edit mask (PSNR). The attribute check reads
// the image the way the renderer writes it: each cell the edit changes (or the target leaves
// empty) is explained by the best of "empty" and every (shape, size, colour) drawn over the
// expected background, by squared error; the edit passes when every such cell holds what the
// target scene says (and, for background edits, when the nearest of all backgrounds is the
// expected one). A noisy or slightly off-colour output still classifies correctly; a missing,
// misplaced, mis-coloured or mis-shaped object does not.
import {
  Background,
  CELLS,
  COLOURS,
  COLOUR_NAMES,
  CellName,
  SHAPES,
  SIZES,
  Scene,
  ShapeObject,
  allBackgrounds,
  canonicalScene,
  footprints,
  objectCoverage,
  pixelCells,
  renderBackgroundRGB,
  sameObject,
} from './scene';

/**
 * An image as the checks take it: interleaved RGB bytes (Uint8Array/Buffer, H·W·3), or planar
 * float32 [3, H, W] in [0, 1] (what `EditResult` tensors hold; values are clamped). Square only.
 */
export type PixelData = Uint8Array | Float32Array;

/** Interleaved RGB in 0..255 as floats, and the side. */
function toRGB255(img: PixelData, op: string, what: string): { px: Float32Array; size: number } {
  if (!(img instanceof Uint8Array) && !(img instanceof Float32Array)) throw new TypeError(`${op}: ${what} must be a Uint8Array of RGB bytes or a Float32Array [3, H, W], got ${img === null ? 'null' : typeof img}`);
  const size = Math.round(Math.sqrt(img.length / 3));
  if (size === 0 || size * size * 3 !== img.length) throw new RangeError(`${op}: ${what} has ${img.length} values, not 3·S·S for a square image`);
  const px = new Float32Array(img.length);
  if (img instanceof Uint8Array) {
    for (let i = 0; i < img.length; i++) px[i] = img[i];
  } else {
    const plane = size * size;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.min(1, Math.max(0, img[c * plane + p])) * 255;
  }
  return { px, size };
}

/**
 * PSNR in dB (peak 255) between two images of the same size over the pixels where `mask` is
 * non-zero (`region` 'inside', the default) or zero ('outside'); the whole image without a mask.
 * Infinity when they agree exactly there; NaN when the region has no pixels. The mask is H·W
 * values, row-major (editMask's bitmap, or a decoded mask PNG's single channel).
 */
export function psnr(a: PixelData, b: PixelData, mask?: Uint8Array | null, region: 'inside' | 'outside' = 'inside'): number {
  const op = 'psnr';
  const A = toRGB255(a, op, 'the first image');
  const B = toRGB255(b, op, 'the second image');
  if (A.size !== B.size) throw new RangeError(`${op}: the images differ in size (${A.size} vs ${B.size})`);
  if (region !== 'inside' && region !== 'outside') throw new RangeError(`${op}: region must be 'inside' or 'outside', got ${String(region)}`);
  if (mask != null && mask.length !== A.size * A.size) throw new RangeError(`${op}: the mask has ${mask.length} values, expected ${A.size * A.size}`);
  let sum = 0;
  let n = 0;
  for (let p = 0; p < A.size * A.size; p++) {
    if (mask != null && (mask[p] !== 0) !== (region === 'inside')) continue;
    for (let c = 0; c < 3; c++) {
      const d = A.px[p * 3 + c] - B.px[p * 3 + c];
      sum += d * d;
    }
    n += 3;
  }
  if (n === 0) return NaN;
  return sum === 0 ? Infinity : 10 * Math.log10((255 * 255) / (sum / n));
}

/** What was expected in a checked cell, what the image shows there, and what is wrong. */
export interface CellCheck {
  cell: CellName;
  /** Whether the edit changes this cell's content (otherwise it is an empty cell that must stay so). */
  changed: boolean;
  /** The target scene's object there, or null (the cell must be empty). */
  expected: ShapeObject | null;
  /** The best explanation of the image's pixels in the cell (null: empty). */
  found: ShapeObject | null;
  /** Empty when pass; 'presence' when one of expected/found is empty and the other not. */
  wrong: ('presence' | 'shape' | 'colour' | 'size')[];
  pass: boolean;
}

export interface BackgroundCheck {
  expected: Background;
  /** The nearest of all backgrounds over the target's background pixels. */
  found: Background;
  pass: boolean;
}

/** The attribute check of one output. */
export interface EditCheck {
  /** Every checked cell holds what it should, and the background is right when it was edited. */
  pass: boolean;
  /** One per cell the edit changes or that the target leaves empty (in reading order). */
  cells: CellCheck[];
  /** Present when the edit changes the background. */
  background: BackgroundCheck | null;
}


/** The best explanation of a cell's pixels: empty or an object, by least squared error. */
function classifyCell(px: Float32Array, bg: Buffer, cellPixels: number[], cell: CellName, fp: ReadonlyMap<string, Uint8Array>): ShapeObject | null {
  // Error of "empty" over the cell; an object replaces the background's error on its footprint by
  // its colour's, which needs only Σ|out|², Σout and Σ|out−bg|² over the footprint per (shape, size).
  let empty = 0;
  for (const p of cellPixels) for (let c = 0; c < 3; c++) empty += (px[p * 3 + c] - bg[p * 3 + c]) ** 2;
  let best: ShapeObject | null = null;
  let bestErr = empty;
  for (const shape of SHAPES) {
    for (const size of SIZES) {
      const bits = fp.get(`${shape}:${size}:${cell}`)!;
      let n = 0;
      let s2 = 0;
      let onBg = 0;
      const s1 = [0, 0, 0];
      for (const p of cellPixels) {
        if (!bits[p]) continue;
        n++;
        for (let c = 0; c < 3; c++) {
          const v = px[p * 3 + c];
          s2 += v * v;
          s1[c] += v;
          onBg += (v - bg[p * 3 + c]) ** 2;
        }
      }
      for (const colour of COLOUR_NAMES) {
        const k = COLOURS[colour];
        const onColour = s2 - 2 * (s1[0] * k[0] + s1[1] * k[1] + s1[2] * k[2]) + n * (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]);
        const err = empty - onBg + onColour;
        if (err < bestErr) {
          bestErr = err;
          best = { shape, colour, size, cell };
        }
      }
    }
  }
  return best;
}

/**
 * Checks whether `output` shows the edit from `source` to `target` (canonical or not): every cell
 * whose content differs between the scenes must hold the target's content (a removed or moved-away
 * object's cell must read as empty), and every cell the target leaves empty must read as empty (so
 * extra copies or a duplicate left behind fail), by the classification described at the top of this
 * file; a background edit must make the target's background the nearest of all backgrounds over
 * the target's background pixels. Objects the edit leaves alone are not looked at (that is
 * preservation: see psnr outside the mask).
 */
export async function checkEdit(source: Scene, target: Scene, output: PixelData): Promise<EditCheck> {
  const op = 'checkEdit';
  const s = canonicalScene(source, op);
  const t = canonicalScene(target, op);
  const { px, size } = toRGB255(output, op, 'output');
  const [fp, bg] = await Promise.all([footprints(size), renderBackgroundRGB(t.background, size)]);
  const cellOf = pixelCells(size);
  const cells: CellCheck[] = [];
  CELLS.forEach((cell, ci) => {
    const before = s.objects.find((o) => o.cell === cell) ?? null;
    const expected = t.objects.find((o) => o.cell === cell) ?? null;
    // unchanged objects are preservation's business; an empty cell must stay empty (no stray copies)
    if (sameObject(before, expected) && expected) return;
    const cellPixels: number[] = [];
    for (let p = 0; p < cellOf.length; p++) if (cellOf[p] === ci) cellPixels.push(p);
    const found = classifyCell(px, bg, cellPixels, cell, fp);
    const wrong: CellCheck['wrong'] = [];
    if (!expected !== !found) wrong.push('presence');
    else if (expected && found) for (const k of ['shape', 'colour', 'size'] as const) if (expected[k] !== found[k]) wrong.push(k);
    cells.push({ cell, changed: !sameObject(before, expected), expected, found, wrong, pass: wrong.length === 0 });
  });
  let background: BackgroundCheck | null = null;
  if (JSON.stringify(s.background) !== JSON.stringify(t.background)) {
    const covered = await objectCoverage(t, size);
    const candidates = allBackgrounds();
    const renders = await Promise.all(candidates.map((b) => renderBackgroundRGB(b, size)));
    let bestErr = Infinity;
    let found = candidates[0];
    renders.forEach((r, i) => {
      let err = 0;
      for (let p = 0; p < covered.length; p++) if (!covered[p]) for (let c = 0; c < 3; c++) err += (px[p * 3 + c] - r[p * 3 + c]) ** 2;
      if (err < bestErr) {
        bestErr = err;
        found = candidates[i];
      }
    });
    background = { expected: t.background, found, pass: JSON.stringify(found) === JSON.stringify(t.background) };
  }
  return { pass: cells.every((c) => c.pass) && (background?.pass ?? true), cells, background };
}
