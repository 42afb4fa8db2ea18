/**
 * The head: samples appended since the last flush, in arrival order, in shared typed arrays
 * (the flush worker reads them without a copy). Each sample links to the previous sample of its
 * series, so a query walks one series without scanning the rest.
 */
export class Head {
  /** The write-ahead log segments whose records this head holds. */
  readonly segments: number[];
  readonly capacity: number;
  readonly sid: Uint32Array;
  readonly ts: Float64Array;
  readonly vs: Float64Array;
  readonly prev: Int32Array;
  #lastOf: Int32Array;
  n = 0;
  minTs = Number.POSITIVE_INFINITY;
  maxTs = Number.NEGATIVE_INFINITY;
  readonly createdMs: number;
  /** Series defined before this head was frozen; a flush logs them first. */
  seriesAtFreeze = 0;
  /** The dedupe state once every report of this head is durable. */
  seqsAtFreeze: Map<string, number> | undefined;

  constructor(capacity: number, segments: number[], createdMs: number, seriesHint = 1024) {
    this.capacity = capacity;
    this.segments = segments;
    this.createdMs = createdMs;
    this.sid = new Uint32Array(new SharedArrayBuffer(capacity * 4));
    this.ts = new Float64Array(new SharedArrayBuffer(capacity * 8));
    this.vs = new Float64Array(new SharedArrayBuffer(capacity * 8));
    this.prev = new Int32Array(capacity);
    this.#lastOf = new Int32Array(Math.max(1024, seriesHint)).fill(-1);
  }

  get free(): number {
    return this.capacity - this.n;
  }

  append(id: number, t: number, v: number): void {
    const i = this.n++;
    this.sid[i] = id;
    this.ts[i] = t;
    this.vs[i] = v;
    if (id >= this.#lastOf.length) {
      let size = this.#lastOf.length * 2;
      while (size <= id) size *= 2;
      const next = new Int32Array(size).fill(-1);
      next.set(this.#lastOf);
      this.#lastOf = next;
    }
    this.prev[i] = this.#lastOf[id] as number;
    this.#lastOf[id] = i;
    if (t < this.minTs) this.minTs = t;
    if (t > this.maxTs) this.maxTs = t;
  }

  /** Calls `fn` for each sample of series `id` in [from, to], newest first. */
  forEach(id: number, from: number, to: number, fn: (t: number, v: number) => void): void {
    if (id >= this.#lastOf.length || this.n === 0 || to < this.minTs || from > this.maxTs) return;
    for (let i = this.#lastOf[id] as number; i >= 0; i = this.prev[i] as number) {
      const t = this.ts[i] as number;
      if (t >= from && t <= to) fn(t, this.vs[i] as number);
    }
  }

  has(id: number): boolean {
    return id < this.#lastOf.length && (this.#lastOf[id] as number) >= 0;
  }
}
