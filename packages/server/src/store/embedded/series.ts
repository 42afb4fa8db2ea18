/**
 * The series dictionary: (agent, name, labels) <-> a dense uint32 id, with a name ordinal per
 * series so parts can cluster every agent's copy of one metric together (a fleet query reads
 * one contiguous range per part). Persisted as an append-only log of definitions.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { IdList, type IndexedSeries, SeriesPostings } from '../postings.ts';
import { parseLocalKey } from '../series-key.ts';
import type { StoreLog } from '../types.ts';

function nameOfKey(key: string): string {
  const i = key.indexOf('\0');
  return i < 0 ? key : key.slice(0, i);
}

/** A distinct (name, labels) pair: alike hosts share one key string and one labels object. */
interface SeriesShape {
  key: string;
  labels: Readonly<Record<string, string>>;
  /** The name's ordinal. */
  name: number;
}

export interface SeriesDictionaryOptions {
  /** Live series past which `admit` refuses new ones (store.max_series); 0 = no bound. */
  maxSeries?: number;
  log?: StoreLog;
}

/** A Uint32Array at least `size` long holding `a`'s first `used` entries (doubling, so appends are cheap). */
function grown(a: Uint32Array<ArrayBuffer>, size: number, used: number): Uint32Array<ArrayBuffer> {
  if (size <= a.length) return a;
  let length = Math.max(1024, a.length);
  while (length < size) length *= 2;
  const next = new Uint32Array(length);
  next.set(a.subarray(0, used));
  return next;
}

/**
 * Per series only numbers, in typed arrays: the agent's and the shape's index, the name's ordinal,
 * and an entry in its agent's table from shape to id. Millions of series are then a few dozen bytes
 * each and a handful of objects for the collector to trace, where a Map entry and array cells per
 * series made every full collection walk millions of them (docs/adr/0004-server-memory.md).
 */
export class SeriesDictionary implements IndexedSeries {
  readonly #maxSeries: number;
  readonly #log: StoreLog | undefined;
  /** Whether the bound was reached and has not cleared since (one log line each way). */
  #full = false;
  /** Samples refused because their series would have been new past the bound. */
  refusedSamples = 0;
  /** Each distinct key once, and each agent id once (ids come in a new string per report or log record). */
  readonly #shapes: SeriesShape[] = [];
  readonly #shapeIndex = new Map<string, number>();
  readonly #agents: string[] = [];
  readonly #agentIndex = new Map<string, number>();
  readonly #labelSets = new Map<string, Readonly<Record<string, string>>>();
  /** The cross-host index of live series by label (deleted ones stay listed; lookups skip them). */
  readonly postings = new SeriesPostings();
  /** Per id: its agent's index, its shape's index, its name's ordinal. */
  #agentOf = new Uint32Array(1024);
  #shapeOf = new Uint32Array(1024);
  #nameOrd = new Uint32Array(1024);
  #size = 0;
  /** Each agent's live series by shape, by agent index: a report's lookups stay in one small table. */
  readonly #tables: ShapeTable[] = [];
  /** Each agent's ids in the order defined (ascending), by agent index; deleted ones taken out. */
  readonly #ofAgent: IdList[] = [];
  /** The agent of the last lookup: a report asks for one agent's series hundreds of times in a row. */
  #lastAgent = '';
  #lastAgentIndex = -1;
  readonly #names: string[] = [];
  readonly #nameIds = new Map<string, number>();
  /** Live series per name ordinal, so names() lists only names something still has. */
  #liveOfName = new Uint32Array(64);
  /** Definitions [0, logged) are in the log file. */
  #logged = 0;
  /** Per forgotten agent, the id bound below which its series are deleted (the manifest's tombstones). */
  readonly #forgotten = new Map<string, number>();
  /** Ids of deleted series: no lookup finds them; flushes and merges leave their rows out. */
  readonly dead = new Set<number>();

  constructor(opts: SeriesDictionaryOptions = {}) {
    this.#maxSeries = opts.maxSeries ?? 0;
    this.#log = opts.log;
  }

  /** The bound on live series, 0 when there is none. */
  get maxSeries(): number {
    return this.#maxSeries;
  }

