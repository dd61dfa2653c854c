// ShapeEdit evaluation: run an editor over a split's manifest and score every edit for
// instruction following (the attribute check, and PSNR to the true target inside the edit mask)
// and preservation (PSNR to the source outside it), per edit type and overall; render a markdown
// table and an image grid (source | output | target per row, instruction alongside in the table).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { sharp } from '../sharp_lazy';

import { checkEdit, psnr } from './check';
import { allNegatives, EDIT_TYPES, EditType, tryApplyEdit } from './edits';
import type { ShapeEditRecord } from './generate';

/** Edits one record's source as its instruction says; resolves to interleaved RGB bytes (H·W·3). */
export type EditFn = (sourcePng: string, instruction: string, record: ShapeEditRecord, index: number) => Promise<Uint8Array>;

export interface EvaluateOptions {
  /** At most this many records (default: all). */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EditScore {
  id: string;
  edit: EditType;
  instruction: string;
  /** The attribute check passed. */
  follows: boolean;
  /** PSNR (dB) to the true target inside the edit mask; Infinity when exact. */
  psnrInside: number;
  /** PSNR (dB) to the source outside the edit mask (preservation); NaN for whole-image edits. */
  psnrOutside: number;
  /**
   * Negative confusion: the output does not follow the instruction but passes the attribute check
   * of one of its one-attribute negatives (the edit of "make the red circle green" for "… blue") —
   * the error SuperEdit's contrastive loss targets. The attribute names which negative ('' if none).
   */
  confused: boolean;
  confusedWith: string;
}

export interface EvaluationRow {
  edit: EditType | 'overall';
  count: number;
  /** Fraction of edits passing the attribute check. */
  following: number;
  /** Mean PSNR inside / outside the mask over the edits where it is defined (exact = capped at 60 dB). */
  psnrInside: number;
  psnrOutside: number;
  /** Fraction of edits with negative confusion (see EditScore.confused). */
  negativeConfusion: number;
}

/** The binomial standard error of a rate p measured on n trials: √(p(1−p)/n). */
export function binomialError(p: number, n: number): number {
  return n > 0 ? Math.sqrt((p * (1 - p)) / n) : NaN;
}

export interface Evaluation {
  scores: EditScore[];
  rows: EvaluationRow[];
}

const CAP = 60; // dB: an exact match counts as 60 in the means, so one perfect edit cannot make a mean infinite


async function rgb(file: string): Promise<{ data: Uint8Array; size: number }> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.width !== info.height) throw new Error(`evaluateShapeEdit: ${file} is not square`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), size: info.width };
}

async function maskBits(file: string): Promise<Uint8Array> {
  const { data } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
  return Uint8Array.from(data, (v) => (v > 127 ? 1 : 0));
}

