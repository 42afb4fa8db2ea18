/**
 * Words of a message for the term index: lower-cased runs of letters, digits and underscores.
 * Queries tokenise their terms the same way, so a block's filter answers for every word of a term.
 */
const WORD = /[\p{L}\p{N}_]+/gu;
/** Longer runs (hashes, base64) are cut: indexing them whole buys nothing and costs filter bits. */
const MAX_WORD = 64;

export function words(text: string): string[] {
  const lower = text.toLowerCase();
  // Most lines are ASCII: there a word is [a-z0-9_]+, found by a loop over char codes at a fraction of
  // the Unicode pattern's cost (it was the largest part of the server's CPU in the logs bench).
  const ascii = asciiWords(lower);
  if (ascii) return ascii;
  const out: string[] = [];
  for (const m of lower.matchAll(WORD)) out.push(m[0].length > MAX_WORD ? m[0].slice(0, MAX_WORD) : m[0]);
  return out;
}

/** The words of lower-cased ASCII text (what WORD finds in it), or undefined if the text is not ASCII. */
function asciiWords(lower: string): string[] | undefined {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= lower.length; i++) {
    const c = i < lower.length ? lower.charCodeAt(i) : 0;
    if (c > 0x7f) return undefined;
    const inWord = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
    if (inWord) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push(lower.slice(start, Math.min(i, start + MAX_WORD)));
      start = -1;
    }
  }
  return out;
}

/** FNV-1a over UTF-16 code units, with a seed: two of them give the bloom filter's k positions. */
function fnv(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const SEED2 = 0x5bd1e995;
const HASHES = 7;
/** About 10 bits per distinct word with 7 hashes: under 1 % false positives. */
const BITS_PER_WORD = 10;

/**
 * The distinct words of a block's messages as their two hashes, found without making a string per
 * word: the words and the hashes are exactly those of `words()` and `fnv()`, so a filter built from
 * these answers the queries' words as one built from the strings would (and as filters built before).
 */
export class WordHashes {
  #h1: Int32Array;
  /** The second hash, odd, so 0 marks an empty slot. */
  #h2: Int32Array;
  #mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.#h1 = new Int32Array(cap);
    this.#h2 = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  /** Adds the words of one message. */
  addText(text: string): void {
    this.addUtf8(Buffer.from(text, 'utf8'), 0, Buffer.byteLength(text, 'utf8'), text);
  }

  /**
   * Adds the words of one message from its UTF-8 bytes `buf[start, end)`, `text` being the same
   * message as a string. ASCII (most lines) is read as bytes, lower-cased and hashed in one pass:
   * a third faster than over the string's char codes, and the block writer has the bytes already.
   */
  addUtf8(buf: Uint8Array, start: number, end: number, text: string): void {
    const seed1 = 0x811c9dc5 | 0;
    const seed2 = (0x811c9dc5 ^ SEED2) | 0;
    let h1 = seed1;
    let h2 = seed2;
    let len = 0;
    for (let i = start; i < end; i++) {
      let c = buf[i] as number;
      if (c > 0x7f) {
        // Lower-casing outside ASCII can change lengths and word bounds: the Unicode path decides.
        // Words already added ended at ASCII separators, so it finds them again (and they dedupe).
        for (const w of words(text)) this.add(w);
        return;
      }
      if (c >= 65 && c <= 90) c += 32;
      if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95) {
        if (len < MAX_WORD) {
          h1 = Math.imul(h1 ^ c, 0x01000193);
          h2 = Math.imul(h2 ^ c, 0x01000193);
        }
        len++;
      } else if (len > 0) {
        this.#insert(h1, h2 | 1);
        h1 = seed1;
        h2 = seed2;
        len = 0;
      }
    }
    if (len > 0) this.#insert(h1, h2 | 1);
  }

  /** Adds one word (already a word of `words()`). */
  add(w: string): void {
    this.#insert(fnv(w, 0) | 0, fnv(w, SEED2) | 1);
  }

  #insert(h1: number, h2: number): void {
    let i = (h1 ^ (h2 >>> 7)) & this.#mask;
    for (;;) {
      const at = this.#h2[i] as number;
      if (at === 0) break;
      if (at === h2 && this.#h1[i] === h1) return;
      i = (i + 1) & this.#mask;
    }
    this.#h1[i] = h1;
    this.#h2[i] = h2;
    if (++this.size * 2 > this.#mask) this.#grow();
  }

  #grow(): void {
    const h1s = this.#h1;
    const h2s = this.#h2;
    this.#h1 = new Int32Array(h1s.length * 2);
    this.#h2 = new Int32Array(h2s.length * 2);
    this.#mask = this.#h1.length - 1;
    this.size = 0;
    for (let i = 0; i < h2s.length; i++) if (h2s[i] !== 0) this.#insert(h1s[i] as number, h2s[i] as number);
  }

  /** Calls `visit` with each distinct word's two hashes (h1 unsigned, h2 odd). */
  each(visit: (h1: number, h2: number) => void): void {
    for (let i = 0; i <= this.#mask; i++) {
      const h2 = this.#h2[i] as number;
      if (h2 !== 0) visit((this.#h1[i] as number) >>> 0, h2);
    }
  }
}

/**
 * A per-block bloom filter of the words in the block's messages: answers "maybe here" or "surely not",
 * so a term search opens only blocks that may hold every term (docs/adr/0000-log-term-index.md).
 */
export class WordFilter {
  readonly bits: Uint8Array;

  constructor(bits: Uint8Array) {
    this.bits = bits;
  }

  static build(distinct: Iterable<string>, count: number): WordFilter {
    const hashes = new WordHashes(count);
    for (const w of distinct) hashes.add(w);
    return WordFilter.fromHashes(hashes);
  }

  /** The filter of the words collected in `hashes`, sized by their number. */
  static fromHashes(hashes: WordHashes): WordFilter {
    const m = Math.max(64, Math.ceil((hashes.size * BITS_PER_WORD) / 8) * 8);
    const f = new WordFilter(new Uint8Array(m / 8));
    const bits = f.bits;
    hashes.each((h1, h2) => {
      for (let i = 0; i < HASHES; i++) {
        const x = (h1 + Math.imul(i, h2)) >>> 0;
        // x % m without the floating-point remainder V8 calls for numbers past 2^31 (x < 2^32: exact).
        const p = x - Math.floor(x / m) * m;
        bits[p >> 3] = (bits[p >> 3] as number) | (1 << (p & 7));
      }
    });
    return f;
  }

  mayHave(w: string): boolean {
    const m = this.bits.length * 8;
    const h1 = fnv(w, 0);
    const h2 = fnv(w, SEED2) | 1;
    for (let i = 0; i < HASHES; i++) {
      const p = ((h1 + Math.imul(i, h2)) >>> 0) % m;
      if (((this.bits[p >> 3] as number) & (1 << (p & 7))) === 0) return false;
    }
    return true;
  }
}
