// The training data pipeline: the JSONL manifest and its bad records, the loader (shapes, ranges,
// joint crop/flip checked against an independent decode, determinism under the seed, exact resume
// from state(), prefetch), and the negative-instruction generator. A tiny synthetic dataset is
// written with sharp into a temp folder; each target is the pixelwise inverse of its source
// (255 − v), so any misalignment between the two after augmentation shows as a large error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  DataError,
  DataLoader,
  EditBatch,
  EditDataset,
  NEGATIVE_ATTRIBUTES,
  NEGATIVE_WORDS,
  NegativeAttribute,
  createDataLoader,
  makeNegatives,
  negativeEdits,
  readManifest,
} from '../src';

let tmp: string;
let manifest: string;
const R = 16;
const SIZES: [number, number][] = [[24, 16], [16, 24], [32, 20], [20, 20], [40, 24], [24, 32], [18, 30], [28, 28]];
const INSTRUCTIONS = ['make the car red', 'add two dogs', 'move the cat to the left', 'turn the bus blue', 'make it stormy', 'rotate it clockwise', 'put a hat on the man', 'paint the sky green'];

/** A smooth, asymmetric RGB picture with values in [40, 215] (no resampling overshoot past 0/255). */
function pixels(w: number, h: number, k: number): Buffer {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      raw[(y * w + x) * 3] = Math.round(40 + (175 * x) / (w - 1));
      raw[(y * w + x) * 3 + 1] = Math.round(40 + (175 * y) / (h - 1));
      raw[(y * w + x) * 3 + 2] = Math.round(128 + 80 * Math.sin(0.4 * x + 0.25 * y + k));
    }
  }
  return raw;
}

async function writePng(file: string, raw: Buffer, w: number, h: number): Promise<void> {
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
}