  /**
   * Whether a new series may be defined: false once `maxSeries` series are live. The first refusal
   * logs once; the line that it cleared comes when series are deleted below the bound.
   */
  admit(): boolean {
    if (this.#maxSeries === 0 || this.live < this.#maxSeries) {
      this.#clearIfBelow();
      return true;
    }
    if (!this.#full) {
      this.#full = true;
      this.#log?.warn(
        { series: this.live, maxSeries: this.#maxSeries },
        'store reached store.max_series: samples of new series are refused (series it has are still written) until series are deleted or the bound is raised',
      );
    }
    return false;
  }

  #clearIfBelow(): void {
    if (!this.#full || this.live >= this.#maxSeries) return;
    this.#full = false;
    this.#log?.info({ series: this.live, maxSeries: this.#maxSeries }, 'store is below store.max_series again: new series are taken');
  }

  /** Ids handed out, deleted ones included (ids are dense). */
  get size(): number {
    return this.#size;
  }

  /** Series not deleted. */
  get live(): number {
    return this.#size - this.dead.size;
  }

  /** The tombstones read from the manifest, before `load`: definitions below an agent's bound are dead at once. */
  setForgotten(forgotten: Record<string, number>): void {
    for (const [agent, bound] of Object.entries(forgotten)) this.#forgotten.set(agent, bound);
  }

  /**
   * Deletes every series of the agent with an id below `bound`: lookups, names and queries stop
   * finding them at once; a later sample of the same metric defines a new series.
   */
  forget(agentId: string, bound: number): number {
    this.#forgotten.set(agentId, Math.max(bound, this.#forgotten.get(agentId) ?? 0));
    const a = this.#agentIndex.get(agentId);
    const mine = a === undefined ? undefined : this.#ofAgent[a];
    if (!mine) return 0;
    let n = 0;
    mine.retain((id) => {
      if (id >= bound) return true;
      this.#kill(id);
      n++;
      return false;
    });
    // What is left (ids at or past the bound) goes into a fresh table.
    const table = new ShapeTable(mine.length);
    for (const id of mine.view()) table.set(this.#shapeOf[id] as number, id);
    this.#tables[a as number] = table;
    this.#clearIfBelow();
    return n;
  }

  #kill(id: number): void {
    this.dead.add(id);
    const ord = this.#nameOrd[id] as number;
    this.#liveOfName[ord] = (this.#liveOfName[ord] as number) - 1;
  }

