// Negative instructions for SuperEdit's triplet loss: the instruction with exactly ONE attribute word
// changed (a colour, a count, a position, an object, a direction, or an action/size word), so the
// negative is close to the positive in text space but wrong for the edit. Word lists, not a language
// model: deterministic under a seed, cheap, and inspectable. Grammar is not repaired ("one cat" →
// "three cat"): the text encoder is robust to it and a second changed word would break the
// one-attribute contract.
import { checkOptions, integer } from '../validate';
import { Rng } from './rng';

/** The attributes a negative may change. */
export type NegativeAttribute = 'colour' | 'count' | 'position' | 'object' | 'direction' | 'action';

export const NEGATIVE_ATTRIBUTES: readonly NegativeAttribute[] = ['colour', 'count', 'position', 'object', 'direction', 'action'];

// Each attribute is a list of groups; a word may be replaced by another class of its own group.
// A class is "spelling|alias|…": every spelling is recognised, the first is written. Aliases of one
// class never replace each other (grey → gray is not a change). Groups of two are opposites.
const WORDS: Record<NegativeAttribute, readonly string[][]> = {
  colour: [['red', 'orange', 'yellow', 'green', 'blue', 'purple|violet', 'pink', 'brown', 'black', 'white', 'gray|grey', 'silver', 'gold|golden', 'cyan|turquoise', 'beige']],
  count: [
    ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'],
    ['double|twice', 'triple|thrice'],
    ['more', 'less|fewer'],
  ],
  position: [['left', 'right'], ['leftmost', 'rightmost'], ['top', 'bottom'], ['above', 'below|beneath'], ['upper', 'lower'], ['inside', 'outside'], ['foreground', 'background']],
  object: [
    ['cat', 'dog', 'horse', 'cow', 'bird', 'rabbit', 'bear', 'lion', 'tiger', 'elephant', 'giraffe', 'zebra', 'fox', 'duck', 'monkey'],
    ['cats', 'dogs', 'horses', 'cows', 'birds', 'rabbits', 'bears', 'lions', 'tigers', 'elephants', 'giraffes', 'zebras', 'foxes', 'ducks', 'monkeys'],
    ['man', 'woman', 'boy', 'girl', 'child'],
    ['men', 'women', 'boys', 'girls', 'children'],
    ['car', 'bus', 'truck', 'bicycle|bike', 'motorcycle', 'boat', 'airplane|plane|aeroplane', 'helicopter'],
    ['cars', 'buses', 'trucks', 'bicycles|bikes', 'motorcycles', 'boats', 'airplanes|planes|aeroplanes', 'helicopters'],
    ['apple', 'banana', 'pizza', 'cake', 'donut|doughnut', 'sandwich', 'pear', 'strawberry', 'carrot'],
    ['apples', 'bananas', 'pizzas', 'cakes', 'donuts|doughnuts', 'sandwiches', 'pears', 'strawberries', 'carrots'],
    ['chair', 'table', 'sofa|couch', 'bed', 'lamp', 'clock', 'vase', 'cup', 'bottle', 'book'],
    ['chairs', 'tables', 'sofas|couches', 'beds', 'lamps', 'clocks', 'vases', 'cups', 'bottles', 'books'],
    ['tree', 'flower', 'rose', 'mountain', 'rock', 'cloud'],
    ['trees', 'flowers', 'roses', 'mountains', 'rocks', 'clouds'],
    ['hat', 'shirt', 'dress', 'jacket', 'scarf', 'helmet'],
    ['house', 'building', 'castle', 'tower', 'bridge', 'church'],
  ],
  direction: [
    ['up', 'down'], ['upward', 'downward'], ['upwards', 'downwards'], ['forward', 'backward'], ['forwards', 'backwards'],
    ['clockwise', 'counterclockwise|counter-clockwise|anticlockwise|anti-clockwise'],
    ['north', 'south'], ['east', 'west'], ['horizontal', 'vertical'], ['horizontally', 'vertically'], ['inward', 'outward'],
  ],
  action: [
    ['add', 'remove|delete'], ['adding', 'removing|deleting'], ['increase', 'decrease|reduce'], ['brighten', 'darken'], ['enlarge', 'shrink'],
    ['open', 'close'], ['widen', 'narrow'], ['lengthen', 'shorten'], ['show', 'hide'], ['appear', 'disappear'],
    ['bigger|larger', 'smaller'], ['brighter|lighter', 'darker'], ['taller', 'shorter'], ['older', 'younger'],
  ],
};