function writeManifest(name: string, lines: string[]): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const rec = (i: number, extra: object = {}) => JSON.stringify({ source: `img/s${i}.png`, target: `img/t${i}.png`, instruction: INSTRUCTIONS[i], ...extra });

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-data-'));
  fs.mkdirSync(path.join(tmp, 'img'));
  await Promise.all(
    SIZES.map(async ([w, h], i) => {
      const s = pixels(w, h, i);
      await writePng(path.join(tmp, 'img', `s${i}.png`), s, w, h);
      await writePng(path.join(tmp, 'img', `t${i}.png`), Buffer.from(s.map((v) => 255 - v)), w, h);
    }),
  );
  fs.writeFileSync(path.join(tmp, 'img', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not an image'));
  // record 1 has its own negatives; the others get generated ones
  manifest = writeManifest('train.jsonl', SIZES.map((_, i) => rec(i, i === 1 ? { negatives: ['add three dogs', 'add two cats'] } : {})));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Meta = Pick<EditBatch, 'instructions' | 'negatives' | 'indices' | 'lines' | 'augment' | 'epoch'>;
interface Got { source: Float32Array; target: Float32Array; batch: Meta }

/** Reads out and disposes a batch. */
async function take(b: EditBatch): Promise<Got> {
  const source = (await b.source.toArray()) as Float32Array;
  const target = (await b.target.toArray()) as Float32Array;
  expect(b.source.shape).toEqual([b.indices.length, 3, R, R]);
  expect(b.target.shape).toEqual(b.source.shape);
  const batch: Meta = { instructions: b.instructions, negatives: b.negatives, indices: b.indices, lines: b.lines, augment: b.augment, epoch: b.epoch };
  b.dispose();
  return { source, target, batch };
}

async function collect(loader: DataLoader, limit = Infinity): Promise<Got[]> {
  const out: Got[] = [];
  for await (const b of loader) {
    out.push(await take(b));
    if (out.length >= limit) break;
  }
  return out;
}

describe('DataLoader', () => {
  it('gives [B, 3, R, R] batches in [-1, 1] covering each record once per epoch', async () => {
    const loader = await createDataLoader(manifest, { batchSize: 3, resolution: R, seed: 7 });
    const ds = loader.dataset;
    expect(ds.size).toBe(8);
    expect(loader.batchesPerEpoch).toBe(3);
    const got = await collect(loader);
    expect(got.map((g) => g.batch.indices.length)).toEqual([3, 3, 2]);
    const indices = got.flatMap((g) => g.batch.indices);
    expect([...indices].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(indices).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // shuffled
    for (const g of got) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of [...g.source, ...g.target]) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(lo).toBeGreaterThanOrEqual(-1);
      expect(hi).toBeLessThanOrEqual(1);
      expect(hi - lo).toBeGreaterThan(1); // real picture content, not a constant
      g.batch.indices.forEach((idx, i) => {
        expect(g.batch.instructions[i]).toBe(INSTRUCTIONS[idx]);
        expect(g.batch.lines[i]).toBe(idx + 1);
        expect(g.batch.epoch).toBe(0);
      });
    }
    // one epoch per loop: the next loop is epoch 1, in another order
    expect(loader.state()).toEqual({ seed: 7, size: 8, epoch: 1, position: 0 });
    const next = await collect(loader);
    expect(next.flatMap((g) => g.batch.indices)).not.toEqual(indices);
    expect(next.every((g) => g.batch.epoch === 1)).toBe(true);
    // dropLast leaves out the short batch
    const dropped = await collect(ds.loader({ batchSize: 3, resolution: R, dropLast: true }));
    expect(dropped.map((g) => g.batch.indices.length)).toEqual([3, 3]);
  });

  it('crops and flips source and target together, as an independent decode says', async () => {
    const loader = await createDataLoader(manifest, { batchSize: 4, resolution: R, resize: [R, 24], seed: 3, epochs: 3 });
    const got = await collect(loader);
    const plane = R * R;
    let flips = 0;
    const offsets = new Set<string>();
    for (const g of got) {
      for (let i = 0; i < g.batch.indices.length; i++) {
        const a = g.batch.augment[i];
        const idx = g.batch.indices[i];
        flips += a.flip ? 1 : 0;
        offsets.add(`${a.top},${a.left}`);
        // target = 255 − source before augmentation, so after the same crop/flip t = −s, up to sharp's
        // rounding (two stages when scaling: ±2 levels); one pixel of misalignment is ~11 levels here
        let worst = 0;
        for (let k = 0; k < 3 * plane; k++) worst = Math.max(worst, Math.abs(g.source[i * 3 * plane + k] + g.target[i * 3 * plane + k]));
        expect(worst).toBeLessThanOrEqual(2 / 127.5 + 1e-6);
        // the source equals our own resize of the file, cropped at (top, left) and mirrored if flip
        const side = Math.min(a.width, a.height);
        expect(side).toBeGreaterThanOrEqual(R);
        expect(side).toBeLessThanOrEqual(24);
        const { data, info } = await sharp(path.join(tmp, 'img', `s${idx}.png`)).resize(side, side, { fit: 'outside' }).raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height]).toEqual([a.width, a.height]);
        for (let y = 0; y < R; y++) {
          for (let x = 0; x < R; x++) {
            const sx = a.left + (a.flip ? R - 1 - x : x);
            for (let c = 0; c < 3; c++) {
              const want = data[((a.top + y) * info.width + sx) * 3 + c] / 127.5 - 1;
              expect(g.source[i * 3 * plane + c * plane + y * R + x]).toBeCloseTo(want, 6);
            }
          }
        }
      }
    }
    // the augmentation really varies: both flip states and several crop positions occur
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(24);
    expect(offsets.size).toBeGreaterThan(3);
  });

  it("center crop without flips is each image's middle", async () => {
    const loader = await createDataLoader(manifest, { batchSize: 8, resolution: R, crop: 'center', flipProbability: 0, shuffle: false });
    const [g] = await collect(loader);
    expect(g.batch.indices).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const a of g.batch.augment) {
      expect(a.flip).toBe(false);
      expect(a.top).toBe(Math.floor((a.height - R) / 2));
      expect(a.left).toBe(Math.floor((a.width - R) / 2));
    }
  });

  it('is a function of the seed: same seed, same batches; another seed, others', async () => {
    const opts = { batchSize: 3, resolution: R, epochs: 2 };
    const a = await collect(await createDataLoader(manifest, { ...opts, seed: 11 }));
    const b = await collect(await createDataLoader(manifest, { ...opts, seed: 11, prefetch: 0, concurrency: 1 }));
    const c = await collect(await createDataLoader(manifest, { ...opts, seed: 12 }));
    expect(b.length).toBe(a.length);
    a.forEach((g, i) => {
      expect(b[i].batch).toEqual(g.batch);
      expect(Array.from(b[i].source)).toEqual(Array.from(g.source));
      expect(Array.from(b[i].target)).toEqual(Array.from(g.target));
    });
    const summary = (gs: Got[]) => JSON.stringify(gs.map((g) => [g.batch.indices, g.batch.augment, g.batch.negatives]));
    expect(summary(c)).not.toBe(summary(a));
  });

  it('chooses one negative per record: its own when given, else a one-word change', async () => {
    const got = await collect(await createDataLoader(manifest, { batchSize: 8, resolution: R, epochs: 16 }));
    const own = new Set<string>();
    for (const g of got) {
      g.batch.indices.forEach((idx, i) => {
        const neg = g.batch.negatives[i];
        expect(neg).not.toBe(INSTRUCTIONS[idx]);
        if (idx === 1) {
          expect(['add three dogs', 'add two cats']).toContain(neg);
          own.add(neg);
        } else {
          expect(tokenDiff(INSTRUCTIONS[idx], neg).length <= 1 || neg.startsWith('do not')).toBe(true);
        }
      });
    }
    expect(own.size).toBe(2); // chosen per epoch, not always the first
  });

  it('resumes from state() with exactly the batches an uninterrupted run gives next', async () => {
    const opts = { batchSize: 3, resolution: R, seed: 5, resize: [R, 24] as [number, number] };
    const straight = await collect(await createDataLoader(manifest, { ...opts, epochs: 2 }));
    expect(straight.length).toBe(6);
    // stop after 4 batches (into epoch 1) while the prefetch queue holds more
    const first = await createDataLoader(manifest, { ...opts, epochs: 2, prefetch: 3 });
    const it = first[Symbol.asyncIterator]();
    const head: Got[] = [];
    for (let k = 0; k < 4; k++) head.push(await take((await it.next()).value as EditBatch));
    await until(() => first.buffered === 2); // the rest of epoch 1 is decoded, but not handed out
    await it.return!();
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ seed: 5, size: 8, epoch: 1, position: 3 });
    const resumed = await createDataLoader(manifest, opts);
    resumed.setState(saved);
    const tail = await collect(resumed);
    expect([...head, ...tail].map((g) => g.batch)).toEqual(straight.map((g) => g.batch));
    tail.forEach((g, i) => expect(Array.from(g.source)).toEqual(Array.from(straight[4 + i].source)));
    // a state for another seed or dataset is refused
    expect(() => resumed.setState({ ...saved, seed: 6 })).toThrow(/seed 6/);
    expect(() => resumed.setState({ ...saved, size: 9 })).toThrow(/9 records/);
  });

  it('prefetches: with a slow consumer the next batch is ready before it is asked for', async () => {
    const loader = await createDataLoader(manifest, { batchSize: 2, resolution: R, prefetch: 2 });
    const it = loader[Symbol.asyncIterator]();
    const first = await it.next();
    (first.value as EditBatch).dispose();
    for (let k = 1; k < 4; k++) {
      // the consumer is "busy"; meanwhile the loader decodes ahead
      await until(() => loader.buffered >= 1);
      // a ready batch resolves within microtasks, before any I/O callback could run
      const r = await Promise.race([it.next(), new Promise<'late'>((res) => setImmediate(() => res('late')))]);
      expect(r).not.toBe('late');
      ((r as IteratorResult<EditBatch>).value as EditBatch).dispose();
    }
    expect((await it.next()).done).toBe(true);
    expect(loader.stats()).toMatchObject({ batches: 4, waits: 1 }); // only the very first batch was waited for

    // prefetch 0: nothing is decoded until asked, so every batch is waited for
    const lazy = await createDataLoader(manifest, { batchSize: 2, resolution: R, prefetch: 0 });
    const it0 = lazy[Symbol.asyncIterator]();
    ((await it0.next()).value as EditBatch).dispose();
    await new Promise((res) => setTimeout(res, 100));
    expect(lazy.buffered).toBe(0);
    ((await it0.next()).value as EditBatch).dispose();
    await it0.return!();
    expect(lazy.stats()).toMatchObject({ batches: 2, waits: 2 });
    expect(lazy.state()).toMatchObject({ epoch: 0, position: 4 });
  });

  it('validates its options and refuses a second loop or setState during a loop', async () => {
    const ds = await EditDataset.fromManifest(manifest);
    expect(() => ds.loader({ resolution: 12 })).toThrow(/multiple of 8/);
    expect(() => ds.loader({ resolution: 16, resize: 8 })).toThrow(/resize/);
    expect(() => ds.loader({ resize: [300, 260] })).toThrow(/min <= max/);
    expect(() => ds.loader({ flipProbability: 2 })).toThrow(/flipProbability/);
    expect(() => ds.loader({ batchsize: 2 } as never)).toThrow(/batchsize/);
    expect(() => ds.loader({ epochs: 0 })).toThrow(/epochs/);
    await expect(createDataLoader(manifest, { crop: 'middle' as never })).rejects.toThrow(/crop/);
    const loader = ds.loader({ resolution: R, epochs: Infinity });
    const it = loader[Symbol.asyncIterator]();
    expect(() => loader[Symbol.asyncIterator]()).toThrow(/already running/);
    expect(() => loader.setState(loader.state())).toThrow(/running/);
    // Infinity loops on past the epoch's end
    for (let k = 0; k < 10; k++) ((await it.next()).value as EditBatch).dispose();
    expect(loader.state()).toMatchObject({ epoch: 1, position: 2 });
    await it.return!();
    loader.setState({ ...loader.state(), epoch: 0, position: 0 });
  });
});

