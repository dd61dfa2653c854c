// ShapeEdit: the renderer (deterministic, crisp, footprints that match the renders), the edits and
// their negatives, the dataset writer (determinism, exact targets, masks covering every changed
// pixel, disjoint splits, loadable by the trainer's loader) and the attribute check / PSNR. One small
// dataset (56 edits, 64×64) is generated into a temp folder and every record is checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  CELLS,
  COLOURS,
  EDIT_TYPES,
  Scene,
  ShapeEditError,
  ShapeEditRecord,
  ShapeEditSpec,
  applyEdit,
  checkEdit,
  describeEdit,
  editMask,
  generateShapeEdit,
  generateShapeEditSamples,
  objectFootprint,
  psnr,
  renderSceneRGB,
  renderScenePNG,
  sceneKey,
} from '../src/shapes';
import { createDataLoader } from '../src';

const SIZE = 64;
const OPTIONS = { count: 56, seed: 5, size: SIZE, splits: { train: 0.7, val: 0.15, test: 0.15 } };
let tmp: string;
let dirA: string;
let records: (ShapeEditRecord & { split: string })[];

function readRecords(dir: string): (ShapeEditRecord & { split: string })[] {
  return ['train', 'val', 'test'].flatMap((split) =>
    fs
      .readFileSync(path.join(dir, `${split}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => ({ ...(JSON.parse(l) as ShapeEditRecord), split })),
  );
}

/** Decoded pixels: RGB bytes for colour PNGs, one byte per pixel for masks. */
async function decode(file: string, channels: 1 | 3): Promise<Buffer> {
  const s = sharp(file);
  const { data, info } = await (channels === 1 ? s.extractChannel(0) : s.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([SIZE, SIZE, channels]);
  return data;
}

/** Every file under dir (relative path → bytes). */
function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** The cell (0..8) of pixel p, computed here independently of the library. */
const cellOfPixel = (p: number) => Math.floor(((Math.floor(p / SIZE) + 0.5) * 3) / SIZE) * 3 + Math.floor((((p % SIZE) + 0.5) * 3) / SIZE);

/** A spec's leaves as "path=value" (nested refs and backgrounds flattened). */
function leaves(v: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) for (const [kk, vv] of leaves(x, prefix ? `${prefix}.${k}` : k)) out.set(kk, vv);
  } else out.set(prefix, JSON.stringify(v));
  return out;
}

// The attribute each spec field is (the test's own table, not the library's).
const FIELD_ATTRIBUTE: Record<string, string> = {
  'target.colour': 'colour',
  'target.shape': 'shape',
  'target.cell': 'position',
  colour: 'colour',
  shape: 'shape',
  size: 'size',
  cell: 'position',
  change: 'action',
  amount: 'count',
  'background.colour': 'colour',
  'background.from': 'colour',
  'background.to': 'colour',
  'background.direction': 'position',
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-shapes-'));
  dirA = path.join(tmp, 'a');
  await generateShapeEdit({ outDir: dirA, ...OPTIONS });
  records = readRecords(dirA);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const SCENE: Scene = {
  background: { kind: 'gradient', from: 'navy', to: 'white', direction: 'horizontal' },
  objects: [
    { shape: 'star', colour: 'red', size: 'large', cell: 'top-left' },
    { shape: 'triangle', colour: 'yellow', size: 'small', cell: 'centre' },
    { shape: 'hexagon', colour: 'black', size: 'medium', cell: 'bottom-right' },
  ],
};

describe('renderer', () => {
  it('renders the same scene to identical bytes, and another scene to other bytes', async () => {
    const [a, b] = await Promise.all([renderSceneRGB(SCENE), renderSceneRGB(SCENE)]);
    expect(a.length).toBe(SIZE * SIZE * 3);
    expect(a.equals(b)).toBe(true);
    expect((await renderScenePNG(SCENE)).equals(await renderScenePNG(SCENE))).toBe(true);
    const moved = applyEdit(SCENE, { type: 'move', target: { colour: 'red', shape: 'star' }, cell: 'top-right' });
    expect((await renderSceneRGB(moved)).equals(a)).toBe(false);
    expect((await renderSceneRGB(SCENE, { size: 96 })).length).toBe(96 * 96 * 3);
  });

  it('draws crisp shapes whose pixels are exactly their footprints', async () => {
    const plain: Scene = { ...SCENE, background: { kind: 'plain', colour: 'gray' } };
    const img = await renderSceneRGB(plain);
    const covered = new Uint8Array(SIZE * SIZE);
    for (const o of plain.objects) {
      const fp = await objectFootprint(o, SIZE);
      const n = fp.reduce((s, v) => s + v, 0);
      expect(n).toBeGreaterThan(10);
      const k = COLOURS[o.colour];
      for (let p = 0; p < fp.length; p++) {
        if (!fp[p]) continue;
        expect(cellOfPixel(p)).toBe(CELLS.indexOf(o.cell)); // inside its own cell
        expect([img[p * 3], img[p * 3 + 1], img[p * 3 + 2]]).toEqual([...k]);
        covered[p] = 1;
      }
    }
    // everything else is exactly the background: no anti-aliased edge pixels
    for (let p = 0; p < covered.length; p++) if (!covered[p]) expect([img[p * 3], img[p * 3 + 1], img[p * 3 + 2]]).toEqual([128, 128, 128]);
  });

  it('rejects bad scenes and sizes with clear errors', async () => {
    await expect(renderSceneRGB(SCENE, { size: 60 })).rejects.toThrow(/multiple of 8/);
    await expect(renderSceneRGB({ ...SCENE, objects: [SCENE.objects[0], { ...SCENE.objects[1], cell: 'top-left' }] })).rejects.toThrow(/two objects in cell top-left/);
    await expect(renderSceneRGB({ ...SCENE, objects: [{ ...SCENE.objects[0], colour: 'mauve' as never }] })).rejects.toThrow(/colour must be one of/);
    await expect(renderSceneRGB({ background: { kind: 'gradient', from: 'white', to: 'white', direction: 'vertical' }, objects: [] })).rejects.toThrow(/two different colours/);
  });
});

describe('edits', () => {
  const twins: Scene = {
    background: { kind: 'plain', colour: 'white' },
    objects: [
      { shape: 'circle', colour: 'red', size: 'small', cell: 'top-left' },
      { shape: 'circle', colour: 'red', size: 'small', cell: 'centre' },
      { shape: 'square', colour: 'blue', size: 'large', cell: 'bottom-right' },
    ],
  };

  it('refuses ambiguous, impossible and no-op edits', () => {
    expect(() => applyEdit(twins, { type: 'remove', target: { colour: 'red', shape: 'circle' } })).toThrow(/ambiguous/);
    expect(() => applyEdit(twins, { type: 'remove', target: { colour: 'green', shape: 'circle' } })).toThrow(ShapeEditError);
    expect(() => applyEdit(twins, { type: 'move', target: { colour: 'blue', shape: 'square' }, cell: 'centre' })).toThrow(/not empty/);
    expect(() => applyEdit(twins, { type: 'resize', target: { colour: 'blue', shape: 'square' }, change: 'larger' })).toThrow(/already large/);
    expect(() => applyEdit(twins, { type: 'recolour', target: { colour: 'blue', shape: 'square' }, colour: 'white' })).toThrow(/stand out/);
    expect(() => applyEdit(twins, { type: 'count', colour: 'red', shape: 'circle', change: 'remove', amount: 2 })).toThrow(/keep one/);
    expect(() => applyEdit(twins, { type: 'background', background: { kind: 'plain', colour: 'white' } })).toThrow(/already/);
  });

  it('applies the count conventions: copies go to the first empty cells, removals take the last', () => {
    const more = applyEdit(twins, { type: 'count', colour: 'red', shape: 'circle', change: 'add', amount: 1 });
    expect(more.objects.map((o) => `${o.colour} ${o.shape} ${o.size} ${o.cell}`)).toEqual(['red circle small top-left', 'red circle small top-middle', 'red circle small centre', 'blue square large bottom-right']);
    const fewer = applyEdit(twins, { type: 'count', colour: 'red', shape: 'circle', change: 'remove', amount: 1 });
    expect(fewer.objects.map((o) => o.cell)).toEqual(['top-left', 'bottom-right']);
    expect(describeEdit({ type: 'remove', target: { colour: 'red', shape: 'circle', cell: 'centre' } })).toBe('remove the red circle in the centre');
  });

  it('keeps the test split independent of the train size', () => {
    const small = generateShapeEditSamples({ seed: 3, splits: { train: 10, val: 0, test: 14 } });
    const large = generateShapeEditSamples({ seed: 3, splits: { train: 30, val: 0, test: 14 } });
    const test = (s: typeof small) => JSON.stringify(s.filter((x) => x.split === 'test'));
    expect(test(small)).toBe(test(large));
    expect(small.filter((x) => x.split === 'train')).toHaveLength(10);
  });

  it('rejects bad generator options with clear errors', async () => {
    expect(() => generateShapeEditSamples({ count: 10, splits: { train: 5, val: 5, test: 5 } })).toThrow(/sum to 15 edits but count is 10/);
    expect(() => generateShapeEditSamples({ count: 10, splits: { train: 0.5, val: 0.2 } })).toThrow(/fractions summing to 1/);
    expect(() => generateShapeEditSamples({ splits: { train: 0.5, val: 0.5 } })).toThrow(/count is required/);
    expect(() => generateShapeEditSamples({ count: 7, types: ['recolour', 'rotate' as never] })).toThrow(/unknown edit type "rotate"/);
    expect(() => generateShapeEditSamples({ count: 7, colour: 'red' } as never)).toThrow(/unknown option 'colour'/);
    await expect(generateShapeEdit({ outDir: '', count: 3 })).rejects.toThrow(/outDir/);
    await expect(generateShapeEdit({ outDir: path.join(tmp, 'x'), count: 3, size: 50 })).rejects.toThrow(/multiple of 8/);
  });
});

describe('dataset', () => {
  it('writes the requested splits with every edit type', () => {
    const bySplit = (s: string) => records.filter((r) => r.split === s).length;
    expect([bySplit('train'), bySplit('val'), bySplit('test')]).toEqual([39, 9, 8]);
    expect(new Set(records.map((r) => r.edit))).toEqual(new Set(EDIT_TYPES));
    expect(new Set(records.filter((r) => r.split === 'train').map((r) => r.edit))).toEqual(new Set(EDIT_TYPES));
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
  });

  it('is deterministic under the seed: same seed, same bytes; another seed, other data', async () => {
    const dirB = path.join(tmp, 'b');
    const dirC = path.join(tmp, 'c');
    await generateShapeEdit({ outDir: dirB, ...OPTIONS });
    await generateShapeEdit({ outDir: dirC, ...OPTIONS, seed: 6 });
    const [a, b, c] = [tree(dirA), tree(dirB), tree(dirC)];
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(v.equals(b.get(k)!), k).toBe(true);
    expect(a.get('train.jsonl')!.equals(c.get('train.jsonl')!)).toBe(false);
    const differing = [...a.keys()].filter((k) => k.endsWith('_src.png') && !a.get(k)!.equals(c.get(k)!));
    expect(differing.length).toBeGreaterThan(records.length / 2);
  });

  it('stores targets that are the exact render of applyEdit(scene, spec), and the instruction of the spec', async () => {
    for (const r of records) {
      expect(applyEdit(r.scene, r.spec), r.id).toEqual(r.targetScene);
      expect(describeEdit(r.spec, r.template), r.id).toBe(r.instruction);
      expect(r.spec.type).toBe(r.edit);
      const [src, tgt] = [fs.readFileSync(path.join(dirA, r.source)), fs.readFileSync(path.join(dirA, r.target))];
      expect((await renderScenePNG(r.targetScene, { size: SIZE })).equals(tgt), r.id).toBe(true);
      expect((await renderScenePNG(r.scene, { size: SIZE })).equals(src), r.id).toBe(true);
      expect(src.equals(tgt), r.id).toBe(false);
    }
  });

  it('writes masks that cover every changed pixel and stay inside the cells the edit touches', async () => {
    for (const r of records) {
      const [src, tgt, mask] = await Promise.all([decode(path.join(dirA, r.source), 3), decode(path.join(dirA, r.target), 3), decode(path.join(dirA, r.mask), 1)]);
      expect((await editMask(r.scene, r.targetScene, SIZE)).every((v, p) => (v ? 255 : 0) === mask[p])).toBe(true);
      let changed = 0;
      const uncovered: number[] = [];
      for (let p = 0; p < SIZE * SIZE; p++) {
        const diff = src[p * 3] !== tgt[p * 3] || src[p * 3 + 1] !== tgt[p * 3 + 1] || src[p * 3 + 2] !== tgt[p * 3 + 2];
        if (diff) changed++;
        if (diff && mask[p] !== 255) uncovered.push(p);
      }
      expect(changed, r.id).toBeGreaterThan(0);
      expect(uncovered, `${r.id}: changed pixels outside the mask`).toEqual([]);
      expect(mask.every((v) => v === 0 || v === 255)).toBe(true);
      if (r.edit === 'background') continue;
      // object edits: the mask lies in cells whose content differs between the two scenes
      const content = (s: Scene, ci: number) => JSON.stringify(s.objects.find((o) => o.cell === CELLS[ci]) ?? null);
      const stray: number[] = [];
      for (let p = 0; p < SIZE * SIZE; p++) if (mask[p] && content(r.scene, cellOfPixel(p)) === content(r.targetScene, cellOfPixel(p))) stray.push(p);
      expect(stray, `${r.id}: mask pixels in untouched cells`).toEqual([]);
    }
  });

  it('gives negatives that are other valid edits differing in exactly one attribute', () => {
    const attributes = new Set<string>();
    for (const r of records) {
      expect(r.negatives.length, r.id).toBeGreaterThan(0);
      expect(r.negatives.length).toBeLessThanOrEqual(3);
      expect(r.negativeEdits).toHaveLength(r.negatives.length);
      expect(new Set(r.negatives).size).toBe(r.negatives.length);
      const pos = leaves(r.spec);
      r.negativeEdits.forEach((n, k) => {
        const text = r.negatives[k];
        expect(text, r.id).not.toBe(r.instruction);
        expect(describeEdit(n.spec, r.template)).toBe(text);
        // valid on the source, and a different edit from the positive
        const out = applyEdit(r.scene, n.spec);
        expect(sceneKey(out), `${r.id}: ${text}`).not.toBe(sceneKey(r.targetScene));
        expect(sceneKey(out)).not.toBe(sceneKey(r.scene));
        // exactly one field differs, and it is the attribute named
        const neg = leaves(n.spec);
        const keys = new Set([...pos.keys(), ...neg.keys()]);
        const diff = [...keys].filter((key) => pos.get(key) !== neg.get(key));
        expect(diff, `${r.id}: '${r.instruction}' vs '${text}'`).toHaveLength(1);
        expect(FIELD_ATTRIBUTE[diff[0]]).toBe(n.attribute);
        attributes.add(n.attribute);
      });
    }
    for (const a of ['colour', 'shape', 'position', 'count', 'action']) expect(attributes, a).toContain(a);
  });

  it('keeps the splits disjoint: no scene and no image is shared between splits', () => {
    const scenes = new Map<string, string>();
    const images = new Map<string, string>();
    for (const r of records) {
      for (const s of [r.scene, r.targetScene]) {
        const k = sceneKey(s);
        expect(scenes.get(k) ?? r.split, r.id).toBe(r.split);
        scenes.set(k, r.split);
      }
      for (const f of [r.source, r.target]) {
        const h = crypto.createHash('sha256').update(fs.readFileSync(path.join(dirA, f))).digest('hex');
        expect(images.get(h) ?? r.split, `${r.id} ${f}`).toBe(r.split);
        images.set(h, r.split);
      }
    }
    expect(new Set(scenes.values())).toEqual(new Set(['train', 'val', 'test']));
  });

  it('loads with the trainer’s createDataLoader and yields batches of the images', async () => {
    const train = records.filter((r) => r.split === 'train');
    const loader = await createDataLoader(path.join(dirA, 'train.jsonl'), { batchSize: 4, resolution: SIZE, shuffle: false, flipProbability: 0, crop: 'center', prefetch: 0 });
    let batches = 0;
    for await (const batch of loader) {
      expect(batch.source.shape).toEqual([batch.indices.length, 3, SIZE, SIZE]);
      expect(batch.target.shape).toEqual(batch.source.shape);
      if (batches === 0) {
        const r = train[batch.indices[0]];
        expect(batch.instructions[0]).toBe(r.instruction);
        expect(r.negatives).toContain(batch.negatives[0]);
        // the loader's pixels are the PNG's, in [-1, 1] (a 64² image is not resampled at resolution 64)
        const png = await decode(path.join(dirA, r.target), 3);
        const t = await batch.target.toArray();
        for (const p of [0, 777, SIZE * SIZE - 1]) for (let c = 0; c < 3; c++) expect(t[c * SIZE * SIZE + p]).toBeCloseTo((png[p * 3 + c] / 255) * 2 - 1, 4);
      }
      batch.dispose();
      batches++;
    }
    expect(batches).toBe(Math.ceil(train.length / 4));
  });
});

describe('attribute check and PSNR', () => {
  it('passes the true target and fails the unedited source, for every edit type', async () => {
    for (const r of records) {
      const [src, tgt] = await Promise.all([decode(path.join(dirA, r.source), 3), decode(path.join(dirA, r.target), 3)]);
      const good = await checkEdit(r.scene, r.targetScene, tgt);
      expect(good.pass, `${r.id} '${r.instruction}': ${JSON.stringify(good)}`).toBe(true);
      expect(good.cells.some((c) => c.changed) || good.background !== null).toBe(true);
      const bad = await checkEdit(r.scene, r.targetScene, src);
      expect(bad.pass, `${r.id} '${r.instruction}' on the source`).toBe(false);
    }
  });

  it('fails the render of every negative (a one-attribute-wrong edit) and says what is wrong', async () => {
    let failures = 0;
    for (const r of records) {
      for (const n of r.negativeEdits) {
        const wrong = await renderSceneRGB(applyEdit(r.scene, n.spec as ShapeEditSpec), { size: SIZE });
        const res = await checkEdit(r.scene, r.targetScene, wrong);
        expect(res.pass, `${r.id} '${r.instruction}' vs negative ${JSON.stringify(n)}`).toBe(false);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(records.length);
    // a recolour read with the old colour reports the colour as what is wrong
    const rec = records.find((r) => r.edit === 'recolour')!;
    const res = await checkEdit(rec.scene, rec.targetScene, await renderSceneRGB(rec.scene, { size: SIZE }));
    expect(res.cells.filter((c) => !c.pass).map((c) => c.wrong)).toEqual([['colour']]);
  });

  it('tolerates noise and takes planar float images', async () => {
    for (const r of records.filter((x) => ['recolour', 'remove', 'move', 'background'].includes(x.edit))) {
      const tgt = await decode(path.join(dirA, r.target), 3);
      const plane = SIZE * SIZE;
      const noisy = new Float32Array(3 * plane);
      // deterministic ±25/255 noise, planar [3, H, W] in [0, 1]
      for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) noisy[c * plane + p] = tgt[p * 3 + c] / 255 + (((p * 7 + c * 13) % 11) - 5) * (5 / 255);
      expect((await checkEdit(r.scene, r.targetScene, noisy)).pass, r.id).toBe(true);
    }
  });

  it('computes PSNR inside and outside a mask', () => {
    const n = 16;
    const a = new Uint8Array(n * n * 3).fill(100);
    const b = new Uint8Array(a);
    const mask = new Uint8Array(n * n);
    for (let p = 0; p < n * n; p += 2) {
      mask[p] = 1;
      b[p * 3] = 110; // one channel off by 10 in every masked pixel: MSE 100/3
    }
    expect(psnr(a, b, mask, 'inside')).toBeCloseTo(10 * Math.log10((255 * 255 * 3) / 100), 10);
    expect(psnr(a, b, mask, 'outside')).toBe(Infinity);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255 * 6) / 100), 10);
    expect(psnr(a, b, new Uint8Array(n * n), 'inside')).toBeNaN();
    // planar floats and bytes of the same picture agree
    const f = new Float32Array(n * n * 3);
    for (let p = 0; p < n * n; p++) for (let c = 0; c < 3; c++) f[c * n * n + p] = b[p * 3 + c] / 255;
    expect(psnr(f, b)).toBe(Infinity);
    expect(() => psnr(a, new Uint8Array(12))).toThrow(/differ in size/);
    expect(() => psnr(a, b, new Uint8Array(5))).toThrow(/mask has 5 values/);
  });
});
