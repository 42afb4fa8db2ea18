/**
 * The series dictionary: (agent, name, labels) <-> a dense uint32 id, with a name ordinal per
 * series so parts can cluster every agent's copy of one metric together (a fleet query reads
 * one contiguous range per part). Persisted as an append-only log of definitions.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { type IndexedSeries, SeriesPostings } from '../postings.ts';
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
}

export interface SeriesDictionaryOptions {
  /** Live series past which `admit` refuses new ones (store.max_series); 0 = no bound. */
  maxSeries?: number;
  log?: StoreLog;
}

export class SeriesDictionary implements IndexedSeries {
  readonly #maxSeries: number;
  readonly #log: StoreLog | undefined;
  /** Whether the bound was reached and has not cleared since (one log line each way). */
  #full = false;
  /** Samples refused because their series would have been new past the bound. */
  refusedSamples = 0;
  /** Each distinct key once, and each agent id once (ids come in a new string per report or log record). */
  readonly #shapes = new Map<string, SeriesShape>();
  readonly #agents = new Map<string, string>();
  readonly #labelSets = new Map<string, Readonly<Record<string, string>>>();
  readonly #byAgent = new Map<string, Map<string, number>>();
  /** The cross-host index of live series by label (deleted ones stay listed; lookups skip them). */
  readonly postings = new SeriesPostings();
  /** Each live series' labels, parsed once from its key. */
  readonly #labels: Readonly<Record<string, string>>[] = [];
  /** Series ids by name, then by agent. */
  readonly #byName = new Map<string, Map<string, number[]>>();
  readonly agentOf: string[] = [];
  readonly keyOf: string[] = [];
  #nameOrd = new Uint32Array(1024);
  readonly #names: string[] = [];
  readonly #nameIds = new Map<string, number>();
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
    return this.keyOf.length;
  }

  /** Series not deleted. */
  get live(): number {
    return this.keyOf.length - this.dead.size;
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
    const mine = this.#byAgent.get(agentId);
    if (!mine) return 0;
    let n = 0;
    for (const [key, id] of mine) {
      if (id >= bound) continue;
      mine.delete(key);
      this.#unname(agentId, key, id);
      this.dead.add(id);
      n++;
    }
    if (mine.size === 0) this.#byAgent.delete(agentId);
    this.#clearIfBelow();
    return n;
  }

  #unname(agentId: string, key: string, id: number): void {
    const name = nameOfKey(key);
    const byAgent = this.#byName.get(name);
    const ids = byAgent?.get(agentId)?.filter((x) => x !== id);
    if (!byAgent || !ids) return;
    if (ids.length > 0) byAgent.set(agentId, ids);
    else byAgent.delete(agentId);
    if (byAgent.size === 0) this.#byName.delete(name);
  }

  get(agentId: string, key: string): number | undefined {
    return this.#byAgent.get(agentId)?.get(key);
  }

  /** Adds a definition; ids are dense, so `id` must be the next one. */
  define(id: number, agentIdIn: string, keyIn: string): void {
    if (id !== this.keyOf.length) throw new Error(`series ${id} defined out of order (expected ${this.keyOf.length})`);
    const agentId = this.#agentInstance(agentIdIn);
    const shape = this.#shapeOf(keyIn);
    const key = shape.key;
    if (id < (this.#forgotten.get(agentId) ?? 0)) {
      // Deleted before this restart: keeps its id (ids are dense) and nothing else.
      this.agentOf.push(agentId);
      this.keyOf.push(key);
      this.#ordinal(id, nameOfKey(key));
      this.dead.add(id);
      return;
    }
    let m = this.#byAgent.get(agentId);
    if (!m) {
      m = new Map();
      this.#byAgent.set(agentId, m);
    }
    m.set(key, id);
    this.agentOf.push(agentId);
    this.keyOf.push(key);
    const name = nameOfKey(key);
    this.#ordinal(id, name);
    const labels = shape.labels;
    this.#labels[id] = labels;
    this.postings.add(id, name, labels);
    let byAgent = this.#byName.get(name);
    if (!byAgent) {
      byAgent = new Map();
      this.#byName.set(name, byAgent);
    }
    let ids = byAgent.get(agentId);
    if (!ids) {
      ids = [];
      byAgent.set(agentId, ids);
    }
    ids.push(id);
  }

  #agentInstance(agentId: string): string {
    const known = this.#agents.get(agentId);
    if (known !== undefined) return known;
    this.#agents.set(agentId, agentId);
    return agentId;
  }

  #shapeOf(key: string): SeriesShape {
    let shape = this.#shapes.get(key);
    if (!shape) {
      // One labels object per distinct label set, whatever the metric: {device="sda"} serves every disk metric.
      const at = key.indexOf('\0');
      const set = at < 0 ? '' : key.slice(at);
      let labels = this.#labelSets.get(set);
      if (!labels) {
        labels = Object.freeze(parseLocalKey(set).labels);
        this.#labelSets.set(set, labels);
      }
      // A key built by concatenation is a tree of pieces until read whole; slicing flattened it.
      shape = { key, labels };
      this.#shapes.set(key, shape);
    }
    return shape;
  }

  #ordinal(id: number, name: string): void {
    let ord = this.#nameIds.get(name);
    if (ord === undefined) {
      ord = this.#names.length;
      this.#names.push(name);
      this.#nameIds.set(name, ord);
    }
    if (id >= this.#nameOrd.length) {
      const next = new Uint32Array(this.#nameOrd.length * 2);
      next.set(this.#nameOrd);
      this.#nameOrd = next;
    }
    this.#nameOrd[id] = ord;
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
    return this.#nameOrd.slice(0, this.size);
  }

  /** Series of one metric: of one agent, of some agents, or of all. */
  ofName(name: string, agentIds?: readonly string[]): number[] {
    const byAgent = this.#byName.get(name);
    if (!byAgent) return [];
    if (!agentIds) return [...byAgent.values()].flat();
    const out: number[] = [];
    for (const a of agentIds) for (const id of byAgent.get(a) ?? []) out.push(id);
    return out;
  }

  names(agentId?: string): string[] {
    if (!agentId) return [...this.#byName.keys()].sort();
    return [...this.#byName.entries()]
      .filter(([, m]) => m.has(agentId))
      .map(([n]) => n)
      .sort();
  }

  labelsOf(id: number): Record<string, string> {
    return { ...(this.#labels[id] ?? parseLocalKey(this.keyOf[id] as string).labels) };
  }

  // --- IndexedSeries, for selection across hosts (../postings.ts) ---

  allIds(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.keyOf.length; id++) if (!this.dead.has(id)) out.push(id);
    return out;
  }

  idsOfAgent(agentId: string): number[] {
    const m = this.#byAgent.get(agentId);
    return m ? [...m.values()].sort((a, b) => a - b) : [];
  }

  isLive(id: number): boolean {
    return id < this.keyOf.length && !this.dead.has(id);
  }

  agentOfId(id: number): string {
    return this.agentOf[id] as string;
  }

  nameOf(id: number): string {
    return this.#names[this.#nameOrd[id] as number] as string;
  }

  labelsView(id: number): Readonly<Record<string, string>> {
    return this.#labels[id] ?? parseLocalKey(this.keyOf[id] as string).labels;
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
    this.#logged = this.size;
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
        const buf = encodeDefinitions(this.agentOf, this.keyOf, at, Math.min(upTo, at + LOG_SLICE));
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
function encodeDefinitions(agentOf: readonly string[], keyOf: readonly string[], from: number, to: number): Buffer {
  let size = 0;
  for (let id = from; id < to; id++) size += 14 + Buffer.byteLength(agentOf[id] as string) + Buffer.byteLength(keyOf[id] as string);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let id = from; id < to; id++) {
    const body = pos + 8;
    buf.writeUInt32LE(id, body);
    const alen = buf.write(agentOf[id] as string, body + 6, 'utf8');
    buf.writeUInt16LE(alen, body + 4);
    const klen = buf.write(keyOf[id] as string, body + 6 + alen, 'utf8');
    const len = 6 + alen + klen;
    buf.writeUInt32LE(len, pos);
    buf.writeUInt32LE(crc32(buf.subarray(body, body + len)), pos + 4);
    pos = body + len;
  }
  return buf;
}