describe('manifest and bad records', () => {
  const good = () => rec(0);
  const cases: [string, string, RegExp][] = [
    ['malformed JSON', '{"source": "img/s0.png", "target": ', /:2: malformed JSON/],
    ['not an object', '["img/s0.png"]', /:2: a record must be a JSON object, got an array/],
    ['missing source', JSON.stringify({ target: 'img/t0.png', instruction: 'x' }), /:2: 'source' is missing/],
    ['wrong type', JSON.stringify({ source: 5, target: 'img/t0.png', instruction: 'x' }), /:2: 'source' must be a non-empty string .* got number/],
    ['missing file', JSON.stringify({ source: 'img/s0.png', target: 'img/nope.png', instruction: 'x' }), /:2: target image 'img\/nope.png' not found/],
    ['a folder', JSON.stringify({ source: 'img', target: 'img/t0.png', instruction: 'x' }), /:2: source image 'img' is not a file/],
    ['empty instruction', JSON.stringify({ source: 'img/s0.png', target: 'img/t0.png', instruction: '  ' }), /:2: 'instruction' is empty/],
    ['negatives not a list', JSON.stringify({ source: 'img/s0.png', target: 'img/t0.png', instruction: 'x', negatives: 'y' }), /:2: 'negatives' must be an array/],
    ['negative = instruction', JSON.stringify({ source: 'img/s0.png', target: 'img/t0.png', instruction: 'x', negatives: ['y', 'x'] }), /:2: 'negatives'\[1\] equals the instruction/],
  ];
  it.each(cases)('%s: an error naming the line', async (name, line, want) => {
    const file = writeManifest(`bad-${name.replace(/\W/g, '_')}.jsonl`, [good(), line]);
    const err = await readManifest(file).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(want);
    expect(err.message.startsWith(file)).toBe(true);
    expect(err.line).toBe(2);
  });

  it('an undecodable image rejects the loop with the line and the file', async () => {
    const file = writeManifest('undecodable.jsonl', [good(), JSON.stringify({ source: 'img/broken.png', target: 'img/t1.png', instruction: 'make it red' })]);
    const loader = await createDataLoader(file, { resolution: R, shuffle: false, batchSize: 2 });
    const err = await collect(loader).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/:2: source image could not be decoded \(broken\.png\)/);
    expect(err.file).toBe(path.join(tmp, 'img', 'broken.png'));
    // the failed loop is over: a new one can start, from the position before it
    expect(loader.state()).toMatchObject({ epoch: 0, position: 0 });
  });

  it("'skip' leaves bad records out, reports each once with its line, and never throws", async () => {
    const lines = [
      rec(0),
      cases[0][1], // 2: malformed
      '', // 3: blank, ignored
      cases[4][1], // 4: missing file
      cases[6][1], // 5: empty instruction
      JSON.stringify({ source: 'img/s2.png', target: 'img/broken.png', instruction: 'undecodable target' }), // 6
      rec(3), // 7
      cases[7][1], // 8: negatives not a list
    ];
    const file = writeManifest('mixed.jsonl', lines);
    await expect(readManifest(file)).rejects.toThrow(/:2: malformed JSON/); // 'error' is the default
    const reported: number[] = [];
    const loader = await createDataLoader(file, { onBadRecord: 'skip', onSkip: (b) => reported.push(b.line), resolution: R, batchSize: 2, epochs: 2 });
    expect(loader.dataset.records.map((r) => r.line)).toEqual([1, 6, 7]);
    expect(reported).toEqual([2, 4, 5, 8]);
    const got = await collect(loader);
    expect(reported).toEqual([2, 4, 5, 8, 6]); // found when decoded, reported once over two epochs
    expect(got.flatMap((g) => g.batch.lines).sort()).toEqual([1, 1, 7, 7]);
    expect(got.every((g) => g.batch.indices.length === 2)).toBe(true); // the batch is filled from the next records
    expect(loader.dataset.skipped.map((b) => b.line)).toEqual([2, 4, 5, 8, 6]);
    expect(loader.dataset.skipped.at(-1)!.file).toBe(path.join(tmp, 'img', 'broken.png'));
  });

  it('reads CRLF line ends and a leading BOM', async () => {
    const file = path.join(tmp, 'crlf.jsonl');
    fs.writeFileSync(file, '\uFEFF' + [rec(0), rec(2)].join('\r\n') + '\r\n');
    const { records } = await readManifest(file);
    expect(records.map((r) => [r.line, r.instruction, r.source])).toEqual([
      [1, INSTRUCTIONS[0], path.join(tmp, 'img', 's0.png')],
      [2, INSTRUCTIONS[2], path.join(tmp, 'img', 's2.png')],
    ]);
  });

  it('a dataset with nothing usable is an error, not an empty loop', async () => {
    const none = writeManifest('none.jsonl', [cases[0][1]]);
    await expect(EditDataset.fromManifest(none, { onBadRecord: 'skip', onSkip: () => {} })).rejects.toThrow(/no usable records \(1 skipped\)/);
    const allBroken = writeManifest('all-broken.jsonl', [JSON.stringify({ source: 'img/broken.png', target: 'img/broken.png', instruction: 'x' })]);
    const loader = await createDataLoader(allBroken, { onBadRecord: 'skip', onSkip: () => {}, resolution: R, epochs: Infinity });
    await expect(collect(loader)).rejects.toThrow(/no record .* could be decoded/);
    await expect(readManifest(path.join(tmp, 'absent.jsonl'))).rejects.toThrow(/cannot read the manifest .*absent\.jsonl/);
  });
});

