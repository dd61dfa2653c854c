// The ShapeEdit dataset: samples (source scene, edit, instruction, negatives) drawn from a keyed
// generator, so each sample is a pure function of (seed, split, index, attempt); then rendered and
// written as PNGs plus one JSONL manifest per split in the trainer's format (src/train/data.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Rng } from '../train/rng';
import { checkOptions, integer } from '../validate';
import { EDIT_TYPES, EditType, MAX_OBJECTS, NegativeShapeEdit, ShapeEditSpec, allNegatives, applyEdit, candidateEdits, describeEdit, phrasingCount } from './edits';
import {
  BACKGROUND_COLOUR_NAMES,
  Background,
  CELLS,
  COLOUR_NAMES,
  SHAPES,
  SIZES,
  Scene,
  ShapeObject,
  canonicalScene,
  checkImageSize,
  editMask,
  encodePNG,
  isVisibleOn,
  renderSceneRGB,
  sceneKey,
} from './scene';

export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** One generated edit, before rendering. */
export interface ShapeEditSample {
  /** `${split}-${index}` with the index zero-padded to 6 digits. */
  id: string;
  split: SplitName;
  /** The source scene (canonical). */
  scene: Scene;
  /** The edited scene: exactly applyEdit(scene, spec). */
  targetScene: Scene;
  spec: ShapeEditSpec;
  /** The phrasing index used for the instruction and its negatives. */
  template: number;
  instruction: string;
  /** Negatives (see allNegatives), at most `negatives` of them, spread over attributes. */
  negatives: NegativeShapeEdit[];
}

export interface ShapeEditSampleOptions {
  /** Total number of edits (default: the sum of `splits` when they are counts). */
  count?: number;
  /** Seed (default 0). */
  seed?: number;
  /**
   * Edits per split: counts that sum to `count`, or fractions that sum to 1 (rounded to counts by
   * largest remainder). Default { train: 0.8, val: 0.1, test: 0.1 }. Missing splits are 0.
   */
  splits?: Partial<Record<SplitName, number>>;
  /** Negatives per sample, at most (default 3; every sample has at least 1). */
  negatives?: number;
  /** Edit types to draw, in turn (default all of EDIT_TYPES). */
  types?: readonly EditType[];
}

export interface GenerateShapeEditOptions extends ShapeEditSampleOptions {
  /** Folder to write (created; existing files of the same names are overwritten). */
  outDir: string;
  /** Image side in pixels, a multiple of 8 (default 64). */
  size?: number;
  /** Samples rendered and written at once (default 4). */
  concurrency?: number;
}

/** One manifest line: the trainer's fields plus the evaluation's. Paths are relative to outDir. */
export interface ShapeEditRecord {
  id: string;
  source: string;
  target: string;
  instruction: string;
  negatives: string[];
  /** The edit type. */
  edit: EditType;
  /** 0/255 greyscale PNG of the pixels the edit may change (see editMask). */
  mask: string;
  scene: Scene;
  targetScene: Scene;
  spec: ShapeEditSpec;
  template: number;
  /** What each negative changed, in the order of `negatives`. */
  negativeEdits: { attribute: NegativeShapeEdit['attribute']; spec: ShapeEditSpec }[];
}

export interface ShapeEditSummary {
  outDir: string;
  size: number;
  seed: number;
  /** Absolute manifest path per split that has edits. */
  manifests: Partial<Record<SplitName, string>>;
  counts: Record<SplitName, number>;
  /** Edits per type, over all splits. */
  byType: Record<EditType, number>;
}

// ---------------------------------------------------------------------------------------------
// Options

