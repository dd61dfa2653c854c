// ShapeEdit scenes: up to nine flat shapes on a 3×3 grid (one per cell, so objects never overlap)
// over a plain or two-colour gradient background, rendered by sharp (librsvg) from SVG with
// shape-rendering="crispEdges". Crisp edges matter: with no anti-aliasing every pixel is either
// exactly background or exactly one object's palette colour, so an object's footprint is an exact
// bitmap, edit masks are exact, and a render is a pure function of (scene, size) — byte for byte.

import { checkOptions, integer } from '../validate';
import { sharp } from '../sharp_lazy';


// ---------------------------------------------------------------------------------------------
// Vocabulary

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond', 'hexagon'] as const;
export type ShapeName = (typeof SHAPES)[number];

/**
 * Object colours. Pairwise RGB distances are >= 98, so the nearest palette colour is never in
 * doubt; white and black are also background colours (an object is never drawn on a background
 * close to its colour, see `isVisibleOn`).
 */
export const COLOURS = {
  red: [220, 30, 30],
  orange: [250, 130, 0],
  yellow: [245, 225, 30],
  green: [30, 160, 60],
  cyan: [30, 200, 210],
  blue: [40, 70, 220],
  purple: [140, 50, 190],
  pink: [245, 130, 190],
  white: [255, 255, 255],
  black: [0, 0, 0],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/** Background colours (plain, or the two ends of a gradient). */
export const BACKGROUND_COLOURS = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  gray: [128, 128, 128],
  beige: [225, 205, 160],
  brown: [110, 70, 40],
  navy: [20, 30, 90],
} as const satisfies Record<string, readonly [number, number, number]>;
export type BackgroundColourName = keyof typeof BACKGROUND_COLOURS;
export const BACKGROUND_COLOUR_NAMES = Object.keys(BACKGROUND_COLOURS) as BackgroundColourName[];

export const SIZES = ['small', 'medium', 'large'] as const;
export type SizeName = (typeof SIZES)[number];
/** Circumradius of a shape as a fraction of the cell side (large stays inside its cell). */
const SIZE_RADIUS: Record<SizeName, number> = { small: 0.24, medium: 0.33, large: 0.44 };

/** Grid cells in reading order (row-major); the phrase for a cell is its name with spaces. */
export const CELLS = ['top-left', 'top-middle', 'top-right', 'middle-left', 'centre', 'middle-right', 'bottom-left', 'bottom-middle', 'bottom-right'] as const;
export type CellName = (typeof CELLS)[number];

/** One object of a scene. */
export interface ShapeObject {
  shape: ShapeName;
  colour: ColourName;
  size: SizeName;
  cell: CellName;
}

/** A plain background, or a linear gradient `from` (top / left) `to` (bottom / right). */
export type Background =
  | { kind: 'plain'; colour: BackgroundColourName }
  | { kind: 'gradient'; from: BackgroundColourName; to: BackgroundColourName; direction: 'vertical' | 'horizontal' };

/** A scene: a background and objects in distinct cells. Canonical form: objects in reading order. */
export interface Scene {
  background: Background;
  objects: ShapeObject[];
}

/** Smallest RGB distance between an object colour and any colour of its background (see isVisibleOn). */
export const MIN_CONTRAST = 90;

type RGB = readonly [number, number, number];

/** Distance from point p to segment [a, b] in RGB space (a gradient passes through every colour between its ends). */
function segmentDistance(p: RGB, a: RGB, b: RGB): number {
  const d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  const t = dd === 0 ? 0 : Math.min(1, Math.max(0, ((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1] + (p[2] - a[2]) * d[2]) / dd));
  return Math.hypot(p[0] - a[0] - t * d[0], p[1] - a[1] - t * d[1], p[2] - a[2] - t * d[2]);
}

/**
 * Whether an object of `colour` stands out on `background`: its RGB distance to every colour the
 * background takes (for a gradient, every colour between the two ends) is at least MIN_CONTRAST.
 * The generator and applyEdit never put an object on a background it does not stand out from.
 */
export function isVisibleOn(colour: ColourName, background: Background): boolean {
  const c = COLOURS[colour];
  if (background.kind === 'plain') return segmentDistance(c, BACKGROUND_COLOURS[background.colour], BACKGROUND_COLOURS[background.colour]) >= MIN_CONTRAST;
  return segmentDistance(c, BACKGROUND_COLOURS[background.from], BACKGROUND_COLOURS[background.to]) >= MIN_CONTRAST;
}