interface WordEntry { attribute: NegativeAttribute; group: readonly string[]; cls: number }

// lower-case spelling → where it lives. Built once; a spelling in two places is a bug in the lists.
const LOOKUP = new Map<string, WordEntry>();
for (const attribute of NEGATIVE_ATTRIBUTES) {
  for (const group of WORDS[attribute]) {
    group.forEach((cls, i) => {
      for (const spelling of cls.split('|')) {
        if (LOOKUP.has(spelling)) throw new Error(`negatives: '${spelling}' is listed twice`);
        LOOKUP.set(spelling, { attribute, group, cls: i });
      }
    });
  }
}

/** The word lists, by attribute: groups of classes, each class its spellings (the first is written). */
export const NEGATIVE_WORDS: Readonly<Record<NegativeAttribute, readonly (readonly string[])[][]>> = Object.freeze(
  Object.fromEntries(NEGATIVE_ATTRIBUTES.map((a) => [a, WORDS[a].map((g) => g.map((c) => c.split('|')))])) as Record<NegativeAttribute, string[][][]>,
);

/** Tokens as the generator sees them: digit runs, and words (hyphenated words as one token). */
export const TOKEN_PATTERN = /\d+|[A-Za-z]+(?:-[A-Za-z]+)*/g;

export interface NegativeOptions {
  /** Seed of the choices (default 0): the same (instruction, options) always give the same negatives. */
  seed?: number;
  /**
   * How many distinct negatives to return (default 1). Fewer come back when the instruction allows
   * fewer distinct one-word changes; never zero (see the negation fallback).
   */
  count?: number;
  /** Attributes that may be changed (default all of NEGATIVE_ATTRIBUTES). */
  attributes?: readonly NegativeAttribute[];
}

/** One generated negative and what was changed. */
export interface NegativeEdit {
  text: string;
  /** The attribute changed; 'negation' when no listed word was found (see makeNegatives). */
  attribute: NegativeAttribute | 'negation';
  /** The word replaced, as written in the instruction ('' for a negation). */
  from: string;
  /** The word written instead (for a negation: 'do not', or '' when a leading "do not" was removed). */
  to: string;
}

/** The replacement written with the original's case: "Red" → "Blue", "RED" → "BLUE". */
function matchCase(original: string, word: string): string {
  if (original.length > 1 && original === original.toUpperCase() && original !== original.toLowerCase()) return word.toUpperCase();
  if (original[0] !== original[0].toLowerCase()) return word[0].toUpperCase() + word.slice(1);
  return word;
}

/** Numbers other than n: 1..10 for small n, else double and half (a count change of the same form). */
function otherNumbers(n: number): number[] {
  if (n <= 10) return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter((v) => v !== n);
  return [n * 2, Math.floor(n / 2)];
}

interface Site { start: number; end: number; word: string; attribute: NegativeAttribute; replacements: string[] }

/** Every place in the text where one listed word (or a number) can be changed, with its replacements. */
function findSites(text: string, allowed: ReadonlySet<NegativeAttribute>): Site[] {
  const sites: Site[] = [];
  const add = (word: string, start: number) => {
    let attribute: NegativeAttribute;
    let replacements: string[];
    if (/^\d+$/.test(word)) {
      attribute = 'count';
      replacements = otherNumbers(Number(word)).map(String);
    } else {
      const entry = LOOKUP.get(word.toLowerCase());
      if (!entry) return false;
      attribute = entry.attribute;
      replacements = entry.group.filter((_, i) => i !== entry.cls).map((c) => matchCase(word, c.split('|')[0]));
    }
    if (allowed.has(attribute)) sites.push({ start, end: start + word.length, word, attribute, replacements });
    return true;
  };
  for (const m of text.matchAll(TOKEN_PATTERN)) {
    const token = m[0];
    if (add(token, m.index!) || !token.includes('-')) continue;
    // "blue-green", "left-hand": the parts of a hyphenated word that is not itself listed
    let offset = m.index!;
    for (const part of token.split('-')) {
      add(part, offset);
      offset += part.length + 1;
    }
  }
  return sites;
}

