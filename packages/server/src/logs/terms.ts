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

const HASHES = 7;
/** About 10 bits per distinct word with 7 hashes: under 1 % false positives. */
const BITS_PER_WORD = 10;

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
    const m = Math.max(64, Math.ceil((count * BITS_PER_WORD) / 8) * 8);
    const f = new WordFilter(new Uint8Array(m / 8));
    for (const w of distinct) f.#add(w);
    return f;
  }

  #positions(w: string): number[] {
    const m = this.bits.length * 8;
    const h1 = fnv(w, 0);
    const h2 = fnv(w, 0x5bd1e995) | 1;
    const out: number[] = [];
    for (let i = 0; i < HASHES; i++) out.push(((h1 + Math.imul(i, h2)) >>> 0) % m);
    return out;
  }

  #add(w: string): void {
    for (const p of this.#positions(w)) this.bits[p >> 3] = (this.bits[p >> 3] as number) | (1 << (p & 7));
  }

  mayHave(w: string): boolean {
    for (const p of this.#positions(w)) if (((this.bits[p >> 3] as number) & (1 << (p & 7))) === 0) return false;
    return true;
  }
}
