// Trains a CLIP-layout byte-level BPE vocabulary on a corpus, for small models that ship their own
// tokenizer (the built-in editing model): vocab.json + merges.txt that CLIPTokenizer — and
// transformers' CLIPTokenizer — read like the real ones. Layout as CLIP's: the 256 byte symbols,
// the same with `</w>`, one token per merge, then <|startoftext|> and <|endoftext|>.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { checkOptions, integer } from '../validate';
import { clipByteSymbols, clipPreTokenize } from './clip_tokenizer';

export interface TrainBpeOptions {
  /** Total vocabulary size including the 512 byte symbols and the 2 special tokens (default 1024). */
  vocabSize?: number;
  /** Stop merging when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
}

export interface BpeVocabulary {
  vocab: Record<string, number>;
  /** "a b" pairs in rank order (merges.txt without its header line). */
  merges: string[];
}

/**
 * Learns merges greedily (the most frequent adjacent pair over the corpus's words, weighted by
 * their counts; ties broken by the pair's text, so the result is deterministic).
 */
export function trainClipBpe(texts: readonly string[], options: TrainBpeOptions = {}): BpeVocabulary {
  const op = 'trainClipBpe';
  checkOptions(options, ['vocabSize', 'minFrequency'], op);
  const vocabSize = integer(options.vocabSize ?? 1024, op, 'vocabSize', 514);
  const minFrequency = integer(options.minFrequency ?? 2, op, 'minFrequency', 1);
  if (!Array.isArray(texts)) throw new TypeError(`${op}: texts must be an array of strings`);
  const counts = new Map<string, number>();
  for (const t of texts) {
    if (typeof t !== 'string') throw new TypeError(`${op}: texts must be strings`);
    for (const w of clipPreTokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  // Each word as its symbols, the last one marked as the word's end.
  const words: { syms: string[]; n: number }[] = [];
  for (const [w, n] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const syms = [...w];
    syms[syms.length - 1] += '</w>';
    words.push({ syms, n });
  }
  const bytes = clipByteSymbols();
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`)];
  const merges: string[] = [];
  while (tokens.length + 2 < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + n);
      }
    }
    let best = '';
    let bestN = 0;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && k < best)) [best, bestN] = [k, n];
    if (bestN < minFrequency) break;
    const [a, b] = best.split(' ');
    merges.push(best);
    tokens.push(a + b);
    // Merge every non-overlapping occurrence, left to right (as the tokenizer applies it).
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else {
          out.push(w.syms[i]);
        }
      }
      w.syms = out;
    }
  }
  tokens.push('<|startoftext|>', '<|endoftext|>');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  return { vocab, merges };
}

/** Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into `dir`. */
export async function writeClipTokenizer(dir: string, v: BpeVocabulary, options: { modelMaxLength?: number } = {}): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const special = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>' };
  await fsp.writeFile(path.join(dir, 'vocab.json'), JSON.stringify(v.vocab));
  await fsp.writeFile(path.join(dir, 'merges.txt'), `#version: 0.2\n${v.merges.join('\n')}\n`);
  await fsp.writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify(special, null, 2));
  await fsp.writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'CLIPTokenizer', model_max_length: options.modelMaxLength ?? 77, do_lower_case: true, ...special,
  }, null, 2));
}