/** Every background: the plain ones, then every ordered pair of distinct colours in both directions. */
export function allBackgrounds(): Background[] {
  const out: Background[] = BACKGROUND_COLOUR_NAMES.map((colour) => ({ kind: 'plain', colour }));
  for (const direction of ['vertical', 'horizontal'] as const) {
    for (const from of BACKGROUND_COLOUR_NAMES) for (const to of BACKGROUND_COLOUR_NAMES) if (from !== to) out.push({ kind: 'gradient', from, to, direction });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation and canonical form

function oneOf<T extends string>(v: unknown, list: readonly T[], op: string, what: string): T {
  if (typeof v !== 'string' || !(list as readonly string[]).includes(v)) throw new RangeError(`${op}: ${what} must be one of ${list.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** A checked copy of a background with its keys in canonical order. */
export function checkBackground(b: unknown, op: string): Background {
  if (b === null || typeof b !== 'object') throw new TypeError(`${op}: background must be an object, got ${b === null ? 'null' : typeof b}`);
  const r = b as Record<string, unknown>;
  if (r.kind === 'plain') return { kind: 'plain', colour: oneOf(r.colour, BACKGROUND_COLOUR_NAMES, op, 'background.colour') };
  if (r.kind === 'gradient') {
    const from = oneOf(r.from, BACKGROUND_COLOUR_NAMES, op, 'background.from');
    const to = oneOf(r.to, BACKGROUND_COLOUR_NAMES, op, 'background.to');
    if (from === to) throw new RangeError(`${op}: a gradient needs two different colours, got ${from} twice`);
    return { kind: 'gradient', from, to, direction: oneOf(r.direction, ['vertical', 'horizontal'] as const, op, 'background.direction') };
  }
  throw new RangeError(`${op}: background.kind must be 'plain' or 'gradient', got ${JSON.stringify(r.kind)}`);
}

/** A checked copy of an object with its keys in canonical order. */
export function checkObject(o: unknown, op: string): ShapeObject {
  if (o === null || typeof o !== 'object') throw new TypeError(`${op}: an object must be an object, got ${o === null ? 'null' : typeof o}`);
  const r = o as Record<string, unknown>;
  return {
    shape: oneOf(r.shape, SHAPES, op, 'shape'),
    colour: oneOf(r.colour, COLOUR_NAMES, op, 'colour'),
    size: oneOf(r.size, SIZES, op, 'size'),
    cell: oneOf(r.cell, CELLS, op, 'cell'),
  };
}

/**
 * Checks a scene (known names, one object per cell) and returns its canonical copy: objects in
 * reading order, keys in a fixed order — so equal scenes have equal `sceneKey`s. Visibility on the
 * background is not required here (the renderer draws what it is given); applyEdit requires it.
 */
export function canonicalScene(scene: unknown, op = 'canonicalScene'): Scene {
  if (scene === null || typeof scene !== 'object') throw new TypeError(`${op}: scene must be an object, got ${scene === null ? 'null' : typeof scene}`);
  const r = scene as Record<string, unknown>;
  if (!Array.isArray(r.objects)) throw new TypeError(`${op}: scene.objects must be an array`);
  const objects = r.objects.map((o) => checkObject(o, op));
  const seen = new Set<string>();
  for (const o of objects) {
    if (seen.has(o.cell)) throw new RangeError(`${op}: two objects in cell ${o.cell} (one object per cell)`);
    seen.add(o.cell);
  }
  objects.sort((a, b) => CELLS.indexOf(a.cell) - CELLS.indexOf(b.cell));
  return { background: checkBackground(r.background, op), objects };
}

/** A string that is equal for equal scenes (the canonical JSON). */
export function sceneKey(scene: Scene): string {
  return JSON.stringify(canonicalScene(scene, 'sceneKey'));
}

// ---------------------------------------------------------------------------------------------
// SVG and rendering

const f3 = (v: number) => v.toFixed(3);
const rgb = (c: RGB) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** The row and column of a cell (0..2 each). */
export function cellRowCol(cell: CellName): [number, number] {
  const i = CELLS.indexOf(cell);
  return [Math.floor(i / 3), i % 3];
}

/** The SVG element of one shape, centred in its cell, filled with `fill`. */
function shapeElement(o: Pick<ShapeObject, 'shape' | 'size' | 'cell'>, size: number, fill: string): string {
  const [row, col] = cellRowCol(o.cell);
  const side = size / 3;
  const cx = (col + 0.5) * side;
  const cy = (row + 0.5) * side;
  const r = SIZE_RADIUS[o.size] * side;
  if (o.shape === 'circle') return `<circle cx="${f3(cx)}" cy="${f3(cy)}" r="${f3(r)}" fill="${fill}"/>`;
  // Points as (angle in degrees from "up", radius fraction); dy re-centres the shape's bounding box.
  let pts: [number, number][];
  let dy = 0;
  switch (o.shape) {
    case 'square':
      pts = [45, 135, 225, 315].map((a) => [a, 1.13] as [number, number]); // half-side 0.8·r
      break;
    case 'diamond':
      pts = [[0, 1], [90, 0.72], [180, 1], [270, 0.72]];
      break;
    case 'triangle':
      pts = [[0, 1], [120, 1], [240, 1]];
      dy = 0.25; // bbox spans -r..0.5r
      break;
    case 'star':
      pts = Array.from({ length: 10 }, (_, i) => [i * 36, i % 2 ? 0.45 : 1] as [number, number]);
      dy = 0.095; // bbox spans -r..0.81r
      break;
    case 'hexagon':
      pts = [30, 90, 150, 210, 270, 330].map((a) => [a, 1] as [number, number]);
      break;
  }
  const points = pts.map(([a, k]) => {
    const t = (a * Math.PI) / 180;
    return `${f3(cx + Math.sin(t) * k * r)},${f3(cy + (dy - Math.cos(t) * k) * r)}`;
  });
  return `<polygon points="${points.join(' ')}" fill="${fill}"/>`;
}

function backgroundElements(b: Background, size: number): string {
  if (b.kind === 'plain') return `<rect width="${size}" height="${size}" fill="${rgb(BACKGROUND_COLOURS[b.colour])}"/>`;
  const x2 = b.direction === 'horizontal' ? 1 : 0;
  return (
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="${x2}" y2="${1 - x2}">` +
    `<stop offset="0" stop-color="${rgb(BACKGROUND_COLOURS[b.from])}"/><stop offset="1" stop-color="${rgb(BACKGROUND_COLOURS[b.to])}"/>` +
    `</linearGradient></defs><rect width="${size}" height="${size}" fill="url(#bg)"/>`
  );
}

const svgOpen = (size: number) => `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges">`;

/** Image side: a multiple of 8 (the trainer's and the VAE's granularity) from 24 to 1024. */
export function checkImageSize(v: unknown, op: string): number {
  const size = integer(v, op, 'size', 24);
  if (size % 8 || size > 1024) throw new RangeError(`${op}: size must be a multiple of 8 from 24 to 1024, got ${size}`);
  return size;
}

/** The SVG document of a scene at `size`×`size` pixels (what renderScene rasterises). */
export function sceneToSVG(scene: Scene, size = 64): string {
  const s = canonicalScene(scene, 'sceneToSVG');
  size = checkImageSize(size, 'sceneToSVG');
  return svgOpen(size) + backgroundElements(s.background, size) + s.objects.map((o) => shapeElement(o, size, rgb(COLOURS[o.colour]))).join('') + '</svg>';
}

async function rasterise(svg: string, size: number): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) throw new Error(`renderScene: librsvg gave ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`);
  return data;
}

