// Training data for InstructPix2Pix / SuperEdit fine-tuning: a JSONL manifest of (source, target,
// instruction, negatives?) records, decoded and augmented through sharp on libuv's pool, batched
// into [B, 3, R, R] tensors in [-1, 1], with a prefetch queue so the training step does not wait on
// I/O when I/O keeps up. Every random choice (epoch order, crop, flip, negative) is keyed by
// (seed, epoch, index), so the data stream is a pure function of the seed and the data position —
// what a checkpoint needs to resume exactly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

import { Tensor, tensor } from '../tensor';
import type { Device } from '../types';
import { bool, checkDevice, checkOptions, finiteNumber, integer } from '../validate';
import { makeNegatives } from './negatives';
import { Rng, hashKeys } from './rng';
import { sharp } from '../sharp_lazy';


// ---------------------------------------------------------------------------------------------
// Manifest

/** One usable line of the manifest. */
export interface ManifestRecord {
  /** 1-based line number in the manifest (for reports). */
  line: number;
  /** Absolute path of the source (before-edit) image. */
  source: string;
  /** Absolute path of the target (edited) image. */
  target: string;
  /** The (correct) edit instruction, trimmed. */
  instruction: string;
  /** Negative instructions given by the record (absent: generated with makeNegatives). */
  negatives?: string[];
}

/** A record that could not be used, and why. */
export interface BadRecord {
  /** The manifest path as given. */
  manifest: string;
  /** 1-based line number. */
  line: number;
  /** What is wrong, in words. */
  reason: string;
  /** The image file concerned, when the problem is a file. */
  file?: string;
}

/** A bad record under `onBadRecord: 'error'`: the message is "manifest:line: reason". */
export class DataError extends Error {
  readonly manifest: string;
  readonly line: number;
  readonly reason: string;
  readonly file?: string;
  constructor(bad: BadRecord) {
    super(`${bad.manifest}:${bad.line}: ${bad.reason}`);
    this.name = 'DataError';
    this.manifest = bad.manifest;
    this.line = bad.line;
    this.reason = bad.reason;
    this.file = bad.file;
  }
}

export interface ManifestOptions {
  /**
   * What a bad record does (malformed JSON, a missing or wrongly typed field, an empty instruction,
   * a missing file, an image that does not decode): 'error' (default) rejects with a DataError
   * naming the line — a broken record usually means a broken export, better found at once than
   * trained around; 'skip' leaves the record out and reports it (see onSkip), never throwing.
   * Missing files and bad lines are found when the manifest is read; undecodable images when they
   * are first decoded (during iteration).
   */
  onBadRecord?: 'error' | 'skip';
  /**
   * Called once per skipped record under 'skip' (default: a process warning with code
   * INSTRUCTEDIT_BAD_RECORD). Skipped records are also listed in `EditDataset.skipped`.
   */
  onSkip?: (bad: BadRecord) => void;
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** A parsed line (with the image paths as written), or the reason it is bad. Paths resolve against `dir`. */
function parseRecord(text: string, line: number, dir: string): { record: ManifestRecord; given: [string, string] } | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return `malformed JSON (${(e as Error).message})`;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return `a record must be a JSON object, got ${describeType(raw)}`;
  const r = raw as Record<string, unknown>;
  for (const key of ['source', 'target'] as const) {
    const v = r[key];
    if (v === undefined) return `'${key}' is missing`;
    if (typeof v !== 'string' || v.trim() === '') return `'${key}' must be a non-empty string (an image path relative to the manifest), got ${typeof v === 'string' ? 'an empty string' : describeType(v)}`;
  }
  const given: [string, string] = [r.source as string, r.target as string];
  const instruction = r.instruction;
  if (instruction === undefined) return `'instruction' is missing`;
  if (typeof instruction !== 'string') return `'instruction' must be a string, got ${describeType(instruction)}`;
  if (instruction.trim() === '') return `'instruction' is empty`;
  const record: ManifestRecord = { line, source: path.resolve(dir, given[0]), target: path.resolve(dir, given[1]), instruction: instruction.trim() };
  const negatives = r.negatives;
  if (negatives !== undefined && negatives !== null) {
    if (!Array.isArray(negatives)) return `'negatives' must be an array of strings, got ${describeType(negatives)}`;
    for (let i = 0; i < negatives.length; i++) {
      const n = negatives[i];
      if (typeof n !== 'string' || n.trim() === '') return `'negatives'[${i}] must be a non-empty string, got ${typeof n === 'string' ? 'an empty string' : describeType(n)}`;
      // an identical negative makes the triplet term a constant: the record is wrong
      if (n.trim() === record.instruction) return `'negatives'[${i}] equals the instruction`;
    }
    // [] counts as absent: negatives are generated
    if (negatives.length > 0) record.negatives = negatives.map((n: string) => n.trim());
  }
  return { record, given };
}