/** Reads a ShapeEdit manifest (the generator's JSONL, with scenes and masks). */
export async function readShapeEditManifest(file: string): Promise<ShapeEditRecord[]> {
  const text = await fsp.readFile(file, 'utf8');
  const out: ShapeEditRecord[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let r: ShapeEditRecord;
    try {
      r = JSON.parse(line) as ShapeEditRecord;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    for (const k of ['id', 'source', 'target', 'instruction', 'edit', 'mask', 'scene', 'targetScene'] as const) {
      if (r[k] === undefined) throw new Error(`${file}:${i + 1}: not a ShapeEdit record (no '${k}'; evaluation needs the generator's manifests)`);
    }
    out.push(r);
  });
  return out;
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

/** Scores `edit` on every record of the manifest. */
export async function evaluateShapeEdit(manifest: string, edit: EditFn, options: EvaluateOptions = {}): Promise<Evaluation> {
  const dir = path.dirname(path.resolve(manifest));
  let records = await readShapeEditManifest(manifest);
  if (options.limit !== undefined) records = records.slice(0, options.limit);
  const scores: EditScore[] = [];
  for (const [i, r] of records.entries()) {
    const src = await rgb(path.join(dir, r.source));
    const tgt = await rgb(path.join(dir, r.target));
    const mask = await maskBits(path.join(dir, r.mask));
    const out = await edit(path.join(dir, r.source), r.instruction, r, i);
    if (out.length !== src.data.length) {
      throw new Error(`evaluateShapeEdit: the editor returned ${out.length} bytes for ${r.id}, expected ${src.data.length} (${src.size}×${src.size} RGB)`);
    }
    const check = await checkEdit(r.scene, r.targetScene, out);
    let confusedWith = '';
    if (!check.pass) {
      // Every one-attribute negative of the edit (not only the few the record lists).
      const negatives = r.spec ? allNegatives(r.scene, r.spec, r.template ?? 0) : (r.negativeEdits ?? []);
      for (const n of negatives) {
        const negTarget = tryApplyEdit(r.scene, n.spec);
        if (negTarget && (await checkEdit(r.scene, negTarget, out)).pass) {
          confusedWith = n.attribute;
          break;
        }
      }
    }
    scores.push({
      id: r.id, edit: r.edit, instruction: r.instruction, follows: check.pass,
      psnrInside: psnr(out, tgt.data, mask, 'inside'), psnrOutside: psnr(out, src.data, mask, 'outside'),
      confused: confusedWith !== '', confusedWith,
    });
    options.onProgress?.(i + 1, records.length);
  }
  const row = (edit: EvaluationRow['edit'], ss: EditScore[]): EvaluationRow => ({
    edit, count: ss.length, following: ss.filter((s) => s.follows).length / Math.max(1, ss.length),
    psnrInside: mean(ss.map((s) => Math.min(CAP, s.psnrInside)).filter(Number.isFinite)),
    psnrOutside: mean(ss.map((s) => Math.min(CAP, s.psnrOutside)).filter(Number.isFinite)),
    negativeConfusion: ss.filter((s) => s.confused).length / Math.max(1, ss.length),
  });
  const rows = EDIT_TYPES.map((t) => row(t, scores.filter((s) => s.edit === t))).filter((r) => r.count > 0);
  rows.push(row('overall', scores));
  return { scores, rows };
}

/** The evaluation as a markdown table (rates with their binomial standard error). */
export function evaluationTable(ev: Evaluation): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
  const rate = (p: number, n: number) => `${(100 * p).toFixed(1)}% ± ${(100 * binomialError(p, n)).toFixed(1)}`;
  const lines = ['| edit | n | following (attribute check) | negative confusion | PSNR in mask vs target (dB) | PSNR outside mask vs source (dB) |',
    '|---|---|---|---|---|---|'];
  for (const r of ev.rows) {
    lines.push(`| ${r.edit} | ${r.count} | ${rate(r.following, r.count)} | ${rate(r.negativeConfusion, r.count)} | ${f(r.psnrInside)} | ${f(r.psnrOutside)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** A PNG grid, one row per record: source | output | target (at most `rows` rows). */
export async function evaluationGrid(manifest: string, outputs: Uint8Array[], file: string, rows = 16): Promise<void> {
  const dir = path.dirname(path.resolve(manifest));
  const records = (await readShapeEditManifest(manifest)).slice(0, Math.min(rows, outputs.length));
  if (records.length === 0) throw new Error('evaluationGrid: nothing to draw');
  const first = await rgb(path.join(dir, records[0].source));
  const S = first.size;
  const pad = 2;
  const width = 3 * S + 4 * pad;
  const height = records.length * (S + pad) + pad;
  const composites: { input: Buffer; left: number; top: number }[] = [];
  for (const [i, r] of records.entries()) {
    const top = pad + i * (S + pad);
    const out = await sharp(Buffer.from(outputs[i]), { raw: { width: S, height: S, channels: 3 } }).png().toBuffer();
    composites.push({ input: await sharp(path.join(dir, r.source)).png().toBuffer(), left: pad, top });
    composites.push({ input: out, left: 2 * pad + S, top });
    composites.push({ input: await sharp(path.join(dir, r.target)).png().toBuffer(), left: 3 * pad + 2 * S, top });
  }
  await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } } as never)
    .composite(composites).png().toFile(file);
}
