// CLIPTokenizer: the byte-level BPE tokenizer of CLIP (transformers' slow CLIPTokenizer, the no-ftfy
// cleaning path), in plain TypeScript: no native code, so it can run anywhere the package loads.
// ../shared/parity/SPEC.md §6 describes the reference step by step; the steps below follow it.
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';

import { checkOptions, integer } from '../validate';

/** Token ids of a batch, row-major [batch, length] int32: what CLIPTextModel.forward takes. */
export interface TokenIds {
  ids: Int32Array;
  shape: readonly [number, number];
}

export interface CLIPTokenizerOptions {
  /** vocab.json: token -> id. */
  vocab: Record<string, number> | ReadonlyMap<string, number>;
  /**
   * merges.txt: the file's text (its first line, `#version: ...`, is skipped as the reference does, and
   * only the first 48,894 merges are used), or the merge pairs in rank order.
   */
  merges: string | readonly (readonly [string, string])[];
  /** Length of encoded sequences (default 77). */
  modelMaxLength?: number;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  /** Padding token (default '<|endoftext|>'; SD 2.x tokenizers use '!'). */
  padToken?: string;
}

export interface CLIPEncodeOptions {
  /** Sequence length to pad and truncate to (default: the tokenizer's modelMaxLength, 77). */
  maxLength?: number;
  /**
   * 'max_length' (default, as the SD pipelines call it) pads to maxLength; 'longest' pads a batch to its
   * longest row; 'none' does not pad.
   */
  padding?: 'max_length' | 'longest' | 'none';
  /** Cut sequences longer than maxLength, keeping bos, the first maxLength - 2 tokens and eos (default true). */
  truncation?: boolean;
}

export interface CLIPDecodeOptions {
  /** Leave out bos/eos/pad/unk tokens (default true). */
  skipSpecialTokens?: boolean;
}

const OP = 'CLIPTokenizer';
// The reference reads merges.txt lines 1 .. 49152 - 256 - 2 (after the version header).
const MAX_MERGES = 49152 - 256 - 2;
const CACHE_LIMIT = 50_000;

// Pre-tokenisation (the reference compiles it with IGNORECASE; its input is already lower-case).
const PAT = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** bytes_to_unicode: each byte -> a printable character (printable Latin-1 bytes map to themselves). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; ++b) bs.push(b);
  for (let b = 0xa1; b <= 0xac; ++b) bs.push(b);
  for (let b = 0xae; b <= 0xff; ++b) bs.push(b);
  const out = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; ++b) if (out[b] === undefined) out[b] = String.fromCharCode(256 + n++);
  return out;
}
const BYTE_ENCODER = bytesToUnicode();
const BYTE_DECODER = new Map<string, number>(BYTE_ENCODER.map((c, b) => [c, b]));

function isCJK(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

const CONTROL = /^\p{C}$/u;
const SPACE_SEPARATOR = /^\p{Zs}$/u;

/**
 * BasicTokenizer(do_lower_case, strip_accents=False, do_split_on_punc=False, tokenize_chinese_chars):
 * drop NUL, U+FFFD and control characters, whitespace -> ' ', spaces around CJK ideographs, NFC,
 * lower-case each whitespace-separated word (accents kept), re-joined by single spaces.
 */
function basicClean(text: string): string {
  let s = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || SPACE_SEPARATOR.test(ch)) s += ' ';
    else if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    else if (isCJK(cp)) s += ` ${ch} `;
    else s += ch;
  }
  // Python's str.split() also splits on U+2028/U+2029 (kept by the cleaning above); so does \s.
  const words = s.normalize('NFC').split(/\s+/u).filter((w) => w !== '');
  return words.map((w) => w.toLowerCase()).join(' ');
}

/**
 * CLIP's pre-tokenisation of ordinary text (no special tokens): cleaning, lower-casing, the
 * regex split, and each piece's UTF-8 bytes mapped through bytes_to_unicode — the "words" BPE
 * runs on (and what a BPE trainer counts).
 */
export function clipPreTokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of basicClean(text).matchAll(PAT)) {
    let word = '';
    for (const b of Buffer.from(m[0], 'utf8')) word += BYTE_ENCODER[b];
    out.push(word);
  }
  return out;
}

