// A small seeded PRNG for the data pipeline. Every random choice there (epoch order, crop, flip,
// negative instruction) is drawn from a generator keyed by a tuple such as (seed, epoch, index,
// stream), never from a generator that advances across records, so a choice is a pure function of
// its key: a resumed run, a different prefetch depth or a skipped record elsewhere cannot shift it.
// The numbers are plain 32-bit integer arithmetic, the same on every platform and Node version.

/** A 32-bit avalanche mix (the finaliser of MurmurHash3 with better constants, "lowbias32"). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkKey(k: number): void {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`rng: keys must be non-negative safe integers, got ${k}`);
}

/** Hashes a tuple of non-negative safe integers to 32 bits (both 32-bit halves of each key count). */
export function hashKeys(...keys: number[]): number {
  let h = 0x243f6a88;
  for (const k of keys) {
    checkKey(k);
    h = mix32(h ^ (k >>> 0));
    h = mix32((h + 0x9e3779b9) ^ Math.floor(k / 0x100000000));
  }
  return mix32(h ^ keys.length);
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes PractRand)
 * seeded from a key tuple.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...keys: number[]) {
    const h = hashKeys(...keys);
    this.a = mix32(h ^ 0x1);
    this.b = mix32(h ^ 0x2);
    this.c = mix32(h ^ 0x3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32(); // warm up: decorrelate nearby keys
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
