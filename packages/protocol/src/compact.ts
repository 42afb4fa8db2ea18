/**
 * The compact sample encoding of one agent stream (CompactBatch in agent.proto, docs/transport.md).
 * Both ends keep a table for the life of one gRPC stream: a series' name and labels are sent the
 * first time the stream carries it and get the next id; after that a sample is its id (or nothing,
 * when a report has the same series in the same order as the one before) and its value as the
 * difference from the series' previous value. A value is sent as an integer over 10^k for the
 * smallest k where that gives back the exact double (a counter of 1234.56 CPU seconds is 123456
 * at k = 2, and the next report sends only the few hundredths it grew by); any other value
 * (NaN, infinities, -0, values with more digits) is sent as it is. Encoder and decoder must see
 * the same batches in the same order: a stream that loses one starts again with empty tables.
 */
import { gzipSync } from 'node:zlib';
import { PayloadError, seal } from './codec.ts';
import { CompactBatch, PayloadEncoding } from './gen/falconet/v1/agent.ts';
import { type Labels, type Sample, setOwn } from './sample.ts';

/** The scale byte of a value sent as a raw double. */
const RAW = 255;
/** The largest decimal scale tried. */
const MAX_SCALE = 9;
const POW10 = Array.from({ length: MAX_SCALE + 1 }, (_, k) => 10 ** k);

/** The value's scaled integer at `k`, or undefined when it does not give the value back exactly. */
function scaledAt(value: number, k: number): number | undefined {
  const n = Math.round(value * (POW10[k] as number));
  return Number.isSafeInteger(n) && n / (POW10[k] as number) === value && !Object.is(value, -0) ? n : undefined;
}

/** The previous value of a series at scale `k`, the base its delta is taken from (0 without one). */
function baseAt(previous: number, k: number): number {
  if (!Number.isFinite(previous)) return 0;
  const n = Math.round(previous * (POW10[k] as number));
  return Number.isSafeInteger(n) ? n : 0;
}

function keyOf(name: string, labels: Labels): string {
  let key = name;
  for (const k in labels) key += `\u0000${k}\u0001${labels[k]}`;
  return key;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The sending end of one stream's table. */
export class CompactEncoder {
  readonly #maxSeries: number;
  readonly #ids = new Map<string, number>();
  #previous: number[] = [];
  #lastIds: number[] = [];

  /**
   * `maxSeries`: past this many series the table starts again empty (and the next batch says so),
   * so series that come and go (containers, processes) do not grow it for the life of a stream.
   */
  constructor(maxSeries = 50_000) {
    this.#maxSeries = maxSeries;
  }

  /** How many series the table holds. */
  get size(): number {
    return this.#ids.size;
  }

  encode(samples: readonly Sample[]): CompactBatch {
    const reset = this.#ids.size > this.#maxSeries;
    if (reset) {
      this.#ids.clear();
      this.#previous = [];
      this.#lastIds = [];
    }
    const tableSize = this.#ids.size;
    const newSeries: CompactBatch['newSeries'] = [];
    const ids: number[] = new Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i] as Sample;
      const key = keyOf(s.name, s.labels);
      let id = this.#ids.get(key);
      if (id === undefined) {
        id = this.#ids.size;
        this.#ids.set(key, id);
        this.#previous.push(Number.NaN);
        newSeries.push({ name: s.name, labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })) });
      }
      ids[i] = id;
    }
    const same = samples.length > 0 && sameIds(ids, this.#lastIds);
    this.#lastIds = ids;

    let timestampMs = samples[0]?.timestampMs ?? 0;
    let timestampDeltas: number[] = [];
    if (samples.some((s) => s.timestampMs !== timestampMs)) {
      timestampDeltas = samples.map((s) => s.timestampMs - timestampMs);
      // Times further apart than 2^53 ms do not differ by a safe integer: each goes whole instead.
      if (!timestampDeltas.every(Number.isSafeInteger)) {
        timestampMs = 0;
        timestampDeltas = samples.map((s) => s.timestampMs);
      }
    }

    const scales = Buffer.alloc(samples.length);
    const deltas: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < samples.length; i++) {
      const value = (samples[i] as Sample).value;
      const id = ids[i] as number;
      let k = 0;
      let n: number | undefined;
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) n = value;
      else if (Number.isFinite(value)) {
        for (; k <= MAX_SCALE; k++) {
          n = scaledAt(value, k);
          if (n !== undefined) break;
        }
      }
      const delta = n === undefined ? undefined : n - baseAt(this.#previous[id] as number, k);
      if (delta === undefined || !Number.isSafeInteger(delta)) {
        scales[i] = RAW;
        raw.push(value);
      } else {
        scales[i] = k;
        deltas.push(delta);
      }
      this.#previous[id] = value;
    }
    return { tableSize, newSeries, ids: same ? [] : ids, sameIds: same, timestampMs, timestampDeltas, scales, deltas, raw, reset };
  }

  /** The batch's protobuf bytes, gzipped, and sealed when a key is given, as a report payload. */
  payload(samples: readonly Sample[], opts: { key?: Buffer | undefined; aad?: Buffer | undefined } = {}) {
    const gz = gzipSync(CompactBatch.encode(this.encode(samples)).finish());
    return opts.key
      ? { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM, payload: seal(gz, opts.key, opts.aad) }
      : { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload: gz };
  }
}