function resolveSplits(options: ShapeEditSampleOptions, op: string): Record<SplitName, number> {
  const given = options.splits ?? { train: 0.8, val: 0.1, test: 0.1 };
  checkOptions(given, [...SPLITS], `${op} (splits)`);
  const w = SPLITS.map((s) => {
    const v = given[s] ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${op}: splits.${s} must be a non-negative number, got ${String(v)}`);
    return v;
  });
  const sum = w.reduce((a, b) => a + b, 0);
  if (sum === 0) throw new RangeError(`${op}: splits are all zero`);
  const counts = w.every(Number.isInteger) && sum > 1;
  if (counts) {
    if (options.count !== undefined && integer(options.count, op, 'count', 1) !== sum) throw new RangeError(`${op}: splits sum to ${sum} edits but count is ${options.count}`);
    return Object.fromEntries(SPLITS.map((s, i) => [s, w[i]])) as Record<SplitName, number>;
  }
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`${op}: splits must be counts (integers summing to count) or fractions summing to 1, got a sum of ${sum}`);
  if (options.count === undefined) throw new RangeError(`${op}: count is required when splits are fractions`);
  const total = integer(options.count, op, 'count', 1);
  // largest remainder: exact total, each split within one of its share
  const exact = w.map((f) => f * total);
  const n = exact.map(Math.floor);
  const order = exact.map((e, i) => [e - Math.floor(e), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; k < total - n.reduce((a, b) => a + b, 0); k++) n[order[k][1]]++;
  return Object.fromEntries(SPLITS.map((s, i) => [s, n[i]])) as Record<SplitName, number>;
}

// ---------------------------------------------------------------------------------------------
// Sampling

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(list.length)];

function randomBackground(rng: Rng): Background {
  const from = pick(rng, BACKGROUND_COLOUR_NAMES);
  if (rng.next() < 0.5) return { kind: 'plain', colour: from };
  const to = pick(rng, BACKGROUND_COLOUR_NAMES.filter((c) => c !== from));
  return { kind: 'gradient', from, to, direction: rng.next() < 0.5 ? 'vertical' : 'horizontal' };
}

/**
 * A random scene with n ∈ [min, max] objects in distinct cells, colours that stand out on the
 * background; with `copies` > 1 the first `copies` objects are identical but for their cell (what
 * a count edit needs to remove one).
 */
function randomScene(rng: Rng, min: number, max: number, copies = 1): Scene {
  const background = randomBackground(rng);
  const n = Math.max(copies, min + rng.int(max - min + 1));
  const cells = rng.permutation(CELLS.length);
  const colours = COLOUR_NAMES.filter((c) => isVisibleOn(c, background));
  const objects: ShapeObject[] = [];
  for (let i = 0; i < n; i++) {
    const base = i < copies && i > 0 ? objects[0] : { shape: pick(rng, SHAPES), colour: pick(rng, colours), size: pick(rng, SIZES) };
    objects.push({ shape: base.shape, colour: base.colour, size: base.size, cell: CELLS[cells[i]] });
  }
  return canonicalScene({ background, objects });
}

/** The scene size range per edit type: sources and targets keep 1..MAX_OBJECTS objects. */
function sceneFor(rng: Rng, type: EditType): Scene {
  switch (type) {
    case 'remove':
      return randomScene(rng, 2, MAX_OBJECTS);
    case 'add':
      return randomScene(rng, 1, MAX_OBJECTS - 1);
    case 'count': {
      const copies = 1 + rng.int(MAX_OBJECTS - 1); // 1..3 copies: removal needs 2, addition room
      return randomScene(rng, copies, MAX_OBJECTS, copies);
    }
    default:
      return randomScene(rng, 1, MAX_OBJECTS);
  }
}

/** Up to n negatives spread over attributes: attributes in random order, one of each in turn. */
function chooseNegatives(rng: Rng, all: NegativeShapeEdit[], n: number): NegativeShapeEdit[] {
  const byAttr = new Map<string, NegativeShapeEdit[]>();
  for (const neg of all) byAttr.set(neg.attribute, [...(byAttr.get(neg.attribute) ?? []), neg]);
  const groups = [...byAttr.values()];
  const order = rng.permutation(groups.length);
  const out: NegativeShapeEdit[] = [];
  while (out.length < n && groups.some((g) => g.length)) {
    for (const gi of order) {
      const g = groups[gi];
      if (g.length && out.length < n) out.push(g.splice(rng.int(g.length), 1)[0]);
    }
  }
  return out;
}

const MAX_ATTEMPTS = 200;
const STREAM_SAMPLE = 7; // key component: keeps these draws apart from other users of (seed, …)

/**
 * The edits of a dataset, without images: deterministic under the seed. Splits are drawn test
 * first, then val, then train, so the test split does not depend on the train size. No scene
 * (source or target) occurs twice in the whole dataset, which keeps the splits disjoint.
 */
export function generateShapeEditSamples(options: ShapeEditSampleOptions = {}): ShapeEditSample[] {
  const op = 'generateShapeEditSamples';
  checkOptions(options, ['count', 'seed', 'splits', 'negatives', 'types'], op);
  return drawSamples(options, op);
}

function drawSamples(options: ShapeEditSampleOptions, op: string): ShapeEditSample[] {
  const seed = options.seed === undefined ? 0 : integer(options.seed, op, 'seed', 0);
  const maxNegatives = options.negatives === undefined ? 3 : integer(options.negatives, op, 'negatives', 1);
  const types = options.types ?? EDIT_TYPES;
  if (!Array.isArray(types) || types.length === 0) throw new RangeError(`${op}: types must be a non-empty array of ${EDIT_TYPES.join(', ')}`);
  for (const t of types) if (!EDIT_TYPES.includes(t)) throw new RangeError(`${op}: unknown edit type ${JSON.stringify(t)} (expected ${EDIT_TYPES.join(', ')})`);
  const counts = resolveSplits(options, op);
  const used = new Set<string>();
  const samples: ShapeEditSample[] = [];
  for (const split of ['test', 'val', 'train'] as const) {
    const splitKey = SPLITS.indexOf(split);
    for (let i = 0; i < counts[split]; i++) {
      const type = types[i % types.length];
      let sample: ShapeEditSample | null = null;
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !sample; attempt++) {
        const rng = new Rng(seed, STREAM_SAMPLE, splitKey, i, attempt);
        const scene = sceneFor(rng, type);
        const candidates = candidateEdits(scene, type);
        if (candidates.length === 0) continue;
        const spec = type === 'background' ? pickBackgroundEdit(rng, candidates) : pick(rng, candidates);
        const targetScene = applyEdit(scene, spec);
        const keys = [sceneKey(scene), sceneKey(targetScene)];
        if (keys.some((k) => used.has(k))) continue;
        const template = rng.int(phrasingCount(type));
        const negatives = chooseNegatives(rng, allNegatives(scene, spec, template), maxNegatives);
        if (negatives.length === 0) continue; // every sample carries at least one valid negative
        keys.forEach((k) => used.add(k));
        sample = { id: `${split}-${String(i).padStart(6, '0')}`, split, scene, targetScene, spec, template, instruction: describeEdit(spec, template), negatives };
      }
      if (!sample) throw new Error(`${op}: no valid ${type} edit for ${split} sample ${i} after ${MAX_ATTEMPTS} attempts (the dataset may be too large for its scene space)`);
      samples.push(sample);
    }
  }
  // manifest order: train, val, test, each by index
  return samples.sort((a, b) => SPLITS.indexOf(a.split) - SPLITS.indexOf(b.split) || (a.id < b.id ? -1 : 1));
}

/** Half plain, half gradient targets (there are 10× more gradients, which would swamp the plain ones). */
function pickBackgroundEdit(rng: Rng, candidates: ShapeEditSpec[]): ShapeEditSpec {
  const plain = candidates.filter((c) => c.type === 'background' && c.background.kind === 'plain');
  const gradient = candidates.filter((c) => c.type === 'background' && c.background.kind === 'gradient');
  const usePlain = plain.length > 0 && (gradient.length === 0 || rng.next() < 0.5);
  return pick(rng, usePlain ? plain : gradient);
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The manifest record of a sample (image paths as written by generateShapeEdit). */
export function shapeEditRecord(sample: ShapeEditSample): ShapeEditRecord {
  return {
    id: sample.id,
    source: `images/${sample.id}_src.png`,
    target: `images/${sample.id}_tgt.png`,
    instruction: sample.instruction,
    negatives: sample.negatives.map((n) => n.text),
    edit: sample.spec.type,
    mask: `images/${sample.id}_mask.png`,
    scene: sample.scene,
    targetScene: sample.targetScene,
    spec: sample.spec,
    template: sample.template,
    negativeEdits: sample.negatives.map((n) => ({ attribute: n.attribute, spec: n.spec })),
  };
}

/**
 * Generates a ShapeEdit dataset into `outDir`: `images/<id>_src.png`, `_tgt.png`, `_mask.png`, and
 * `train.jsonl` / `val.jsonl` / `test.jsonl` (a split with no edits gets no file) whose records are
 * ShapeEditRecords — readable by createDataLoader as they are. Same options, same bytes.
 */
export async function generateShapeEdit(options: GenerateShapeEditOptions): Promise<ShapeEditSummary> {
  const op = 'generateShapeEdit';
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object with at least outDir`);
  checkOptions(options, ['outDir', 'count', 'seed', 'splits', 'negatives', 'types', 'size', 'concurrency'], op);
  if (typeof options.outDir !== 'string' || options.outDir === '') throw new TypeError(`${op}: outDir must be a non-empty string`);
  const size = options.size === undefined ? 64 : checkImageSize(options.size, op);
  const concurrency = options.concurrency === undefined ? 4 : integer(options.concurrency, op, 'concurrency', 1);
  const samples = drawSamples(options, op);
  const dir = path.resolve(options.outDir);
  await fs.promises.mkdir(path.join(dir, 'images'), { recursive: true });

  let next = 0;
  const worker = async () => {
    while (next < samples.length) {
      const s = samples[next++];
      const [src, tgt, mask] = await Promise.all([renderSceneRGB(s.scene, { size }), renderSceneRGB(s.targetScene, { size }), editMask(s.scene, s.targetScene, size)]);
      const pngs = await Promise.all([encodePNG(src, size, 3), encodePNG(tgt, size, 3), encodePNG(mask, size, 1)]);
      await Promise.all(['src', 'tgt', 'mask'].map((kind, k) => fs.promises.writeFile(path.join(dir, 'images', `${s.id}_${kind}.png`), pngs[k])));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, worker));

  const summary: ShapeEditSummary = {
    outDir: dir,
    size,
    seed: options.seed ?? 0,
    manifests: {},
    counts: { train: 0, val: 0, test: 0 },
    byType: Object.fromEntries(EDIT_TYPES.map((t) => [t, 0])) as Record<EditType, number>,
  };
  for (const split of SPLITS) {
    const lines = samples.filter((s) => s.split === split).map((s) => JSON.stringify(shapeEditRecord(s)));
    summary.counts[split] = lines.length;
    if (lines.length === 0) continue;
    const file = path.join(dir, `${split}.jsonl`);
    await fs.promises.writeFile(file, lines.join('\n') + '\n');
    summary.manifests[split] = file;
  }
  for (const s of samples) summary.byType[s.spec.type]++;
  return summary;
}