export interface RenderOptions {
  /** Image side in pixels, a multiple of 8 (default 64). */
  size?: number;
}

/** Renders a scene to interleaved RGB bytes (size·size·3), deterministic. */
export async function renderSceneRGB(scene: Scene, options: RenderOptions = {}): Promise<Buffer> {
  checkOptions(options, ['size'], 'renderSceneRGB');
  const size = options.size === undefined ? 64 : checkImageSize(options.size, 'renderSceneRGB');
  return rasterise(sceneToSVG(scene, size), size);
}

/** Encodes interleaved RGB (3 channels) or a 0/1 bitmap (1 channel, written as 0/255) as PNG. */
export async function encodePNG(data: Uint8Array, size: number, channels: 1 | 3): Promise<Buffer> {
  const bytes = channels === 1 ? Buffer.from(data.map((v) => (v ? 255 : 0))) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // fixed settings: the bytes depend only on the pixels (and the zlib build)
  return sharp(bytes, { raw: { width: size, height: size, channels } }).png({ compressionLevel: 9, adaptiveFiltering: false, palette: false }).toBuffer();
}

/** Renders a scene to PNG bytes (see renderSceneRGB). */
export async function renderScenePNG(scene: Scene, options: RenderOptions = {}): Promise<Buffer> {
  checkOptions(options, ['size'], 'renderScenePNG');
  const size = options.size === undefined ? 64 : checkImageSize(options.size, 'renderScenePNG');
  return encodePNG(await renderSceneRGB(scene, { size }), size, 3);
}