const LEADING_NEGATION = /^\s*(do not|don't|never)\s+/i;

/** The fallback when no listed word occurs: "Make it stormy" → "Do not make it stormy" (and back). */
function negation(instruction: string): NegativeEdit {
  const m = LEADING_NEGATION.exec(instruction);
  const rest = m ? instruction.slice(m[0].length) : '';
  if (m && rest.trim() !== '') {
    return { text: matchCase(m[1][0], rest[0]) + rest.slice(1), attribute: 'negation', from: '', to: '' };
  }
  const body = instruction.trimStart();
  const capital = body[0] !== body[0].toLowerCase();
  // "Make it …" → "Do not make it …", but an acronym keeps its case ("NASA …" → "Do not NASA …")
  const acronym = body.length > 1 && body[1] !== body[1].toLowerCase();
  const lowered = capital && !acronym ? body[0].toLowerCase() + body.slice(1) : body;
  return { text: `${capital ? 'Do not' : 'do not'} ${lowered}`, attribute: 'negation', from: '', to: 'do not' };
}

/**
 * Negatives with what each one changed. Choice: an attribute uniformly among those present, then a
 * place of that attribute, then a replacement; repeated without replacement for `count` distinct
 * negatives. Instructions with no listed word get one negation ("do not …", or a leading "do not"
 * removed).
 */
export function negativeEdits(instruction: string, options: NegativeOptions = {}): NegativeEdit[] {
  const op = 'makeNegatives';
  checkOptions(options, ['seed', 'count', 'attributes'], op);
  if (typeof instruction !== 'string' || instruction.trim() === '') {
    throw new TypeError(`${op}: instruction must be a non-empty string, got ${typeof instruction === 'string' ? 'an empty one' : typeof instruction}`);
  }
  const seed = options.seed === undefined ? 0 : integer(options.seed, op, 'seed', 0);
  const count = options.count === undefined ? 1 : integer(options.count, op, 'count', 1);
  const attributes = options.attributes ?? NEGATIVE_ATTRIBUTES;
  for (const a of attributes) {
    if (!NEGATIVE_ATTRIBUTES.includes(a)) throw new RangeError(`${op}: unknown attribute '${String(a)}' (expected ${NEGATIVE_ATTRIBUTES.join(', ')})`);
  }
  const sites = findSites(instruction, new Set(attributes));
  if (sites.length === 0) return [negation(instruction)];

  // Keyed by the instruction too, so one seed does not make every instruction pick the same slot.
  const rng = new Rng(seed, ...Array.from(instruction.slice(0, 64), (c) => c.charCodeAt(0)));
  // pool: per attribute, per site, the replacements not yet used
  const pool = new Map<NegativeAttribute, { site: Site; left: string[] }[]>();
  for (const site of sites) {
    const list = pool.get(site.attribute) ?? [];
    list.push({ site, left: site.replacements.slice() });
    pool.set(site.attribute, list);
  }
  const out: NegativeEdit[] = [];
  while (out.length < count && pool.size > 0) {
    const attrs = [...pool.keys()];
    const attribute = attrs[rng.int(attrs.length)];
    const list = pool.get(attribute)!;
    const si = rng.int(list.length);
    const { site, left } = list[si];
    const to = left.splice(rng.int(left.length), 1)[0];
    if (left.length === 0) list.splice(si, 1);
    if (list.length === 0) pool.delete(attribute);
    out.push({ text: instruction.slice(0, site.start) + to + instruction.slice(site.end), attribute, from: site.word, to });
  }
  return out;
}

/**
 * Negative instructions for a record without its own: each changes exactly one attribute word of
 * `instruction` (colour, count, position, object, direction, action/size) using fixed word lists,
 * deterministic under `seed`. Never returns the instruction itself. See negativeEdits for details.
 */
export function makeNegatives(instruction: string, options: NegativeOptions = {}): string[] {
  return negativeEdits(instruction, options).map((e) => e.text);
}