/** The receiving end of one stream's table. Every error is a PayloadError naming what was wrong. */
/** A series as a decoder's table holds it; its labels object is shared by every sample of it. */
export interface SeriesDefinition {
  name: string;
  labels: Labels;
}

/**
 * Series definitions shared by the decoders of many streams: alike hosts define the same names and
 * labels, and one copy serves every stream's table. Bounded: past `maxEntries` distinct definitions,
 * a new one is kept as its stream decoded it. The labels objects are shared: not to be changed.
 */
export class SharedDefinitions {
  readonly #maxEntries: number;
  readonly #known = new Map<string, SeriesDefinition>();

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#known.size;
  }

  of(def: CompactBatch['newSeries'][number]): SeriesDefinition {
    let key = def.name;
    for (const l of def.labels) key += `\0${l.name}\x01${l.value}`;
    const known = this.#known.get(key);
    if (known) return known;
    const made = decodeDefinition(def);
    if (this.#known.size < this.#maxEntries) this.#known.set(key, made);
    return made;
  }
}

function decodeDefinition(def: CompactBatch['newSeries'][number]): SeriesDefinition {
  const labels: Record<string, string> = {};
  for (const l of def.labels) setOwn(labels, l.name, l.value);
  return { name: def.name, labels };
}

export class CompactDecoder {
  readonly #maxSeries: number;
  readonly #shared: SharedDefinitions | undefined;
  readonly #series: SeriesDefinition[] = [];
  #previous: number[] = [];
  #lastIds: number[] = [];

  /**
   * `maxSeries`: the most series one stream may define (a bound on the table's memory); `shared`:
   * definitions other streams' decoders share, so alike hosts' tables hold one copy of them.
   */
  constructor(maxSeries = 1_000_000, shared?: SharedDefinitions) {
    this.#maxSeries = maxSeries;
    this.#shared = shared;
  }

  get size(): number {
    return this.#series.length;
  }

  /** Decodes one batch's protobuf bytes (already unwrapped) into samples, updating the table. */
  decodeBytes(bytes: Uint8Array): Sample[] {
    let batch: CompactBatch;
    try {
      batch = CompactBatch.decode(bytes);
    } catch (err) {
      throw new PayloadError(`malformed compact batch: ${(err as Error).message}`);
    }
    return this.decode(batch);
  }

  decode(batch: CompactBatch): Sample[] {
    if (batch.reset) {
      this.#series.length = 0;
      this.#previous = [];
      this.#lastIds = [];
    }
    if (batch.tableSize !== this.#series.length) {
      throw new PayloadError(`compact batch expects a table of ${batch.tableSize} series; this stream's holds ${this.#series.length}`);
    }
    if (this.#series.length + batch.newSeries.length > this.#maxSeries) {
      throw new PayloadError(`compact batch defines more than ${this.#maxSeries} series on one stream`);
    }
    for (const def of batch.newSeries) {
      this.#series.push(this.#shared ? this.#shared.of(def) : decodeDefinition(def));
      this.#previous.push(Number.NaN);
    }
    const ids = batch.sameIds ? this.#lastIds : batch.ids;
    const count = ids.length;
    if (batch.scales.length !== count) throw new PayloadError(`compact batch has ${count} samples but ${batch.scales.length} scales`);
    if (batch.timestampDeltas.length !== 0 && batch.timestampDeltas.length !== count) {
      throw new PayloadError(`compact batch has ${count} samples but ${batch.timestampDeltas.length} timestamp deltas`);
    }
    const out: Sample[] = new Array(count);
    let d = 0;
    let r = 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i] as number;
      const series = this.#series[id];
      if (series === undefined)
        throw new PayloadError(`compact batch sample ${i} names series ${id}; the table holds ${this.#series.length}`);
      const k = batch.scales[i] as number;
      let value: number;
      if (k === RAW) {
        if (r >= batch.raw.length) throw new PayloadError(`compact batch runs out of raw values at sample ${i}`);
        value = batch.raw[r++] as number;
      } else if (k <= MAX_SCALE) {
        if (d >= batch.deltas.length) throw new PayloadError(`compact batch runs out of deltas at sample ${i}`);
        value = (baseAt(this.#previous[id] as number, k) + (batch.deltas[d++] as number)) / (POW10[k] as number);
      } else {
        throw new PayloadError(`compact batch sample ${i} has scale ${k}; scales are 0-${MAX_SCALE} or ${RAW}`);
      }
      this.#previous[id] = value;
      const timestampMs = batch.timestampMs + (batch.timestampDeltas.length ? (batch.timestampDeltas[i] as number) : 0);
      out[i] = { name: series.name, labels: series.labels, value, timestampMs };
    }
    if (d !== batch.deltas.length || r !== batch.raw.length) throw new PayloadError('compact batch holds more values than samples');
    this.#lastIds = ids;
    return out;
  }
}
