// A CLIP-layout BPE vocabulary trained on a corpus: the layout matches CLIP's (checked against the
// fixture vocabulary), the tokenizer reads the files and tokenizes the corpus's words whole,
// decoding round-trips, and training is deterministic and order-independent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLIPTokenizer, trainClipBpe, writeClipTokenizer } from '../src';
import { haveParity, parity } from './helpers/tiny_pipeline';

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];
const SHAPES = ['circle', 'square', 'triangle', 'star'];
const corpus: string[] = [];
for (const c of COLOURS) for (const s of SHAPES) for (const d of COLOURS) corpus.push(`Make the ${c} ${s} ${d}.`, `remove the ${c} ${s}`);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-bpe-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('trainClipBpe', () => {
  it('writes a vocabulary the tokenizer reads; corpus words become single tokens; decode round-trips', async () => {
    const v = trainClipBpe(corpus, { vocabSize: 700 });
    await writeClipTokenizer(tmp, v);
    const tok = await CLIPTokenizer.fromPretrained(tmp);
    expect(tok.vocabSize).toBe(Object.keys(v.vocab).length);
    expect(tok.bosTokenId).toBe(tok.vocabSize - 2);
    expect(tok.eosTokenId).toBe(tok.vocabSize - 1);
    for (const w of [...COLOURS, ...SHAPES, 'make', 'remove', 'the']) expect(tok.tokenize(w)).toEqual([`${w}</w>`]);
    const ids = tok.encode('Make the red star purple.', { padding: 'none' });
    expect(ids.length).toBe(2 + 6); // bos, make the red star purple ., eos
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('make the red star purple .');
    // unseen words still tokenize (byte fallback), never to unk
    expect(tok.tokenize('zebra').length).toBeGreaterThan(1);
    expect(tok.convertTokensToIds(tok.tokenize('zebra'))).not.toContain(tok.unkTokenId);
  });

  it('is deterministic and independent of the corpus order; stops at the vocabulary size', () => {
    const a = trainClipBpe(corpus, { vocabSize: 540 });
    const b = trainClipBpe([...corpus].reverse(), { vocabSize: 540 });
    expect(b).toEqual(a);
    expect(Object.keys(a.vocab)).toHaveLength(540);
    expect(a.merges).toHaveLength(540 - 512 - 2);
    // a budget larger than the corpus needs: merging stops when no pair occurs twice
    const big = trainClipBpe(corpus, { vocabSize: 5000 });
    expect(Object.keys(big.vocab).length).toBeLessThan(5000);
    expect(() => trainClipBpe(corpus, { vocabSize: 100 })).toThrow(/vocabSize/);
  });

  it.skipIf(!haveParity)('lays out the byte symbols as CLIP does (the fixture vocabulary)', () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(parity, 'clip_tokenizer_tiny', 'vocab.json'), 'utf8')) as Record<string, number>;
    const byId = Object.entries(fixture).sort((x, y) => x[1] - y[1]).map(([t]) => t);
    const ours = Object.entries(trainClipBpe(['a'], { vocabSize: 514 }).vocab).sort((x, y) => x[1] - y[1]).map(([t]) => t);
    expect(ours.slice(0, 512)).toEqual(byId.slice(0, 512));
  });
});