// ---------------------------------------------------------------------------------------------

/** Positions where two texts' tokens differ (null when the token counts differ). */
function tokenDiff(a: string, b: string): [string, string][] {
  const ta = a.match(/\d+|[A-Za-z]+(?:-[A-Za-z]+)*/g) ?? [];
  const tb = b.match(/\d+|[A-Za-z]+(?:-[A-Za-z]+)*/g) ?? [];
  if (ta.length !== tb.length) return [['<length>', '<length>']];
  return ta.flatMap((t, i) => (t === tb[i] ? [] : [[t, tb[i]] as [string, string]]));
}

/** Whether `from` → `to` swaps two different classes of one group of the attribute's word list. */
function sameGroupSwap(attribute: NegativeAttribute, from: string, to: string): boolean {
  if (attribute === 'count' && /^\d+$/.test(from)) return /^\d+$/.test(to) && from !== to;
  return NEGATIVE_WORDS[attribute].some((group) => {
    const i = group.findIndex((cls) => cls.includes(from.toLowerCase()));
    const j = group.findIndex((cls) => cls[0] === to.toLowerCase());
    return i >= 0 && j >= 0 && i !== j;
  });
}

describe('makeNegatives', () => {
  const table: [string, NegativeAttribute[]][] = [
    ['Make the car red', ['colour', 'object']],
    ['add two dogs next to the house', ['count', 'object', 'action']],
    ['Move the cat to the left', ['object', 'position']],
    ['put 3 apples above the table', ['count', 'object', 'position']],
    ['rotate the clock counter-clockwise', ['object', 'direction']],
    ['make the sky blue-green', ['colour']],
    ['Remove the man on the right', ['action', 'object', 'position']],
    ['turn the bicycle upside down', ['object', 'direction']],
    ['give the woman a grey hat', ['object', 'colour']],
  ];

  it.each(table)('%s: each negative changes exactly one attribute word', (instruction, attrs) => {
    const edits = negativeEdits(instruction, { seed: 1, count: 6 });
    expect(edits.length).toBe(6);
    expect(new Set(edits.map((e) => e.text)).size).toBe(6); // distinct
    const seen = new Set<string>();
    for (const e of edits) {
      expect(e.text).not.toBe(instruction);
      const diff = tokenDiff(instruction, e.text);
      expect(diff.length).toBe(1);
      // hyphenated words may change in one part ("blue-green" → "red-green")
      const [a, b] = diff[0];
      expect(a.includes(e.from) && b.includes(e.to)).toBe(true);
      expect(attrs).toContain(e.attribute);
      expect(sameGroupSwap(e.attribute as NegativeAttribute, e.from, e.to)).toBe(true);
      seen.add(e.attribute);
    }
    // attributes are chosen evenly: more than one kind shows up when the instruction has several
    if (attrs.length > 1) expect(seen.size).toBeGreaterThan(1);
    // deterministic under the seed
    expect(negativeEdits(instruction, { seed: 1, count: 6 })).toEqual(edits);
  });

  it('depends on the seed', () => {
    const bySeed = (seed: number) => table.map(([t]) => makeNegatives(t, { seed })[0]).join('|');
    expect(bySeed(1)).toBe(bySeed(1));
    expect(bySeed(2)).not.toBe(bySeed(1));
  });

  it('swaps opposites, keeps case, respects the attribute filter', () => {
    expect(makeNegatives('Move the cat to the left', { attributes: ['position'] })).toEqual(['Move the cat to the right']);
    expect(makeNegatives('Rotate it clockwise', { attributes: ['direction'] })).toEqual(['Rotate it counterclockwise']);
    expect(makeNegatives('rotate it anti-clockwise', { attributes: ['direction'] })).toEqual(['rotate it clockwise']);
    expect(makeNegatives('Add a hat', { attributes: ['action'] })).toEqual(['Remove a hat']);
    const red = negativeEdits('Red car', { attributes: ['colour'], count: 20 });
    expect(red.length).toBe(14); // every other colour class once (15 classes)
    for (const e of red) expect(e.to[0]).toBe(e.to[0].toUpperCase());
    expect(makeNegatives('MAKE IT BLUE', { attributes: ['colour'], seed: 3 })[0]).toMatch(/^MAKE IT [A-Z]+$/);
    // aliases of one class are not a change: grey never becomes gray
    for (const e of negativeEdits('a grey cat', { attributes: ['colour'], count: 20 })) expect(e.to).not.toBe('gray');
    const three = negativeEdits('add three birds', { attributes: ['count'], count: 3, seed: 9 });
    for (const e of three) expect(NEGATIVE_WORDS.count[0].flat()).toContain(e.to);
  });

  it('falls back to a negation when no listed word occurs, never returning the input', () => {
    expect(negativeEdits('Make it stormy')).toEqual([{ text: 'Do not make it stormy', attribute: 'negation', from: '', to: 'do not' }]);
    expect(makeNegatives('turn it into a painting')).toEqual(['do not turn it into a painting']);
    expect(makeNegatives("Don't change anything")).toEqual(['Change anything']);
    expect(makeNegatives('NASA style please')).toEqual(['Do not NASA style please']);
    expect(makeNegatives('make it stormy', { attributes: ['colour'], count: 4 })).toEqual(['do not make it stormy']);
    // an instruction whose only listed word is filtered out falls back too
    expect(makeNegatives('make it red', { attributes: ['object'] })).toEqual(['do not make it red']);
  });

  it('rejects bad arguments clearly', () => {
    expect(() => makeNegatives('')).toThrow(/non-empty string/);
    expect(() => makeNegatives(5 as never)).toThrow(/got number/);
    expect(() => makeNegatives('x', { count: 0 })).toThrow(/count/);
    expect(() => makeNegatives('x', { attributes: ['size' as never] })).toThrow(/unknown attribute 'size'/);
    expect(() => makeNegatives('x', { seeed: 1 } as never)).toThrow(/seeed/);
    expect(NEGATIVE_ATTRIBUTES).toEqual(['colour', 'count', 'position', 'object', 'direction', 'action']);
  });
});

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