/** The 256 byte symbols in the order CLIP's vocabulary lists them (printable bytes first). */
export function clipByteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; ++b) printable.push(b);
  for (let b = 0xa1; b <= 0xac; ++b) printable.push(b);
  for (let b = 0xae; b <= 0xff; ++b) printable.push(b);
  const rest: number[] = [];
  for (let b = 0; b < 256; ++b) if (!printable.includes(b)) rest.push(b);
  return [...printable, ...rest].map((b) => BYTE_ENCODER[b]);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function tokenName(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new Error(`${OP}.fromPretrained: ${file}: "${key}" must be a string or an object with "content"`);
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${OP}.fromPretrained: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** CLIP's tokenizer: text -> BPE tokens -> ids with bos/eos, truncated and padded as the SD pipelines do. */
export class CLIPTokenizer {
  readonly modelMaxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly unkToken: string;
  readonly padToken: string;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly unkTokenId: number;
  readonly padTokenId: number;
  /** Number of entries in the vocabulary. */
  readonly vocabSize: number;

  readonly #encoder: Map<string, number>;
  readonly #decoder: Map<number, string>;
  readonly #ranks: Map<string, number>; // "first second" -> rank
  readonly #special: RegExp;
  readonly #specialIds: Set<number>;
  #cache = new Map<string, string[]>();

  constructor(options: CLIPTokenizerOptions) {
    const op = `new ${OP}`;
    if (typeof options !== 'object' || options === null) throw new TypeError(`${op}: options must be an object`);
    checkOptions(options, ['vocab', 'merges', 'modelMaxLength', 'bosToken', 'eosToken', 'unkToken', 'padToken'], op);
    this.#encoder = CLIPTokenizer.#vocabMap(options.vocab, op);
    this.#decoder = new Map();
    for (const [t, id] of this.#encoder) if (!this.#decoder.has(id)) this.#decoder.set(id, t);
    this.vocabSize = this.#encoder.size;
    this.#ranks = CLIPTokenizer.#mergeRanks(options.merges, op);
    this.modelMaxLength = options.modelMaxLength === undefined ? 77 : integer(options.modelMaxLength, op, 'modelMaxLength', 2);

    const special = (key: string, v: string | undefined, def: string): [string, number] => {
      const t = v ?? def;
      if (typeof t !== 'string' || t === '') throw new TypeError(`${op}: ${key} must be a non-empty string`);
      const id = this.#encoder.get(t);
      if (id === undefined) throw new Error(`${op}: the ${key} '${t}' is not in the vocabulary`);
      return [t, id];
    };
    [this.bosToken, this.bosTokenId] = special('bosToken', options.bosToken, '<|startoftext|>');
    [this.eosToken, this.eosTokenId] = special('eosToken', options.eosToken, '<|endoftext|>');
    [this.unkToken, this.unkTokenId] = special('unkToken', options.unkToken, '<|endoftext|>');
    [this.padToken, this.padTokenId] = special('padToken', options.padToken, '<|endoftext|>');
    // The special tokens are split out of the text before cleaning and map straight to their ids;
    // at one position the longest wins (the reference's trie).
    const specials = [...new Set([this.bosToken, this.eosToken, this.unkToken, this.padToken])].sort((a, b) => b.length - a.length);
    this.#special = new RegExp(specials.map(escapeRegExp).join('|'), 'gu');
    this.#specialIds = new Set([this.bosTokenId, this.eosTokenId, this.unkTokenId, this.padTokenId]);
  }

  static #vocabMap(vocab: unknown, op: string): Map<string, number> {
    const entries: [unknown, unknown][] =
      vocab instanceof Map ? [...vocab.entries()] :
      typeof vocab === 'object' && vocab !== null && !Array.isArray(vocab) ? Object.entries(vocab) : [];
    if (entries.length === 0) throw new TypeError(`${op}: vocab must be a non-empty object mapping tokens to ids`);
    const m = new Map<string, number>();
    for (const [t, id] of entries) {
      if (typeof t !== 'string' || typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw new TypeError(`${op}: vocab entry ${JSON.stringify(t)}: ${JSON.stringify(id)} must map a token to an id in [0, 2^31)`);
      }
      m.set(t, id);
    }
    return m;
  }

  static #mergeRanks(merges: unknown, op: string): Map<string, number> {
    const ranks = new Map<string, number>();
    if (typeof merges === 'string') {
      // As the reference: strip the file, skip the header line, keep MAX_MERGES lines. A later
      // duplicate overrides an earlier one's rank (a dict built in order).
      const lines = merges.trim().split('\n').slice(1, MAX_MERGES + 1);
      lines.forEach((line, i) => {
        const parts = line.trim().split(/\s+/u);
        if (parts.length !== 2 || parts[0] === '') {
          throw new Error(`${op}: merges line ${i + 2} must hold two symbols separated by a space, got ${JSON.stringify(line.slice(0, 80))}`);
        }
        ranks.set(`${parts[0]} ${parts[1]}`, i);
      });
    } else if (Array.isArray(merges)) {
      merges.forEach((p, i) => {
        if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string' || !p[0] || !p[1]) {
          throw new TypeError(`${op}: merges[${i}] must be a pair of non-empty strings`);
        }
        ranks.set(`${p[0]} ${p[1]}`, i);
      });
    } else {
      throw new TypeError(`${op}: merges must be the text of merges.txt or an array of [first, second] pairs`);
    }
    return ranks;
  }

  /**
   * Reads a tokenizer folder (vocab.json, merges.txt, and when present tokenizer_config.json and
   * special_tokens_map.json for model_max_length and the special tokens), or a pipeline folder with
   * a tokenizer/ subfolder.
   */
  static async fromPretrained(dir: string): Promise<CLIPTokenizer> {
    const op = `${OP}.fromPretrained`;
    if (typeof dir !== 'string' || dir === '') throw new TypeError(`${op}: path must be a non-empty string`);
    if (!(await isDir(dir))) throw new Error(`${op}: ${dir} is not a folder`);
    let folder = dir;
    if (!(await exists(path.join(dir, 'vocab.json'))) && (await isDir(path.join(dir, 'tokenizer')))) folder = path.join(dir, 'tokenizer');
    const vocabFile = path.join(folder, 'vocab.json');
    const mergesFile = path.join(folder, 'merges.txt');
    for (const f of [vocabFile, mergesFile]) {
      if (!(await exists(f))) {
        const fast = await exists(path.join(folder, 'tokenizer.json'));
        throw new Error(`${op}: no ${path.basename(f)} in ${folder}` +
          (fast ? ' (only tokenizer.json is there: the CLIP tokenizer reads vocab.json and merges.txt)' : ''));
      }
    }
    const vocab = await readJson(vocabFile);
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new Error(`${op}: ${vocabFile} must hold a JSON object (token -> id)`);
    const merges = await readFile(mergesFile, 'utf8');
    const opts: CLIPTokenizerOptions = { vocab: vocab as Record<string, number>, merges };
    // tokenizer_config.json first, then special_tokens_map.json over it (the reference's order).
    for (const name of ['tokenizer_config.json', 'special_tokens_map.json']) {
      const file = path.join(folder, name);
      if (!(await exists(file))) continue;
      const cfg = await readJson(file);
      if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new Error(`${op}: ${file} must hold a JSON object`);
      const c = cfg as Record<string, unknown>;
      const max = c.model_max_length;
      // Configs without a real limit store a huge sentinel (int(1e30)); keep the default then.
      if (typeof max === 'number' && Number.isSafeInteger(max) && max >= 2 && max <= 1 << 20) opts.modelMaxLength = max;
      opts.bosToken = tokenName(c.bos_token, 'bos_token', file) ?? opts.bosToken;
      opts.eosToken = tokenName(c.eos_token, 'eos_token', file) ?? opts.eosToken;
      opts.unkToken = tokenName(c.unk_token, 'unk_token', file) ?? opts.unkToken;
      opts.padToken = tokenName(c.pad_token, 'pad_token', file) ?? opts.padToken;
    }
    try {
      return new CLIPTokenizer(opts);
    } catch (e) {
      throw new Error(`${op}: ${folder}: ${(e as Error).message.replace(/^new CLIPTokenizer: /, '')}`);
    }
  }

  /** The byte-level BPE of one pre-tokenised word (already byte-encoded). */
  #bpe(word: string): string[] {
    const hit = this.#cache.get(word);
    if (hit) return hit;
    if (word === '<|startoftext|>' || word === '<|endoftext|>') return [word]; // the reference's seeded cache
    let parts = word.split('');
    parts[parts.length - 1] += '</w>';
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; ++i) {
        const r = this.#ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = parts[best], second = parts[best + 1];
      const next: string[] = [];
      for (let i = 0; i < parts.length;) {
        if (i + 1 < parts.length && parts[i] === first && parts[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(parts[i++]);
        }
      }
      parts = next;
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, parts);
    return parts;
  }

  /** Splits out the special tokens: [piece, isSpecial] in text order. */
  #splitSpecial(text: string): [string, boolean][] {
    const out: [string, boolean][] = [];
    let last = 0;
    for (const m of text.matchAll(this.#special)) {
      if (m.index! > last) out.push([text.slice(last, m.index), false]);
      out.push([m[0], true]);
      last = m.index! + m[0].length;
    }
    if (last < text.length) out.push([text.slice(last), false]);
    return out;
  }

  /** The BPE tokens of `text` (no bos/eos), e.g. 'a photo' -> ['a</w>', 'photo</w>']. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw new TypeError(`${OP}.tokenize: text must be a string, got ${typeof text}`);
    const out: string[] = [];
    for (const [piece, special] of this.#splitSpecial(text)) {
      if (special) {
        out.push(piece);
        continue;
      }
      for (const word of clipPreTokenize(piece)) out.push(...this.#bpe(word));
    }
    return out;
  }

  /** Ids of tokens (unknown tokens -> the unk token's id). */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.#encoder.get(t) ?? this.unkTokenId);
  }

  #resolve(options: CLIPEncodeOptions, op: string): { maxLength: number; padding: string; truncation: boolean } {
    checkOptions(options, ['maxLength', 'padding', 'truncation'], op);
    const maxLength = options.maxLength === undefined ? this.modelMaxLength : integer(options.maxLength, op, 'maxLength', 2);
    const padding = options.padding ?? 'max_length';
    if (!['max_length', 'longest', 'none'].includes(padding)) {
      throw new TypeError(`${op}: padding must be 'max_length', 'longest' or 'none', got ${JSON.stringify(padding)}`);
    }
    if (options.truncation !== undefined && typeof options.truncation !== 'boolean') throw new TypeError(`${op}: truncation must be a boolean`);
    return { maxLength, padding, truncation: options.truncation ?? true };
  }

  #ids(text: string, o: { maxLength: number; padding: string; truncation: boolean }): number[] {
    let content = this.convertTokensToIds(this.tokenize(text));
    if (o.truncation && content.length + 2 > o.maxLength) content = content.slice(0, o.maxLength - 2);
    const ids = [this.bosTokenId, ...content, this.eosTokenId];
    if (o.padding === 'max_length') while (ids.length < o.maxLength) ids.push(this.padTokenId);
    return ids;
  }

  /**
   * Token ids of one text: bos, the BPE tokens' ids, eos; by default truncated and padded to 77
   * (`tok(text, padding="max_length", max_length=77, truncation=True)`).
   */
  encode(text: string, options: CLIPEncodeOptions = {}): Int32Array {
    const op = `${OP}.encode`;
    if (typeof text !== 'string') throw new TypeError(`${op}: text must be a string, got ${typeof text}`);
    return Int32Array.from(this.#ids(text, this.#resolve(options, op)));
  }

  /** Ids of several texts as one [batch, length] int32 block (rows padded to one length). */
  encodeBatch(texts: readonly string[], options: CLIPEncodeOptions = {}): TokenIds {
    const op = `${OP}.encodeBatch`;
    if (!Array.isArray(texts) || texts.length === 0) throw new TypeError(`${op}: texts must be a non-empty array of strings`);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`${op}: texts[${i}] must be a string, got ${typeof t}`);
    });
    const o = this.#resolve(options, op);
    const rows = texts.map((t) => this.#ids(t, o));
    const L = Math.max(...rows.map((r) => r.length));
    if (o.padding === 'none' && rows.some((r) => r.length !== L)) {
      throw new Error(`${op}: the texts have different lengths (${rows.map((r) => r.length).join(', ')}) and padding is 'none'; use 'longest' or 'max_length'`);
    }
    const ids = new Int32Array(rows.length * L).fill(this.padTokenId);
    rows.forEach((r, i) => ids.set(r, i * L));
    return { ids, shape: [rows.length, L] };
  }

  /** Text of ids: tokens joined, '</w>' -> ' ', bytes decoded as UTF-8 (invalid sequences -> U+FFFD). */
  decode(ids: ArrayLike<number>, options: CLIPDecodeOptions = {}): string {
    const op = `${OP}.decode`;
    checkOptions(options, ['skipSpecialTokens'], op);
    const skip = options.skipSpecialTokens ?? true;
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; ++i) {
      const id = ids[i];
      const t = this.#decoder.get(id);
      if (t === undefined) throw new RangeError(`${op}: id ${id} at position ${i} is not in the vocabulary`);
      if (skip && this.#specialIds.has(id)) continue;
      for (const ch of t) {
        const b = BYTE_DECODER.get(ch);
        if (b !== undefined) bytes.push(b);
        else bytes.push(...Buffer.from(ch, 'utf8')); // a special token's own characters
      }
    }
    return Buffer.from(bytes).toString('utf8').replace(/<\/w>/g, ' ').trim();
  }
}