/** Renders only a background (no objects): the reference the attribute check compares against. */
const backgroundCache = new Map<string, Promise<Buffer>>();
export function renderBackgroundRGB(background: Background, size: number): Promise<Buffer> {
  const key = `${size}:${JSON.stringify(checkBackground(background, 'renderBackgroundRGB'))}`;
  let p = backgroundCache.get(key);
  if (!p) {
    p = renderSceneRGB({ background, objects: [] }, { size });
    p.catch(() => backgroundCache.delete(key));
    backgroundCache.set(key, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Footprints and masks

/**
 * The cell of each pixel (0..8, by the pixel's centre). Shapes stay inside their cell, so a
 * footprint lies in its cell's pixels.
 */
export function pixelCells(size: number): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    const row = Math.floor(((y + 0.5) * 3) / size);
    for (let x = 0; x < size; x++) out[y * size + x] = row * 3 + Math.floor(((x + 0.5) * 3) / size);
  }
  return out;
}

// size → `${shape}:${sizeName}:${cell}` → 0/1 bitmap. One render per (shape, size) draws all nine
// cells at once; crisp edges decide each pixel by its own centre, so drawing a shape alone or
// beside others gives the same pixels (the tests check footprints against full renders).
const footprintCache = new Map<number, Promise<Map<string, Uint8Array>>>();

async function buildFootprints(size: number): Promise<Map<string, Uint8Array>> {
  const cells = pixelCells(size);
  const out = new Map<string, Uint8Array>();
  await Promise.all(
    SHAPES.flatMap((shape) =>
      SIZES.map(async (sz) => {
        const svg = svgOpen(size) + `<rect width="${size}" height="${size}" fill="rgb(0,0,0)"/>` + CELLS.map((cell) => shapeElement({ shape, size: sz, cell }, size, 'rgb(255,255,255)')).join('') + '</svg>';
        const data = await rasterise(svg, size);
        CELLS.forEach((cell, ci) => {
          const bits = new Uint8Array(size * size);
          for (let p = 0; p < size * size; p++) if (cells[p] === ci && data[p * 3] > 127) bits[p] = 1;
          out.set(`${shape}:${sz}:${cell}`, bits);
        });
      }),
    ),
  );
  return out;
}

/** All footprints at an image size: key `${shape}:${size}:${cell}` → 0/1 bitmap (size·size). Cached. */
export function footprints(size: number): Promise<ReadonlyMap<string, Uint8Array>> {
  size = checkImageSize(size, 'footprints');
  let p = footprintCache.get(size);
  if (!p) {
    p = buildFootprints(size);
    p.catch(() => footprintCache.delete(size));
    footprintCache.set(size, p);
  }
  return p;
}

/** The pixels an object covers: a 0/1 bitmap, size·size, row-major. Do not modify (cached). */
export async function objectFootprint(object: Pick<ShapeObject, 'shape' | 'size' | 'cell'>, size = 64): Promise<Uint8Array> {
  return (await footprints(size)).get(`${object.shape}:${object.size}:${object.cell}`)!;
}

/** Whether two (possibly absent) objects are the same in every attribute. */
export function sameObject(a: ShapeObject | null | undefined, b: ShapeObject | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.shape === b.shape && a.colour === b.colour && a.size === b.size && a.cell === b.cell;
}

/** The union of the footprints of a scene's objects (0/1, size·size): the pixels not background. */
export async function objectCoverage(scene: Scene, size = 64): Promise<Uint8Array> {
  const fp = await footprints(size);
  const covered = new Uint8Array(size * size);
  for (const o of scene.objects) {
    const bits = fp.get(`${o.shape}:${o.size}:${o.cell}`)!;
    for (let p = 0; p < covered.length; p++) covered[p] |= bits[p];
  }
  return covered;
}

/**
 * The pixels an edit from `source` to `target` may change, as a 0/1 bitmap (size·size): the old
 * and new footprints of every cell whose content differs, and, when the background differs, every
 * pixel that is background in either scene. Derived from the scenes alone, so it serves any edit.
 */
export async function editMask(source: Scene, target: Scene, size = 64): Promise<Uint8Array> {
  const s = canonicalScene(source, 'editMask');
  const t = canonicalScene(target, 'editMask');
  const fp = await footprints(size);
  const mask = new Uint8Array(size * size);
  const or = (bits: Uint8Array) => {
    for (let p = 0; p < bits.length; p++) mask[p] |= bits[p];
  };
  for (const cell of CELLS) {
    const a = s.objects.find((o) => o.cell === cell);
    const b = t.objects.find((o) => o.cell === cell);
    if (sameObject(a, b)) continue;
    for (const o of [a, b]) if (o) or(fp.get(`${o.shape}:${o.size}:${o.cell}`)!);
  }
  if (JSON.stringify(s.background) !== JSON.stringify(t.background)) {
    const [cs, ct] = await Promise.all([objectCoverage(s, size), objectCoverage(t, size)]);
    for (let p = 0; p < mask.length; p++) if (!cs[p] || !ct[p]) mask[p] = 1;
  }
  return mask;
}