/** Why the record's images cannot be used (missing, not a file, unreadable), or null. */
async function fileProblem(record: ManifestRecord, given: [string, string], manifest: string): Promise<BadRecord | null> {
  for (const [key, file, as] of [['source', record.source, given[0]], ['target', record.target, given[1]]] as const) {
    let reason: string | null = null;
    try {
      if (!(await fs.promises.stat(file)).isFile()) reason = 'is not a file';
    } catch (e) {
      reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot be read: ${(e as Error).message}`;
    }
    if (reason) return { manifest, line: record.line, reason: `${key} image '${as}' ${reason} (${file})`, file };
  }
  return null;
}

/** Applies the bad-record policy: throws a DataError under 'error', reports under 'skip'. */
function badRecord(bad: BadRecord, options: ManifestOptions, skipped: BadRecord[]): void {
  if ((options.onBadRecord ?? 'error') === 'error') throw new DataError(bad);
  skipped.push(bad);
  if (options.onSkip) options.onSkip(bad);
  else process.emitWarning(`${bad.manifest}:${bad.line}: ${bad.reason} (record skipped)`, { code: 'INSTRUCTEDIT_BAD_RECORD' });
}

function checkManifestOptions(options: ManifestOptions, op: string): void {
  if (options.onBadRecord !== undefined && options.onBadRecord !== 'error' && options.onBadRecord !== 'skip') {
    throw new RangeError(`${op}: onBadRecord must be 'error' or 'skip', got ${String(options.onBadRecord)}`);
  }
  if (options.onSkip !== undefined && typeof options.onSkip !== 'function') throw new TypeError(`${op}: onSkip must be a function`);
}

/**
 * Reads a JSONL manifest: one record per line, `{"source": "a.png", "target": "b.png",
 * "instruction": "make it red", "negatives": ["make it blue"]}` (negatives optional), image paths
 * relative to the manifest's folder (absolute paths work too). Blank lines are ignored; other keys
 * are ignored (manifests often carry ids or captions). Checks every line and that each image file
 * exists; bad records follow `onBadRecord`.
 */
export async function readManifest(manifestPath: string, options: ManifestOptions = {}): Promise<{ records: ManifestRecord[]; skipped: BadRecord[] }> {
  const op = 'readManifest';
  checkOptions(options, ['onBadRecord', 'onSkip'], op);
  checkManifestOptions(options, op);
  if (typeof manifestPath !== 'string' || manifestPath === '') throw new TypeError(`${op}: the manifest path must be a non-empty string`);
  let text: string;
  try {
    text = await fs.promises.readFile(manifestPath, 'utf8');
  } catch (e) {
    throw new Error(`${op}: cannot read the manifest ${manifestPath}: ${(e as Error).message}`);
  }
  const dir = path.dirname(path.resolve(manifestPath));
  // Parse every line first, then stat the files in parallel chunks (a network file system is slow per call).
  const parsed: (BadRecord | { record: ManifestRecord; given: [string, string] })[] = [];
  // a BOM (Windows editors write one) is not part of line 1's JSON
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((l, i) => {
    if (l.trim() === '') return;
    const r = parseRecord(l, i + 1, dir);
    parsed.push(typeof r === 'string' ? { manifest: manifestPath, line: i + 1, reason: r } : r);
  });
  const CHUNK = 64;
  for (let i = 0; i < parsed.length; i += CHUNK) {
    await Promise.all(
      parsed.slice(i, i + CHUNK).map(async (p, j) => {
        if ('record' in p) parsed[i + j] = (await fileProblem(p.record, p.given, manifestPath)) ?? p;
      }),
    );
  }
  const records: ManifestRecord[] = [];
  const skipped: BadRecord[] = [];
  for (const p of parsed) {
    if ('record' in p) records.push(p.record);
    else badRecord(p, options, skipped);
  }
  return { records, skipped };
}

// ---------------------------------------------------------------------------------------------
// Dataset

/**
 * The records of a manifest. Decoding happens in a DataLoader (`dataset.loader(options)`); the
 * dataset remembers records found undecodable under 'skip', so later epochs do not decode them again.
 */
export class EditDataset {
  /** The manifest path as given. */
  readonly manifest: string;
  readonly records: readonly ManifestRecord[];
  /** Records left out under onBadRecord: 'skip' (when reading, and undecodable ones found since). */
  readonly skipped: BadRecord[];
  private readonly options: ManifestOptions;
  private readonly undecodable = new Set<number>();

  private constructor(manifest: string, records: ManifestRecord[], skipped: BadRecord[], options: ManifestOptions) {
    this.manifest = manifest;
    this.records = Object.freeze(records);
    this.skipped = skipped;
    this.options = options;
  }

  /** Reads and checks the manifest (see readManifest); rejects when no record is usable. */
  static async fromManifest(manifestPath: string, options: ManifestOptions = {}): Promise<EditDataset> {
    const { records, skipped } = await readManifest(manifestPath, options);
    if (records.length === 0) {
      throw new Error(`EditDataset: ${manifestPath} has no usable records${skipped.length ? ` (${skipped.length} skipped)` : ''}`);
    }
    return new EditDataset(manifestPath, records, skipped, { ...options });
  }

  /** Number of usable records. */
  get size(): number {
    return this.records.length;
  }

  /** A loader over this dataset (see DataLoaderOptions). */
  loader(options: DataLoaderOptions = {}): DataLoader {
    return new DataLoader(this, options);
  }

  /** @internal Whether record `index` was found undecodable (skipped without decoding again). */
  isUndecodable(index: number): boolean {
    return this.undecodable.has(index);
  }

  /** @internal A record failed to decode: throws a DataError under 'error', reports it under 'skip'. */
  reportUndecodable(index: number, reason: string, file: string): void {
    const bad = { manifest: this.manifest, line: this.records[index].line, reason, file };
    this.undecodable.add(index);
    badRecord(bad, this.options, this.skipped);
  }
}

// ---------------------------------------------------------------------------------------------
// Loader

export interface DataLoaderOptions {
  /** Records per batch (default 1). */
  batchSize?: number;
  /** Side of the square training crop in pixels, a multiple of 8 (default 256). */
  resolution?: number;
  /**
   * The shorter side the images are resized to before cropping, aspect kept (Lanczos-3), default
   * `resolution`. A [min, max] pair draws the size per record and epoch (InstructPix2Pix's
   * min/max_resize_res scale jitter). Must be >= resolution. Small images are scaled up.
   */
  resize?: number | [number, number];
  /** 'random' (default): a uniformly placed resolution×resolution crop; 'center': the middle one. */
  crop?: 'random' | 'center';
  /** Probability of a horizontal flip (default 0.5; 0 disables). Source and target flip together. */
  flipProbability?: number;
  /** Shuffle the order each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the order, crops, flips and negative choices (default 0). */
  seed?: number;
  /**
   * How many epochs one `for await` loop runs, counting the current (perhaps partly consumed) one:
   * 1 (default) runs to the end of the current epoch, so `for (…) for await (const b of loader)`
   * gives one epoch per outer turn; Infinity loops forever.
   */
  epochs?: number;
  /** Drop an epoch's last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Batches decoded ahead of the consumer (default 2). 0 decodes a batch only when it is asked for.
   * Each prefetched batch holds 2·B·3·R² floats of tensor memory.
   */
  prefetch?: number;
  /** Records decoded at once (default 4; each is two sharp decodes on libuv's pool). */
  concurrency?: number;
  /** Device of the batch tensors (default 'cpu'). */
  device?: Device;
}

/** Where the loader stands: JSON-serialisable, for checkpoints. */
export interface DataLoaderState {
  /** The seed the positions refer to. */
  seed: number;
  /** Number of records in the dataset (a resume against another dataset is refused). */
  size: number;
  /** The epoch of the next batch. */
  epoch: number;
  /** Records of this epoch's order consumed by the batches handed out so far. */
  position: number;
}

/** The geometry applied to one record (the same for its source and target). */
export interface ItemAugment {
  /** Size after the resize (the shorter side is the resize size). */
  width: number;
  height: number;
  /** Offset of the crop in the resized image. */
  top: number;
  left: number;
  /** Whether the crop was flipped horizontally (after cropping). */
  flip: boolean;
}

/** One batch. The consumer owns it: call dispose() (or `using`) when done with its tensors. */
export interface EditBatch {
  /** Source images, float32 [B, 3, R, R] in [-1, 1] (RGB). */
  source: Tensor;
  /** Target (edited) images, same shape, same crop and flip as the source. */
  target: Tensor;
  instructions: string[];
  /** One negative instruction per record: a manifest negative chosen per epoch, or a generated one. */
  negatives: string[];
  /** Record indices into `dataset.records`. */
  indices: number[];
  /** Manifest line numbers of the records. */
  lines: number[];
  augment: ItemAugment[];
  epoch: number;
  dispose(): void;
  [Symbol.dispose](): void;
}

export interface DataLoaderStats {
  /** Batches handed out. */
  batches: number;
  /** How many of those the consumer had to wait for (none were ready). */
  waits: number;
  /** Total time spent waiting, in ms. */
  waitMs: number;
}

/** DataLoaderOptions with every default filled in (`loader.options`). */
export interface ResolvedDataLoaderOptions {
  batchSize: number;
  resolution: number;
  resize: [number, number];
  crop: 'random' | 'center';
  flipProbability: number;
  shuffle: boolean;
  seed: number;
  epochs: number;
  dropLast: boolean;
  prefetch: number;
  concurrency: number;
  device: Device;
}

const LOADER_KEYS = ['batchSize', 'resolution', 'resize', 'crop', 'flipProbability', 'shuffle', 'seed', 'epochs', 'dropLast', 'prefetch', 'concurrency', 'device'];

function resolveOptions(o: DataLoaderOptions, op: string): ResolvedDataLoaderOptions {
  checkOptions(o, LOADER_KEYS, op);
  const resolution = o.resolution === undefined ? 256 : integer(o.resolution, op, 'resolution', 8);
  if (resolution % 8) throw new RangeError(`${op}: resolution must be a multiple of 8 (the VAE's downscale), got ${resolution}`);
  let resize: [number, number] = [resolution, resolution];
  if (Array.isArray(o.resize)) {
    if (o.resize.length !== 2) throw new RangeError(`${op}: resize must be a number or a [min, max] pair`);
    resize = [integer(o.resize[0], op, 'resize[0]', resolution), integer(o.resize[1], op, 'resize[1]', resolution)];
    if (resize[1] < resize[0]) throw new RangeError(`${op}: resize [${resize.join(', ')}] must have min <= max`);
  } else if (o.resize !== undefined) {
    const r = integer(o.resize, op, 'resize (the shorter side, >= resolution)', resolution);
    resize = [r, r];
  }
  if (o.crop !== undefined && o.crop !== 'random' && o.crop !== 'center') throw new RangeError(`${op}: crop must be 'random' or 'center', got ${String(o.crop)}`);
  const flipProbability = o.flipProbability === undefined ? 0.5 : finiteNumber(o.flipProbability, op, 'flipProbability');
  if (flipProbability < 0 || flipProbability > 1) throw new RangeError(`${op}: flipProbability must be in [0, 1], got ${flipProbability}`);
  let epochs = 1;
  if (o.epochs === Infinity) epochs = Infinity;
  else if (o.epochs !== undefined) epochs = integer(o.epochs, op, 'epochs (or Infinity)', 1);
  return {
    batchSize: o.batchSize === undefined ? 1 : integer(o.batchSize, op, 'batchSize', 1),
    resolution,
    resize,
    crop: o.crop ?? 'random',
    flipProbability,
    shuffle: o.shuffle === undefined ? true : bool(o.shuffle, op, 'shuffle'),
    seed: o.seed === undefined ? 0 : integer(o.seed, op, 'seed', 0),
    epochs,
    dropLast: o.dropLast === undefined ? false : bool(o.dropLast, op, 'dropLast'),
    prefetch: o.prefetch === undefined ? 2 : integer(o.prefetch, op, 'prefetch', 0),
    concurrency: o.concurrency === undefined ? 4 : integer(o.concurrency, op, 'concurrency', 1),
    device: (o.device === undefined ? 'cpu' : checkDevice(o.device, op)) as Device,
  };
}

// Streams of the keyed generator: one per kind of choice, so adding a choice never shifts another.
const STREAM_ORDER = 0;
const STREAM_AUGMENT = 1;
const STREAM_NEGATIVE = 2;

interface Raw { data: Buffer; width: number; height: number; channels: number }

/** Decodes (EXIF-oriented, RGB) and resizes so the shorter side is `side`, aspect kept. */
async function decodeResized(file: string, side: number): Promise<Raw> {
  const { data, info } = await sharp(file, { failOn: 'truncated' })
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .resize(side, side, { fit: 'outside' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Crop R×R at (top, left), flip if asked, interleaved bytes → planar floats [3, R, R] in [-1, 1]. */
function cropFlip(img: Raw, a: ItemAugment, R: number): Float32Array {
  const { data, width, channels } = img;
  const plane = R * R;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < R; y++) {
    const row = (a.top + y) * width;
    for (let x = 0; x < R; x++) {
      const p = (row + a.left + (a.flip ? R - 1 - x : x)) * channels;
      const o = y * R + x;
      for (let c = 0; c < 3; c++) out[o + c * plane] = data[p + (channels >= 3 ? c : 0)] / 127.5 - 1;
    }
  }
  return out;
}

interface Item { index: number; source: Float32Array; target: Float32Array; negative: string; augment: ItemAugment }
type ItemResult = { ok: true; item: Item } | { ok: false; reason: string; file: string } | { ok: false; known: true };

type Entry = { batch: EditBatch; after: [number, number] } | { error: unknown } | { done: [number, number] };

class Signal {
  private resolve: (() => void) | null = null;
  wait(): Promise<void> {
    return new Promise((r) => (this.resolve = r));
  }
  notify(): void {
    const r = this.resolve;
    this.resolve = null;
    r?.();
  }
}

/**
 * Batches of a dataset, as an async iterable: `for await (const batch of loader) { …; batch.dispose(); }`.
 * The order, crops, flips and negatives are a pure function of (seed, epoch, record index); the
 * position (`state()`) counts what was handed out, not what was prefetched, so `setState` on a fresh
 * loader continues with exactly the batches an uninterrupted run would have given next.
 */
export class DataLoader implements AsyncIterable<EditBatch> {
  readonly dataset: EditDataset;
  /** The options with their defaults filled in. */
  readonly options: Readonly<ResolvedDataLoaderOptions>;
  private epoch = 0;
  private position = 0;
  private run: Run | null = null;
  private orderCache: { epoch: number; order: Uint32Array } | null = null;
  /** @internal */
  readonly counters: DataLoaderStats = { batches: 0, waits: 0, waitMs: 0 };

  constructor(dataset: EditDataset, options: DataLoaderOptions = {}) {
    if (!(dataset instanceof EditDataset)) throw new TypeError('DataLoader: dataset must be an EditDataset (EditDataset.fromManifest)');
    this.dataset = dataset;
    this.options = Object.freeze(resolveOptions(options, 'DataLoader'));
  }

  /** Batches per epoch when no record is skipped. */
  get batchesPerEpoch(): number {
    const { batchSize, dropLast } = this.options;
    return dropLast ? Math.floor(this.dataset.size / batchSize) : Math.ceil(this.dataset.size / batchSize);
  }

  /** Batches decoded and waiting in the prefetch queue (0 when not iterating). */
  get buffered(): number {
    return this.run?.readyBatches() ?? 0;
  }

  /** The data position after the batches handed out so far. */
  state(): DataLoaderState {
    return { seed: this.options.seed, size: this.dataset.size, epoch: this.epoch, position: this.position };
  }

  /** Moves to a saved position (from state()). Not while a loop is running; the seed and dataset size must match. */
  setState(state: DataLoaderState): void {
    const op = 'DataLoader.setState';
    if (this.run) throw new Error(`${op}: a loop over this loader is running; finish or break out of it first`);
    if (state === null || typeof state !== 'object') throw new TypeError(`${op}: state must be an object from state()`);
    checkOptions(state, ['seed', 'size', 'epoch', 'position'], op);
    const seed = integer(state.seed, op, 'seed', 0);
    const size = integer(state.size, op, 'size', 0);
    const epoch = integer(state.epoch, op, 'epoch', 0);
    const position = integer(state.position, op, 'position', 0);
    if (seed !== this.options.seed) throw new Error(`${op}: the state is for seed ${seed}, this loader uses seed ${this.options.seed}`);
    if (size !== this.dataset.size) throw new Error(`${op}: the state is for a dataset of ${size} records, this one has ${this.dataset.size}`);
    if (position > size) throw new RangeError(`${op}: position ${position} is past the end of an epoch (${size} records)`);
    this.epoch = epoch;
    this.position = position;
  }

  /** How often the consumer had to wait for a batch (I/O not keeping up) and for how long. */
  stats(): DataLoaderStats {
    return { ...this.counters };
  }

  /** The record order of an epoch (a permutation of 0..size-1 when shuffling). */
  order(epoch: number): Uint32Array {
    if (this.orderCache?.epoch !== epoch) {
      const n = this.dataset.size;
      const order = this.options.shuffle ? new Rng(this.options.seed, epoch, STREAM_ORDER).permutation(n) : Uint32Array.from({ length: n }, (_, i) => i);
      this.orderCache = { epoch, order };
    }
    return this.orderCache.order;
  }

  /** The resize and crop/flip draws of a record in an epoch (the crop offsets need the image's size). */
  private draws(epoch: number, index: number): { side: number; u: number; v: number; flip: boolean } {
    const rng = new Rng(this.options.seed, epoch, index, STREAM_AUGMENT);
    const [lo, hi] = this.options.resize;
    return { side: lo + rng.int(hi - lo + 1), u: rng.next(), v: rng.next(), flip: rng.next() < this.options.flipProbability };
  }

  /** The negative instruction of a record in an epoch: one of its own, or a generated one. */
  negativeFor(epoch: number, index: number): string {
    const r = this.dataset.records[index];
    if (r.negatives) return r.negatives[new Rng(this.options.seed, epoch, index, STREAM_NEGATIVE).int(r.negatives.length)];
    return makeNegatives(r.instruction, { seed: hashKeys(this.options.seed, epoch, index) })[0];
  }

  /** @internal Decodes one record; never rejects (a failure is a result, so abandoned work cannot go unhandled). */
  async loadItem(epoch: number, index: number): Promise<ItemResult> {
    if (this.dataset.isUndecodable(index)) return { ok: false, known: true };
    const record = this.dataset.records[index];
    const R = this.options.resolution;
    const d = this.draws(epoch, index);
    let file = record.source;
    try {
      const [src, tgt0] = await Promise.all([
        decodeResized(record.source, d.side),
        decodeResized(record.target, d.side).catch((e: Error) => {
          file = record.target;
          throw e;
        }),
      ]);
      let tgt = tgt0;
      if (tgt.width !== src.width || tgt.height !== src.height) {
        // Pairs are aligned images; a target of another size is scaled onto the source's grid.
        file = record.target;
        const r = await sharp(tgt.data, { raw: { width: tgt.width, height: tgt.height, channels: tgt.channels as 1 | 2 | 3 | 4 } })
          .resize(src.width, src.height, { fit: 'fill' })
          .raw()
          .toBuffer({ resolveWithObject: true });
        tgt = { data: r.data, width: r.info.width, height: r.info.height, channels: r.info.channels };
      }
      const random = this.options.crop === 'random';
      const augment: ItemAugment = {
        width: src.width,
        height: src.height,
        top: random ? Math.floor(d.u * (src.height - R + 1)) : Math.floor((src.height - R) / 2),
        left: random ? Math.floor(d.v * (src.width - R + 1)) : Math.floor((src.width - R) / 2),
        flip: d.flip,
      };
      const item = { index, source: cropFlip(src, augment, R), target: cropFlip(tgt, augment, R), negative: this.negativeFor(epoch, index), augment };
      return { ok: true, item };
    } catch (e) {
      const which = file === record.source ? 'source' : 'target';
      return { ok: false, reason: `${which} image could not be decoded (${path.basename(file)}): ${(e as Error).message}`, file };
    }
  }

  /** @internal Packs decoded items into a batch (tensors made here, off the consumer's critical path). */
  makeBatch(items: Item[], epoch: number): EditBatch {
    const R = this.options.resolution;
    const n = 3 * R * R;
    const src = new Float32Array(items.length * n);
    const tgt = new Float32Array(items.length * n);
    items.forEach((it, i) => {
      src.set(it.source, i * n);
      tgt.set(it.target, i * n);
    });
    const shape = [items.length, 3, R, R];
    const source = tensor(src, shape, { device: this.options.device });
    const target = tensor(tgt, shape, { device: this.options.device });
    const dispose = () => {
      source.dispose();
      target.dispose();
    };
    return {
      source,
      target,
      instructions: items.map((it) => this.dataset.records[it.index].instruction),
      negatives: items.map((it) => it.negative),
      indices: items.map((it) => it.index),
      lines: items.map((it) => this.dataset.records[it.index].line),
      augment: items.map((it) => it.augment),
      epoch,
      dispose,
      [Symbol.dispose]: dispose,
    };
  }

  /** @internal A run ended (exhausted, failed or abandoned); `at` is the position to keep, if any. */
  finish(run: Run, at: [number, number] | null): void {
    if (this.run !== run) return;
    this.run = null;
    if (at) [this.epoch, this.position] = at;
  }

  /** @internal */
  advance(at: [number, number]): void {
    [this.epoch, this.position] = at;
  }

  [Symbol.asyncIterator](): AsyncIterator<EditBatch> {
    if (this.run) throw new Error('DataLoader: a loop over this loader is already running (one at a time)');
    const last = this.options.epochs === Infinity ? Infinity : this.epoch + this.options.epochs - 1;
    this.run = new Run(this, this.epoch, this.position, last);
    return this.run;
  }
}

/**
 * One `for await` loop: a producer that decodes records in order (at most `concurrency` at once)
 * and packs batches into a queue of `prefetch`, and the consumer's next().
 */
class Run implements AsyncIterator<EditBatch> {
  private readonly queue: Entry[] = [];
  private stopped = false;
  private consumerWaiting = false;
  private readonly producerSignal = new Signal();
  private readonly consumerSignal = new Signal();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly loader: DataLoader,
    epoch: number,
    position: number,
    private readonly lastEpoch: number,
  ) {
    this.produce(epoch, position).catch((error) => this.push({ error }));
  }

  readyBatches(): number {
    return this.queue.filter((e) => 'batch' in e).length;
  }

  private push(e: Entry): void {
    this.queue.push(e);
    this.consumerSignal.notify();
  }

  /** Waits until the queue has room: fewer than `prefetch` batches, or none while the consumer waits. */
  private async room(): Promise<void> {
    const { prefetch } = this.loader.options;
    while (!this.stopped && !(this.queue.length < prefetch || (this.queue.length === 0 && this.consumerWaiting))) {
      await this.producerSignal.wait();
    }
  }

  private async produce(epoch: number, position: number): Promise<void> {
    const L = this.loader;
    const { batchSize: B, concurrency, dropLast } = L.options;
    const n = L.dataset.size;
    const after = (e: number, p: number): [number, number] => (p >= n ? [e + 1, 0] : [e, p]);
    for (; epoch <= this.lastEpoch; epoch++, position = 0) {
      const order = L.order(epoch);
      const startedAtZero = position === 0;
      let usable = 0;
      const window: Promise<ItemResult>[] = [];
      let started = position;
      while (position < n) {
        await this.room();
        if (this.stopped) return;
        const items: Item[] = [];
        while (items.length < B && position < n) {
          // Keep up to `concurrency` decodes going, but only for records this batch still needs.
          while (window.length < concurrency && started < n && started < position + (B - items.length)) {
            window.push(L.loadItem(epoch, order[started++]));
          }
          const r = await window.shift()!;
          const index = order[position++];
          if (this.stopped) return;
          if (r.ok) items.push(r.item);
          else if (!('known' in r)) L.dataset.reportUndecodable(index, r.reason, r.file); // throws under 'error'
        }
        usable += items.length;
        if (items.length === 0 || (dropLast && items.length < B)) continue;
        this.push({ batch: L.makeBatch(items, epoch), after: after(epoch, position) });
      }
      if (startedAtZero && usable === 0) {
        throw new Error(`DataLoader: no record of ${L.dataset.manifest} could be decoded in epoch ${epoch} (${n} records, all skipped)`);
      }
    }
    this.push({ done: [epoch, 0] });
  }

  next(): Promise<IteratorResult<EditBatch>> {
    // Serialised, so overlapping next() calls get batches in order.
    const p = this.chain.then(() => this.take());
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async take(): Promise<IteratorResult<EditBatch>> {
    if (this.stopped) return { done: true, value: undefined };
    let t0 = 0;
    if (this.queue.length === 0) {
      t0 = performance.now();
      this.consumerWaiting = true;
      this.producerSignal.notify();
      while (this.queue.length === 0) await this.consumerSignal.wait();
      this.consumerWaiting = false;
    }
    const entry = this.queue.shift()!;
    this.producerSignal.notify();
    if ('error' in entry) {
      this.stop(null);
      throw entry.error;
    }
    if ('done' in entry) {
      this.stop(entry.done);
      return { done: true, value: undefined };
    }
    const c = this.loader.counters;
    c.batches++;
    if (t0) {
      c.waits++;
      c.waitMs += performance.now() - t0;
    }
    this.loader.advance(entry.after);
    return { done: false, value: entry.batch };
  }

  private stop(at: [number, number] | null): void {
    this.stopped = true;
    for (const e of this.queue.splice(0)) if ('batch' in e) e.batch.dispose();
    this.producerSignal.notify();
    this.loader.finish(this, at);
  }

  /** `break` out of the loop: prefetched batches are disposed; the position stays at what was handed out. */
  async return(): Promise<IteratorResult<EditBatch>> {
    await this.chain;
    if (!this.stopped) this.stop(null);
    return { done: true, value: undefined };
  }
}

/** Reads the manifest and returns a loader over it: `EditDataset.fromManifest(path, options).loader(options)`. */
export async function createDataLoader(manifestPath: string, options: DataLoaderOptions & ManifestOptions = {}): Promise<DataLoader> {
  checkOptions(options, [...LOADER_KEYS, 'onBadRecord', 'onSkip'], 'createDataLoader');
  const { onBadRecord, onSkip, ...loaderOptions } = options;
  // validate the loader options before the (possibly slow) manifest read
  resolveOptions(loaderOptions, 'createDataLoader');
  const manifest: ManifestOptions = {};
  if (onBadRecord !== undefined) manifest.onBadRecord = onBadRecord;
  if (onSkip !== undefined) manifest.onSkip = onSkip;
  const dataset = await EditDataset.fromManifest(manifestPath, manifest);
  return dataset.loader(loaderOptions);
}