  get(agentId: string, key: string): number | undefined {
    let a = this.#lastAgentIndex;
    if (agentId !== this.#lastAgent) {
      a = this.#agentIndex.get(agentId) ?? -1;
      this.#lastAgent = agentId;
      this.#lastAgentIndex = a;
    }
    if (a < 0) return undefined;
    const s = this.#shapeIndex.get(key);
    if (s === undefined) return undefined;
    const id = (this.#tables[a] as ShapeTable).get(s);
    return id < 0 ? undefined : id;
  }

  /** Adds a definition; ids are dense, so `id` must be the next one. */
  define(id: number, agentIdIn: string, keyIn: string): void {
    if (id !== this.#size) throw new Error(`series ${id} defined out of order (expected ${this.#size})`);
    const a = this.#agentInstance(agentIdIn);
    const s = this.#shapeInstance(keyIn);
    const shape = this.#shapes[s] as SeriesShape;
    this.#agentOf = grown(this.#agentOf, id + 1, id);
    this.#shapeOf = grown(this.#shapeOf, id + 1, id);
    this.#nameOrd = grown(this.#nameOrd, id + 1, id);
    this.#agentOf[id] = a;
    this.#shapeOf[id] = s;
    this.#nameOrd[id] = shape.name;
    this.#size = id + 1;
    if (id < (this.#forgotten.get(agentIdIn) ?? 0)) {
      // Deleted before this restart: keeps its id (ids are dense) and nothing else.
      this.dead.add(id);
      return;
    }
    this.#liveOfName[shape.name] = (this.#liveOfName[shape.name] as number) + 1;
    (this.#ofAgent[a] as IdList).push(id);
    (this.#tables[a] as ShapeTable).set(s, id);
    this.postings.add(id, this.#names[shape.name] as string, shape.labels);
  }

  #agentInstance(agentId: string): number {
    const known = this.#agentIndex.get(agentId);
    if (known !== undefined) return known;
    const a = this.#agents.length;
    this.#agents.push(agentId);
    this.#agentIndex.set(agentId, a);
    this.#ofAgent.push(new IdList());
    this.#tables.push(new ShapeTable());
    // A new agent may reuse a string the last lookup missed with.
    this.#lastAgent = '';
    return a;
  }

  #shapeInstance(key: string): number {
    const known = this.#shapeIndex.get(key);
    if (known !== undefined) return known;
    // One labels object per distinct label set, whatever the metric: {device="sda"} serves every disk metric.
    const at = key.indexOf('\0');
    const set = at < 0 ? '' : key.slice(at);
    let labels = this.#labelSets.get(set);
    if (!labels) {
      labels = Object.freeze(parseLocalKey(set).labels);
      this.#labelSets.set(set, labels);
    }
    // A key built by concatenation is a tree of pieces until read whole; slicing flattened it.
    const s = this.#shapes.length;
    this.#shapes.push({ key, labels, name: this.#ordinal(nameOfKey(key)) });
    this.#shapeIndex.set(key, s);
    return s;
  }

  #ordinal(name: string): number {
    let ord = this.#nameIds.get(name);
    if (ord === undefined) {
      ord = this.#names.length;
      this.#names.push(name);
      this.#nameIds.set(name, ord);
      this.#liveOfName = grown(this.#liveOfName, ord + 1, ord);
    }
    return ord;
  }

  /** Ordering key of a series inside a part: name ordinal, then id. */
  sortKey(id: number): number {
    return (this.#nameOrd[id] as number) * 2 ** 32 + id;
  }

  nameOrdinal(name: string): number | undefined {
    return this.#nameIds.get(name);
  }

  /** A copy of the name ordinals of every series, for the flush worker. */
  nameOrdinals(): Uint32Array {
    return this.#nameOrd.slice(0, this.#size);
  }

  /** Series of one metric: of one agent, of some agents, or of all; ascending per agent. */
  ofName(name: string, agentIds?: readonly string[]): number[] {
    const ord = this.#nameIds.get(name);
    if (ord === undefined || this.#liveOfName[ord] === 0) return [];
    const out: number[] = [];
    if (!agentIds) {
      for (const id of this.postings.get('__name__', name)) if (!this.dead.has(id)) out.push(id);
      return out;
    }
    for (const agentId of agentIds) {
      const a = this.#agentIndex.get(agentId);
      if (a === undefined) continue;
      for (const id of (this.#ofAgent[a] as IdList).view()) if (this.#nameOrd[id] === ord) out.push(id);
    }
    return out;
  }

  names(agentId?: string): string[] {
    const out: string[] = [];
    if (!agentId) {
      for (let ord = 0; ord < this.#names.length; ord++) if ((this.#liveOfName[ord] as number) > 0) out.push(this.#names[ord] as string);
      return out.sort();
    }
    const a = this.#agentIndex.get(agentId);
    if (a === undefined) return out;
    const seen = new Set<number>();
    for (const id of (this.#ofAgent[a] as IdList).view()) seen.add(this.#nameOrd[id] as number);
    for (const ord of seen) out.push(this.#names[ord] as string);
    return out.sort();
  }

  /** The series' key: its name and labels, as the series log holds it. */
  keyOf(id: number): string {
    return (this.#shapes[this.#shapeOf[id] as number] as SeriesShape).key;
  }

  labelsOf(id: number): Record<string, string> {
    return { ...this.labelsView(id) };
  }

  // --- IndexedSeries, for selection across hosts (../postings.ts) ---

  allIds(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.#size; id++) if (!this.dead.has(id)) out.push(id);
    return out;
  }

  idsOfAgent(agentId: string): Uint32Array {
    const a = this.#agentIndex.get(agentId);
    return a === undefined ? new Uint32Array(0) : (this.#ofAgent[a] as IdList).view().slice();
  }

  isLive(id: number): boolean {
    return id < this.#size && !this.dead.has(id);
  }

  agentOfId(id: number): string {
    return this.#agents[this.#agentOf[id] as number] as string;
  }

  nameOf(id: number): string {
    return this.#names[this.#nameOrd[id] as number] as string;
  }

  labelsView(id: number): Readonly<Record<string, string>> {
    return (this.#shapes[this.#shapeOf[id] as number] as SeriesShape).labels;
  }

  // --- the log file: records [u32 length][u32 crc32][u32 id][u16 agent length][agent][key] ---

  /** Loads definitions from the log, up to `validBytes`; returns the bytes read. */
  load(file: string, validBytes: number): void {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && validBytes === 0) return;
      throw new Error(`series log ${file}: ${(err as Error).message}`);
    }
    if (buf.length < validBytes) throw new Error(`series log ${file} is ${buf.length} bytes, the manifest says ${validBytes}`);
    let pos = 0;
    while (pos < validBytes) {
      const len = buf.readUInt32LE(pos);
      const crc = buf.readUInt32LE(pos + 4);
      const body = buf.subarray(pos + 8, pos + 8 + len);
      if (crc32(body) !== crc) throw new Error(`series log ${file}: bad checksum at byte ${pos}`);
      const id = body.readUInt32LE(0);
      const alen = body.readUInt16LE(4);
      const agent = body.toString('utf8', 6, 6 + alen);
      const key = body.toString('utf8', 6 + alen);
      this.define(id, agent, key);
      pos += 8 + len;
    }
    this.#logged = this.#size;
  }

  /** Appends definitions [logged, upTo) to the log and syncs it; returns the log's new length. */
  async appendToLog(file: string, upTo: number, currentBytes: number): Promise<number> {
    const from = this.#logged;
    if (upTo <= from) return currentBytes;
    let bytes = currentBytes;
    const fh = await open(file, 'a', PRIVATE_FILE_MODE);
    try {
      // The log was truncated to `currentBytes` at open, so appends land exactly there. A first flush
      // after a fleet connects defines millions: written in slices, so memory holds one at a time.
      for (let at = from; at < upTo; at += LOG_SLICE) {
        const buf = encodeDefinitions(this, at, Math.min(upTo, at + LOG_SLICE));
        await fh.writeFile(buf);
        bytes += buf.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.#logged = upTo;
    return bytes;
  }
}

/** Definitions encoded into one buffer at a time when appending to the series log. */
const LOG_SLICE = 65_536;

/** Definitions [from, to) as log records, in one buffer. */
function encodeDefinitions(dict: SeriesDictionary, from: number, to: number): Buffer {
  let size = 0;
  for (let id = from; id < to; id++) size += 14 + Buffer.byteLength(dict.agentOfId(id)) + Buffer.byteLength(dict.keyOf(id));
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let id = from; id < to; id++) {
    const body = pos + 8;
    buf.writeUInt32LE(id, body);
    const alen = buf.write(dict.agentOfId(id), body + 6, 'utf8');
    buf.writeUInt16LE(alen, body + 4);
    const klen = buf.write(dict.keyOf(id), body + 6 + alen, 'utf8');
    const len = 6 + alen + klen;
    buf.writeUInt32LE(len, pos);
    buf.writeUInt32LE(crc32(buf.subarray(body, body + len)), pos + 4);
    pos = body + len;
  }
  return buf;
}

/**
 * One agent's series by shape: open addressing with linear probing over (shape + 1, id) pairs in
 * one Int32Array, the key beside its value, so a lookup reads one place of a table a few KB long.
 * Entries are only added; an agent's deletions build a new table.
 */
class ShapeTable {
  #cells: Int32Array;
  #n = 0;

  constructor(expected = 8) {
    let slots = 16;
    while (slots * 3 < expected * 4) slots *= 2;
    this.#cells = new Int32Array(slots * 2);
  }

  /** The id at `shape`, or -1. */
  get(shape: number): number {
    const cells = this.#cells;
    const mask = (cells.length >> 1) - 1;
    for (let i = mix(shape) & mask; ; i = (i + 1) & mask) {
      const k = cells[2 * i] as number;
      if (k === 0) return -1;
      if (k === shape + 1) return cells[2 * i + 1] as number;
    }
  }

  set(shape: number, id: number): void {
    // Up to three quarters full: an agent's few hundred series fit in a table of 1,024 slots (8 KB).
    if ((this.#n + 1) * 4 > (this.#cells.length >> 1) * 3) this.#grow();
    const cells = this.#cells;
    const mask = (cells.length >> 1) - 1;
    let i = mix(shape) & mask;
    while (cells[2 * i] !== 0 && cells[2 * i] !== shape + 1) i = (i + 1) & mask;
    if (cells[2 * i] === 0) this.#n++;
    cells[2 * i] = shape + 1;
    cells[2 * i + 1] = id;
  }

  #grow(): void {
    const old = this.#cells;
    this.#cells = new Int32Array(old.length * 2);
    this.#n = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.set((old[i] as number) - 1, old[i + 1] as number);
  }
}

/** A shape index's bits mixed so that every bit moves the low ones (shapes are small dense numbers). */
function mix(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
