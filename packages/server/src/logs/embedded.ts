/**
 * The embedded log store: append-only segment files under data/logs/, one per UTC day of arrival
 * (and a new one past segment_bytes), each a run of frames. A frame is one report: its (agent, seq)
 * and its lines grouped by host and source into zstd-compressed blocks, with an index entry per
 * block (time range, levels, streams, label values, a bloom filter of message words) in the frame's
 * header. The header and the blocks are written and synced together, so a report and its sequence
 * are durable in one step. Opening reads the headers back into memory and cuts a torn last frame.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { pb } from '@falconet/protocol';
import { isDiskFull } from '../store/embedded/status.ts';
import { type StoreLog, StoreUnwritableError } from '../store/types.ts';
import { BLOCK_V2, decodeBlock, encodeBlock, encodeBlockInBackground } from './block.ts';
import { type AgentLineCount, addCount, indexDecides } from './count.ts';
import { type BlockSummary, blockMayMatch } from './query.ts';
import { WordFilter, words } from './terms.ts';
import type { LogAppendResult, LogPage, LogScan, LogStore, LogStoreStats, StoredLogLine } from './types.ts';

export interface EmbeddedLogStoreOptions {
  dir: string;
  /** Lines older than this go (whole segments at a time); 0 keeps them. */
  retentionMs: number;
  /** The store's bytes on disk beyond which the oldest segments go; 0 = no cap. */
  maxBytes: number;
  /** A segment is closed and a new one begun past this size (and at each UTC day). */
  segmentBytes?: number;
  log?: StoreLog | undefined;
  now?: () => number;
}

const MAGIC = 0x464c4731; // "FLG1"
const FRAME_HEAD = 16;
/** A header larger than this was never written by this store: the frame is damage, not data. */
const MAX_HEADER = 64 * 1024 * 1024;
const MAX_INDEXED_STREAMS = 64;
const MAX_INDEXED_VALUES = 64;
const SEGMENT_NAME = /^(\d{8})-(\d{8})\.seg$/;
/** Lines per block when a closed segment's small blocks are merged. */
const COMPACT_LINES = 4096;

interface GroupHeader {
  /** The block's format (block.ts); absent in blocks written before there were versions: 1. */
  v?: number;
  host: string;
  source: string;
  minT: number;
  maxT: number;
  n: number;
  levels: number;
  streams?: string[];
  labels: Record<string, string[]>;
  /** The bloom filter of message words, base64. */
  words: string;
  off: number;
  len: number;
  crc: number;
}

interface FrameHeader {
  agent: string;
  seq: number;
  /** An operator's sequence reset: the agent's sequence is 0 from here. */
  reset?: boolean;
  at: number;
  groups: GroupHeader[];
}

interface Segment {
  no: number;
  day: string;
  path: string;
  size: number;
  minT: number;
  maxT: number;
  blocks: Block[];
  /** The handle searches read through, opened once on first use (concurrent reads share the one open). */
  reader?: Promise<FileHandle>;
  /** Replaced by a compacted file or dropped: its path no longer holds these blocks, so it is never reopened. */
  retired?: boolean;
  /** Each agent's highest sequence in this segment's frames (what compaction must keep). */
  seqs: Map<string, number>;
  /** The segment holds a sequence reset: compacting it would lose the order of reset and reports. */
  resets: boolean;
}

interface Block extends BlockSummary {
  seg: Segment;
  frame: number;
  group: number;
  /** Absolute file offset of the compressed block. */
  pos: number;
  len: number;
  crc: number;
  /** The block's format version (undefined: 1). */
  v: number | undefined;
  minT: number;
  maxT: number;
  n: number;
}

/** Where a line lies: its order among lines of equal time. */
type LineKey = [number, number, number, number, number];

export class CursorError extends Error {}

function encodeCursor(k: LineKey): string {
  return Buffer.from(JSON.stringify(k)).toString('base64url');
}

function decodeCursor(c: string): LineKey {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 5 && v.every((x) => Number.isSafeInteger(x))) return v as LineKey;
  } catch {}
  throw new CursorError('cursor: not one this server gave (pass the cursor of the previous page unchanged)');
}

/** Newest first: time, then place in the store, both descending. */
function compareDesc(a: LineKey, b: LineKey): number {
  for (let i = 0; i < 5; i++) if (a[i] !== b[i]) return (b[i] as number) - (a[i] as number);
  return 0;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/** One frame's bytes: head, header, blocks; and where the blocks start within them. */
function frameBytes(header: FrameHeader, bodies: Buffer[]): { parts: Buffer[]; length: number; bodyOffset: number } {
  const hbuf = Buffer.from(JSON.stringify(header), 'utf8');
  const blen = bodies.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(FRAME_HEAD);
  head.writeUInt32BE(MAGIC, 0);
  head.writeUInt32BE(hbuf.length, 4);
  head.writeUInt32BE(blen, 8);
  head.writeUInt32BE(crc32(hbuf), 12);
  return { parts: [head, hbuf, ...bodies], length: FRAME_HEAD + hbuf.length + blen, bodyOffset: FRAME_HEAD + hbuf.length };
}

/** The index header of one block of lines from one host and source, given its compressed bytes. */
function groupOf(host: string, source: string, recs: readonly pb.LogRecord[], body: Buffer, off: number): GroupHeader {
  return { v: BLOCK_V2, host, source, off, len: body.length, crc: crc32(body), ...summarise(recs) };
}

interface Pending {
  header: FrameHeader;
  bodies: Buffer[];
  resolve: (at: { seg: Segment; pos: number }) => void;
  reject: (err: unknown) => void;
}

export class EmbeddedLogStore implements LogStore {
  readonly #o: Required<Omit<EmbeddedLogStoreOptions, 'log'>> & { log?: StoreLog | undefined };
  readonly #segments: Segment[] = [];
  readonly #seqs = new Map<string, number>();
  #active: Segment | undefined;
  #writer: FileHandle | undefined;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #maintenance: Promise<void> = Promise.resolve();
  /** Begin a new segment at the next write (the size cap needs the current one closed). */
  #rollNext = false;

  private constructor(o: EmbeddedLogStoreOptions) {
    this.#o = { segmentBytes: 16 * 1024 * 1024, now: Date.now, ...o };
  }

  static async open(o: EmbeddedLogStoreOptions): Promise<EmbeddedLogStore> {
    const s = new EmbeddedLogStore(o);
    await s.#load();
    await s.enforceRetention();
    s.#timer = setInterval(() => void s.enforceRetention().catch((err) => s.#o.log?.error({ err }, 'log retention failed')), 60_000);
    s.#timer.unref();
    return s;
  }

  get #checkpointPath(): string {
    return join(this.#o.dir, 'seqs.json');
  }

  async #load(): Promise<void> {
    mkdirSync(this.#o.dir, { recursive: true, mode: 0o700 });
    try {
      const saved = JSON.parse(readFileSync(this.#checkpointPath, 'utf8')) as { seqs?: Record<string, number> };
      for (const [a, n] of Object.entries(saved.seqs ?? {})) if (Number.isSafeInteger(n)) this.#seqs.set(a, n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`${this.#checkpointPath}: unreadable (${(err as Error).message})`);
    }
    const names = readdirSync(this.#o.dir)
      .filter((n) => SEGMENT_NAME.test(n))
      .sort();
    for (const [i, name] of names.entries()) {
      const m = SEGMENT_NAME.exec(name) as RegExpExecArray;
      const seg: Segment = {
        no: Number(m[1]),
        day: m[2] as string,
        path: join(this.#o.dir, name),
        size: 0,
        minT: Infinity,
        maxT: -Infinity,
        blocks: [],
        seqs: new Map(),
        resets: false,
      };
      await this.#scan(seg, i === names.length - 1);
      this.#segments.push(seg);
    }
    // A compaction cut short by a crash leaves its temporary file; the segment it would replace is whole.
    for (const n of readdirSync(this.#o.dir)) if (n.endsWith('.seg.tmp')) rmSync(join(this.#o.dir, n), { force: true });
    // A crash between a roll and its compaction leaves a closed segment of small blocks.
    for (const seg of this.#segments.slice(0, -1)) this.#maintain(() => this.#compact(seg));
  }

  /** Compaction and retention, one at a time, in the background; a failure is logged, never thrown. */
  #maintain(job: () => Promise<void>): Promise<void> {
    this.#maintenance = this.#maintenance.then(job).catch((err) => this.#o.log?.error({ err }, 'log store maintenance failed'));
    return this.#maintenance;
  }

  /** Waits for compactions and retention queued so far (tests, close). */
  async settled(): Promise<void> {
    let last: Promise<void> | undefined;
    while (last !== this.#maintenance) {
      last = this.#maintenance;
      await last;
    }
  }

  /**
   * Merges a closed segment's blocks into blocks of up to COMPACT_LINES lines per agent, host and
   * source (reports of a few lines make blocks too small to compress or index well), keeping each
   * agent's highest sequence in the segment. Written beside it and renamed over it: a crash leaves
   * one or the other. Segments holding a sequence reset are left as they are.
   */
  async #compact(seg: Segment): Promise<void> {
    if (this.#closed || seg.resets || seg === this.#active || !this.#segments.includes(seg)) return;
    const byKey = new Map<string, { agentId: string; host: string; source: string; n: number; blocks: Block[] }>();
    for (const b of seg.blocks) {
      const key = `${b.agentId}\0${b.host}\0${b.source}`;
      const k = byKey.get(key) ?? { agentId: b.agentId, host: b.host, source: b.source, n: 0, blocks: [] };
      k.n += b.n;
      k.blocks.push(b);
      byKey.set(key, k);
    }
    let after = 0;
    for (const k of byKey.values()) after += Math.ceil(k.n / COMPACT_LINES);
    if (after >= seg.blocks.length) return;
    const parts: Buffer[] = [];
    let size = 0;
    const agents = new Set([...seg.seqs.keys(), ...[...byKey.values()].map((k) => k.agentId)]);
    for (const agent of agents) {
      const groups: GroupHeader[] = [];
      const bodies: Buffer[] = [];
      let off = 0;
      for (const k of byKey.values()) {
        if (k.agentId !== agent) continue;
        const recs: pb.LogRecord[] = [];
        for (const b of k.blocks) recs.push(...(await this.#read(b)));
        recs.sort((x, y) => x.timeMs - y.timeMs);
        for (let i = 0; i < recs.length; i += COMPACT_LINES) {
          const slice = recs.slice(i, i + COMPACT_LINES);
          const body = await encodeBlockInBackground(slice);
          groups.push(groupOf(k.host, k.source, slice, body, off));
          bodies.push(body);
          off += body.length;
        }
      }
      const f = frameBytes({ agent, seq: seg.seqs.get(agent) ?? 0, at: this.#o.now(), groups }, bodies);
      parts.push(...f.parts);
      size += f.length;
    }
    const tmp = `${seg.path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writev(parts);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (this.#closed || !this.#segments.includes(seg)) {
      rmSync(tmp, { force: true });
      return;
    }
    // Searches under way keep reading the old file through its open handle after the rename.
    await readerOf(seg);
    renameSync(tmp, seg.path);
    const dfd = openSync(this.#o.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
    const fresh: Segment = { ...seg, size: 0, minT: Infinity, maxT: -Infinity, blocks: [], seqs: new Map(), resets: false };
    delete fresh.reader;
    await this.#scan(fresh, false);
    this.#segments[this.#segments.indexOf(seg)] = fresh;
    seg.retired = true;
    setTimeout(() => void closeReader(seg), 60_000).unref();
    this.#o.log?.info(
      { file: seg.path, blocksBefore: seg.blocks.length, blocksAfter: fresh.blocks.length, bytesBefore: seg.size, bytesAfter: size },
      'log segment compacted',
    );
  }

  /** Reads a segment's frame headers into the index; a damaged frame and all after it are cut. */
  async #scan(seg: Segment, last: boolean): Promise<void> {
    const fh = await open(seg.path, 'r+');
    try {
      const size = (await fh.stat()).size;
      let pos = 0;
      const head = Buffer.alloc(FRAME_HEAD);
      let problem: string | undefined;
      while (pos < size) {
        if (size - pos < FRAME_HEAD) {
          problem = 'frame head torn';
          break;
        }
        await fh.read(head, 0, FRAME_HEAD, pos);
        const magic = head.readUInt32BE(0);
        const hlen = head.readUInt32BE(4);
        const blen = head.readUInt32BE(8);
        if (magic !== MAGIC || hlen > MAX_HEADER) {
          problem = 'not a frame';
          break;
        }
        if (pos + FRAME_HEAD + hlen + blen > size) {
          problem = 'frame torn';
          break;
        }
        const hbuf = Buffer.alloc(hlen);
        await fh.read(hbuf, 0, hlen, pos + FRAME_HEAD);
        if (crc32(hbuf) !== head.readUInt32BE(12)) {
          problem = 'frame header checksum mismatch';
          break;
        }
        const header = JSON.parse(hbuf.toString('utf8')) as FrameHeader;
        const bodyAt = pos + FRAME_HEAD + hlen;
        // Only the last segment can hold a frame whose blocks did not reach the disk: check them there.
        if (last) {
          const body = Buffer.alloc(blen);
          await fh.read(body, 0, blen, bodyAt);
          if (header.groups.some((g) => crc32(body.subarray(g.off, g.off + g.len)) !== g.crc)) {
            problem = 'block checksum mismatch';
            break;
          }
        }
        this.#index(seg, pos, bodyAt, header);
        pos = bodyAt + blen;
      }
      if (problem) {
        this.#o.log?.warn({ file: seg.path, at: pos, cut: size - pos, problem }, 'log segment: damaged tail cut');
        await fh.truncate(pos);
        await fh.sync();
      }
      seg.size = pos;
    } finally {
      await fh.close();
    }
  }

  #index(seg: Segment, framePos: number, bodyAt: number, h: FrameHeader): void {
    if (h.reset) {
      this.#seqs.delete(h.agent);
      seg.resets = true;
    } else if (h.seq > 0) {
      if (h.seq > (this.#seqs.get(h.agent) ?? 0)) this.#seqs.set(h.agent, h.seq);
      if (h.seq > (seg.seqs.get(h.agent) ?? 0)) seg.seqs.set(h.agent, h.seq);
    }
    h.groups.forEach((g, i) => {
      const block: Block = {
        agentId: h.agent,
        host: g.host,
        source: g.source,
        labels: g.labels,
        levels: g.levels,
        filter: new WordFilter(Buffer.from(g.words, 'base64')),
        seg,
        frame: framePos,
        group: i,
        pos: bodyAt + g.off,
        len: g.len,
        crc: g.crc,
        v: g.v,
        minT: g.minT,
        maxT: g.maxT,
        n: g.n,
      };
      if (g.streams) block.streams = g.streams;
      seg.blocks.push(block);
      seg.minT = Math.min(seg.minT, g.minT);
      seg.maxT = Math.max(seg.maxT, g.maxT);
    });
  }

  async lastSeq(agentId: string): Promise<number> {
    return this.#seqs.get(agentId) ?? 0;
  }

  async resetSeq(agentId: string): Promise<number> {
    const was = this.#seqs.get(agentId) ?? 0;
    await this.#write({ agent: agentId, seq: 0, reset: true, at: this.#o.now(), groups: [] }, []);
    this.#seqs.delete(agentId);
    return was;
  }

  async appendReport(agentId: string, host: string, seq: number, records: readonly pb.LogRecord[]): Promise<LogAppendResult> {
    if (this.#closed) throw new Error('log store closed');
    const had = this.#seqs.get(agentId) ?? 0;
    if (seq > 0) {
      if (seq <= had) return { duplicate: true, lines: [] };
      // Claimed now, so a second copy arriving while this one is written is a duplicate too.
      this.#seqs.set(agentId, seq);
    }
    const bySource = new Map<string, pb.LogRecord[]>();
    for (const r of records) {
      const list = bySource.get(r.source);
      if (list) list.push(r);
      else bySource.set(r.source, [r]);
    }
    const groups: GroupHeader[] = [];
    const bodies: Buffer[] = [];
    let off = 0;
    for (const [source, recs] of bySource) {
      const body = encodeBlock(recs);
      groups.push(groupOf(host, source, recs, body, off));
      bodies.push(body);
      off += body.length;
    }
    const header: FrameHeader = { agent: agentId, seq, at: this.#o.now(), groups };
    let at: { seg: Segment; pos: number };
    try {
      at = await this.#write(header, bodies);
    } catch (err) {
      if (seq > 0 && this.#seqs.get(agentId) === seq) this.#seqs.set(agentId, had);
      // The batch was cut back off the file: the next write that fits goes in as if this one never came.
      if (isDiskFull(err)) throw new StoreUnwritableError(`server log store is full: ${(err as Error).message}`);
      throw err;
    }
    const lines: StoredLogLine[] = [];
    groups.forEach((_, g) => {
      const recs = bySource.get(groups[g]?.source as string) as pb.LogRecord[];
      recs.forEach((record, r) => {
        lines.push({ id: `${at.seg.no}.${at.pos}.${g}.${r}`, agentId, host, record });
      });
    });
    return { duplicate: false, lines };
  }

  /** Queues one frame and resolves once it is on disk; frames waiting together share one sync. */
  #write(header: FrameHeader, bodies: Buffer[]): Promise<{ seg: Segment; pos: number }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ header, bodies, resolve, reject });
      this.#draining ??= this.#drain().finally(() => {
        this.#draining = undefined;
      });
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      let seg: Segment | undefined;
      let start = 0;
      try {
        seg = await this.#activeSegment();
        start = seg.size;
        const parts: Buffer[] = [];
        const placed: { p: Pending; pos: number; bodyAt: number }[] = [];
        let pos = start;
        for (const p of batch) {
          const f = frameBytes(p.header, p.bodies);
          parts.push(...f.parts);
          placed.push({ p, pos, bodyAt: pos + f.bodyOffset });
          pos += f.length;
        }
        const all = Buffer.concat(parts);
        const w = this.#writer as FileHandle;
        // A nearly full disk takes part of a write without an error: the rest goes in another
        // write, which then fails (ENOSPC) rather than leaving a torn frame acknowledged.
        for (let off = 0; off < all.length; ) {
          const { bytesWritten } = await w.write(all, off, all.length - off, start + off);
          if (bytesWritten === 0) throw new Error(`log segment ${seg.path}: nothing written at ${start + off}`);
          off += bytesWritten;
        }
        await w.datasync();
        seg.size = start + all.length;
        for (const { p, pos: at, bodyAt } of placed) {
          this.#index(seg, at, bodyAt, p.header);
          p.resolve({ seg, pos: at });
        }
      } catch (err) {
        // Whatever part of the batch reached the file is cut, so the next frame follows a whole one.
        if (seg && this.#writer) await this.#writer.truncate(start).catch(() => undefined);
        for (const p of batch) p.reject(err);
      }
    }
  }

  async #activeSegment(): Promise<Segment> {
    const now = this.#o.now();
    let seg = this.#active ?? this.#segments.at(-1);
    if (seg && (this.#rollNext || seg.size >= this.#o.segmentBytes || seg.day !== utcDay(now))) {
      this.#rollNext = false;
      await this.#closeWriter();
      const closed = seg;
      this.#maintain(() => this.#compact(closed));
      seg = undefined;
    }
    if (!seg) {
      const no = (this.#segments.at(-1)?.no ?? 0) + 1;
      const day = utcDay(now);
      seg = {
        no,
        day,
        path: join(this.#o.dir, `${String(no).padStart(8, '0')}-${day}.seg`),
        size: 0,
        minT: Infinity,
        maxT: -Infinity,
        blocks: [],
        seqs: new Map(),
        resets: false,
      };
      this.#segments.push(seg);
    }
    if (this.#active !== seg) {
      this.#writer = await open(seg.path, 'a+', 0o600);
      this.#active = seg;
      // A new file's name must survive a crash as well as its contents.
      const dir = await open(this.#o.dir, 'r');
      await dir.sync().finally(() => dir.close());
    }
    return seg;
  }

  async #closeWriter(): Promise<void> {
    await this.#writer?.close();
    this.#writer = undefined;
    this.#active = undefined;
  }

  /** Candidate blocks of a scan: overlapping the range and not ruled out by the index. */
  #candidates(scan: LogScan): Block[] {
    const out: Block[] = [];
    const needs = scan.filter.needs;
    for (const seg of this.#segments) {
      if (seg.maxT < scan.fromMs || seg.minT > scan.toMs) continue;
      for (const b of seg.blocks) if (b.maxT >= scan.fromMs && b.minT <= scan.toMs && blockMayMatch(needs, b)) out.push(b);
    }
    return out;
  }

  /** Blocks read and decompressed since open: what searches and counts cost (tests hold counting to its window). */
  blocksRead = 0;

  async #read(b: Block): Promise<pb.LogRecord[]> {
    this.blocksRead++;
    const buf = Buffer.alloc(b.len);
    try {
      await (await readerOf(b.seg)).read(buf, 0, b.len, b.pos);
    } catch (err) {
      // Retention may drop a segment while a search reads it: its lines are gone, not an error.
      if (!this.#segments.includes(b.seg)) return [];
      throw err;
    }
    if (crc32(buf) !== b.crc) throw new Error(`${b.seg.path}: block at ${b.pos} is damaged (checksum mismatch)`);
    return decodeBlock(buf, b.v);
  }

  async search(scan: LogScan, limit: number, cursor?: string): Promise<LogPage> {
    const after = cursor ? decodeCursor(cursor) : undefined;
    const blocks = this.#candidates(scan).sort((a, b) => b.maxT - a.maxT);
    let found: { key: LineKey; line: StoredLogLine }[] = [];
    for (const b of blocks) {
      // Blocks come newest first by their last line: once a page is full and this block ends before
      // its oldest line, no later block can hold a newer one.
      const oldest = found.length > limit ? found[limit]?.key : undefined;
      if (oldest && b.maxT < oldest[0]) break;
      if (after && b.minT > after[0]) {
        // Every line of the block is newer than the cursor's time: all were on earlier pages.
        continue;
      }
      const recs = await this.#read(b);
      recs.forEach((record, r) => {
        if (record.timeMs < scan.fromMs || record.timeMs > scan.toMs) return;
        const key: LineKey = [record.timeMs, b.seg.no, b.frame, b.group, r];
        if (after && compareDesc(key, after) <= 0) return;
        const line = { id: `${b.seg.no}.${b.frame}.${b.group}.${r}`, agentId: b.agentId, host: b.host, record };
        if (scan.filter.matches(line)) found.push({ key, line });
      });
      found.sort((x, y) => compareDesc(x.key, y.key));
      if (found.length > limit + 1) found = found.slice(0, limit + 1);
    }
    const page = found.slice(0, limit);
    const last = page.at(-1);
    return { lines: page.map((f) => f.line), ...(found.length > limit && last ? { cursor: encodeCursor(last.key) } : {}) };
  }

  async each(scan: LogScan, visit: (line: StoredLogLine) => void): Promise<void> {
    for (const b of this.#candidates(scan)) {
      const recs = await this.#read(b);
      recs.forEach((record, r) => {
        if (record.timeMs < scan.fromMs || record.timeMs > scan.toMs) return;
        const line = { id: `${b.seg.no}.${b.frame}.${b.group}.${r}`, agentId: b.agentId, host: b.host, record };
        if (scan.filter.matches(line)) visit(line);
      });
    }
  }

  /**
   * Matching lines per agent. A block wholly inside the range whose index entry decides the query
   * (levels, host, agent, source only) is counted from its entry without being read.
   */
  async count(scan: LogScan): Promise<Map<string, AgentLineCount>> {
    const out = new Map<string, AgentLineCount>();
    const exact = indexDecides(scan.filter.root);
    const wanted = scan.filter.needs.levels;
    for (const b of this.#candidates(scan)) {
      if (exact && b.minT >= scan.fromMs && b.maxT <= scan.toMs && (b.levels & ~wanted) === 0) {
        addCount(out, b.agentId, b.host, b.n);
        continue;
      }
      let n = 0;
      const recs = await this.#read(b);
      for (const record of recs) {
        if (record.timeMs < scan.fromMs || record.timeMs > scan.toMs) continue;
        if (scan.filter.matches({ agentId: b.agentId, host: b.host, record })) n++;
      }
      if (n > 0) addCount(out, b.agentId, b.host, n);
    }
    return out;
  }

  async stats(): Promise<LogStoreStats> {
    let bytes = 0;
    let lines = 0;
    let blocks = 0;
    for (const s of this.#segments) {
      bytes += s.size;
      blocks += s.blocks.length;
      for (const b of s.blocks) lines += b.n;
    }
    return { engine: 'embedded', bytes, lines, blocks, segments: this.#segments.length };
  }

  /** Drops segments whose newest line is past retention, then the oldest while over the size cap. */
  enforceRetention(): Promise<void> {
    return this.#maintain(() => this.#retain());
  }

  async #retain(): Promise<void> {
    const { retentionMs, maxBytes } = this.#o;
    // Counted back from the newest line held, never past the clock: a server clock that jumps
    // forward deletes nothing (docs/logs.md), as the metric store does.
    const newest = this.#segments.reduce((t, s) => Math.max(t, s.maxT), Number.NEGATIVE_INFINITY);
    const cutoff = Math.min(this.#o.now(), newest) - retentionMs;
    const doomed = new Set<Segment>();
    for (const s of this.#segments) {
      if (s === this.#active || s === this.#segments.at(-1)) continue;
      if (retentionMs > 0 && s.maxT < cutoff) doomed.add(s);
    }
    if (maxBytes > 0) {
      let total = this.#segments.reduce((n, s) => n + (doomed.has(s) ? 0 : s.size), 0);
      // The segment being written is closed at the next write when it alone is over the cap, so it can go next time.
      if (total > maxBytes && this.#segments.length === 1) this.#rollNext = true;
      for (const s of this.#segments.slice(0, -1)) {
        if (total <= maxBytes) break;
        if (doomed.has(s)) continue;
        doomed.add(s);
        total -= s.size;
      }
    }
    if (doomed.size === 0) return;
    // The sequences those frames carried must outlive them.
    this.#checkpoint();
    for (const s of doomed) {
      s.retired = true;
      await closeReader(s);
      rmSync(s.path, { force: true });
      this.#segments.splice(this.#segments.indexOf(s), 1);
      this.#o.log?.info({ file: s.path, bytes: s.size }, 'log segment dropped (retention or size cap)');
    }
  }

  #checkpoint(): void {
    const tmp = `${this.#checkpointPath}.tmp`;
    const data = JSON.stringify({ seqs: Object.fromEntries(this.#seqs) });
    // Written whole, synced, then renamed: a crash leaves the old checkpoint or the new one.
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#checkpointPath);
    const dfd = openSync(this.#o.dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  }

  async #flushQueue(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#flushQueue();
    await this.settled();
    await this.#closeWriter();
    for (const s of this.#segments) await closeReader(s);
  }
}

/** The segment's read handle, opened by the first reader; a failed open is forgotten so the next read retries. */
function readerOf(seg: Segment): Promise<FileHandle> {
  if (seg.reader) return seg.reader;
  if (seg.retired) return Promise.reject(new Error(`log segment ${seg.path} was replaced`));
  const opening = open(seg.path, 'r');
  seg.reader = opening;
  opening.catch(() => {
    if (seg.reader === opening) delete seg.reader;
  });
  return opening;
}

async function closeReader(seg: Segment): Promise<void> {
  const reader = seg.reader;
  delete seg.reader;
  await reader?.then((fh) => fh.close()).catch(() => undefined);
}

/** The index entry of a block's lines: what a query can rule it out by. */
function summarise(recs: readonly pb.LogRecord[]): Omit<GroupHeader, 'host' | 'source' | 'off' | 'len' | 'crc'> {
  let minT = Infinity;
  let maxT = -Infinity;
  let levels = 0;
  const streams = new Set<string>();
  const labelValues = new Map<string, Set<string>>();
  const labelCount = new Map<string, number>();
  const distinct = new Set<string>();
  for (const r of recs) {
    minT = Math.min(minT, r.timeMs);
    maxT = Math.max(maxT, r.timeMs);
    levels |= 1 << r.level;
    streams.add(r.stream);
    for (const [k, v] of Object.entries(r.labels)) {
      labelCount.set(k, (labelCount.get(k) ?? 0) + 1);
      const set = labelValues.get(k) ?? new Set<string>();
      labelValues.set(k, set);
      set.add(v);
    }
    for (const w of words(r.message)) distinct.add(w);
  }
  const labels: Record<string, string[]> = {};
  for (const [k, set] of labelValues) {
    if (labelCount.get(k) === recs.length && set.size <= MAX_INDEXED_VALUES) labels[k] = [...set];
  }
  const filter = WordFilter.build(distinct, distinct.size);
  return {
    minT,
    maxT,
    n: recs.length,
    levels,
    ...(streams.size <= MAX_INDEXED_STREAMS ? { streams: [...streams] } : {}),
    labels,
    words: Buffer.from(filter.bits).toString('base64'),
  };
}
