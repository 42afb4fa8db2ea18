/**
 * The embedded log store: append-only segment files under data/logs/, one per UTC day of arrival
 * (and a new one past segment_bytes), each a run of frames. A frame is one report: its (agent, seq)
 * and its lines grouped by host and source into zstd-compressed blocks, with an index entry per
 * block (time range, levels, streams, label values, a bloom filter of message words) in the frame's
 * header. The header and the blocks are written and synced together, so a report and its sequence
 * are durable in one step. Opening reads the headers back into memory and cuts a torn last frame.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import type { pb } from '@falconet/protocol';
import { isDiskFull } from '../store/embedded/status.ts';
import { type StoreLog, StoreUnwritableError } from '../store/types.ts';
import { BLOCK_V2, COMPACT_LEVEL, decodeBlock, encodeBlock, encodeBlockInBackground } from './block.ts';
import { type AgentLineCount, addCount, indexDecides } from './count.ts';
import { type BlockSummary, blockMayMatch } from './query.ts';
import { WordFilter, WordHashes } from './terms.ts';
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
/**
 * What the frames hold, for caches of written stores (the logs bench) to key on; the store reads every
 * layout. 1: word filters base64 in the header; 2: as bytes at the start of the body.
 */
export const FRAME_LAYOUT = 2;
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
  /** The bloom filter of message words, base64 (frames written before `filterBytes`). */
  words?: string;
  /** Where the bloom filter of message words lies in the frame's filters (see FrameHeader.filterBytes). */
  wo?: number;
  wl?: number;
  /** Where the compressed block lies, from the start of the frame's body. */
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
  /**
   * The body begins with the groups' word filters, this many bytes, then the blocks. As bytes
   * rather than base64 in this header, they take a quarter less room (they are about a tenth of a
   * compacted store). Absent in frames written before, whose groups carry `words`.
   */
  filterBytes?: number;
  filterCrc?: number;
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

/** A block ready for a frame: its index entry, word filter and compressed bytes. */
interface BuiltBlock {
  host: string;
  source: string;
  summary: BlockEntry;
  filter: Uint8Array;
  body: Buffer;
}

/** `terms` holds the words of the block's messages, found as its body was written. */
function builtBlock(host: string, source: string, recs: readonly pb.LogRecord[], body: Buffer, terms: WordHashes): BuiltBlock {
  const { filter, ...summary } = summarise(recs, terms);
  return { host, source, summary, filter, body };
}

interface Frame {
  header: FrameHeader;
  /** The groups' word filters, as at the start of the body. */
  filters: Buffer;
  parts: Buffer[];
  length: number;
  /** Where the body (filters, then blocks) starts within the frame. */
  bodyOffset: number;
}

/** One frame's bytes: head, header, the blocks' word filters, the blocks. */
function frameOf(frame: Pick<FrameHeader, 'agent' | 'seq' | 'reset' | 'at'>, blocks: readonly BuiltBlock[]): Frame {
  const filters = Buffer.concat(blocks.map((b) => b.filter));
  let wo = 0;
  let off = filters.length;
  const groups = blocks.map((b): GroupHeader => {
    const g = {
      v: BLOCK_V2,
      host: b.host,
      source: b.source,
      ...b.summary,
      wo,
      wl: b.filter.length,
      off,
      len: b.body.length,
      crc: crc32(b.body),
    };
    wo += b.filter.length;
    off += b.body.length;
    return g;
  });
  const header: FrameHeader = {
    ...frame,
    groups,
    ...(filters.length > 0 ? { filterBytes: filters.length, filterCrc: crc32(filters) } : {}),
  };
  const hbuf = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(FRAME_HEAD);
  head.writeUInt32BE(MAGIC, 0);
  head.writeUInt32BE(hbuf.length, 4);
  head.writeUInt32BE(off, 8);
  head.writeUInt32BE(crc32(hbuf), 12);
  return {
    header,
    filters,
    parts: [head, hbuf, filters, ...blocks.map((b) => b.body)],
    length: FRAME_HEAD + hbuf.length + off,
    bodyOffset: FRAME_HEAD + hbuf.length,
  };
}

interface Pending {
  frame: Frame;
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
    // The closed segment in one read rather than one per block: under load each of those reads waited
    // its turn behind the reports on the event loop, and compaction fell ever further behind ingest.
    const file = await readFile(seg.path);
    const parts: Buffer[] = [];
    let size = 0;
    const agents = new Set([...seg.seqs.keys(), ...[...byKey.values()].map((k) => k.agentId)]);
    for (const agent of agents) {
      const blocks: BuiltBlock[] = [];
      for (const k of byKey.values()) {
        if (k.agentId !== agent) continue;
        const recs: pb.LogRecord[] = [];
        let decoded = 0;
        for (const b of k.blocks) {
          const body = file.subarray(b.pos, b.pos + b.len);
          if (body.length !== b.len || crc32(body) !== b.crc)
            throw new Error(`${seg.path}: block at ${b.pos} is damaged (checksum mismatch)`);
          for (const r of decodeBlock(body, b.v)) recs.push(r);
          decoded += b.n;
          // Reports waiting for the event loop go first now and then: decoding is synchronous.
          if (decoded >= COMPACT_LINES) {
            decoded = 0;
            await yieldToLoop();
          }
        }
        recs.sort((x, y) => x.timeMs - y.timeMs);
        for (let i = 0; i < recs.length; i += COMPACT_LINES) {
          const slice = recs.slice(i, i + COMPACT_LINES);
          const terms = new WordHashes(slice.length * 2);
          blocks.push(builtBlock(k.host, k.source, slice, await encodeBlockInBackground(slice, COMPACT_LEVEL, terms), terms));
        }
      }
      const f = frameOf({ agent, seq: seg.seqs.get(agent) ?? 0, at: this.#o.now() }, blocks);
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
        let filters: Buffer | undefined;
        if (header.filterBytes !== undefined) {
          if (header.filterBytes > blen) {
            problem = 'word filters beyond the frame';
            break;
          }
          filters = Buffer.alloc(header.filterBytes);
          await fh.read(filters, 0, filters.length, bodyAt);
          if (crc32(filters) !== header.filterCrc) {
            problem = 'word filter checksum mismatch';
            break;
          }
        }
        // Only the last segment can hold a frame whose blocks did not reach the disk: check them there.
        if (last) {
          const body = Buffer.alloc(blen);
          await fh.read(body, 0, blen, bodyAt);
          if (header.groups.some((g) => crc32(body.subarray(g.off, g.off + g.len)) !== g.crc)) {
            problem = 'block checksum mismatch';
            break;
          }
        }
        this.#index(seg, pos, bodyAt, header, filters);
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

  #index(seg: Segment, framePos: number, bodyAt: number, h: FrameHeader, filters: Buffer | undefined): void {
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
        filter: new WordFilter(
          g.words !== undefined ? Buffer.from(g.words, 'base64') : (filters ?? Buffer.alloc(0)).subarray(g.wo, (g.wo ?? 0) + (g.wl ?? 0)),
        ),
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
    await this.#write(frameOf({ agent: agentId, seq: 0, reset: true, at: this.#o.now() }, []));
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
    const blocks: BuiltBlock[] = [];
    // Compressed on the event loop: on libuv's threads instead it cost more CPU a line and took fewer
    // lines a second on this machine's two cores (their threads contend with the loop).
    for (const [source, recs] of bySource) {
      const terms = new WordHashes(recs.length * 2);
      blocks.push(builtBlock(host, source, recs, encodeBlock(recs, terms), terms));
    }
    let at: { seg: Segment; pos: number };
    try {
      at = await this.#write(frameOf({ agent: agentId, seq, at: this.#o.now() }, blocks));
    } catch (err) {
      if (seq > 0 && this.#seqs.get(agentId) === seq) this.#seqs.set(agentId, had);
      // The batch was cut back off the file: the next write that fits goes in as if this one never came.
      if (isDiskFull(err)) throw new StoreUnwritableError(`server log store is full: ${(err as Error).message}`);
      throw err;
    }
    const lines: StoredLogLine[] = [];
    let g = 0;
    for (const recs of bySource.values()) {
      for (let r = 0; r < recs.length; r++) {
        lines.push({ id: `${at.seg.no}.${at.pos}.${g}.${r}`, agentId, host, record: recs[r] as pb.LogRecord });
      }
      g++;
    }
    return { duplicate: false, lines };
  }

  /** Queues one frame and resolves once it is on disk; frames waiting together share one sync. */
  #write(frame: Frame): Promise<{ seg: Segment; pos: number }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ frame, resolve, reject });
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
          const f = p.frame;
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
          this.#index(seg, at, bodyAt, p.frame.header, p.frame.filters);
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

type BlockEntry = Omit<GroupHeader, 'v' | 'host' | 'source' | 'words' | 'wo' | 'wl' | 'off' | 'len' | 'crc'>;

/** The index entry of a block's lines (what a query can rule it out by) and its word filter. */
function summarise(recs: readonly pb.LogRecord[], terms: WordHashes): BlockEntry & { filter: Uint8Array } {
  let minT = Infinity;
  let maxT = -Infinity;
  let levels = 0;
  const streams = new Set<string>();
  const labelValues = new Map<string, Set<string>>();
  const labelCount = new Map<string, number>();
  for (const r of recs) {
    if (r.timeMs < minT) minT = r.timeMs;
    if (r.timeMs > maxT) maxT = r.timeMs;
    levels |= 1 << r.level;
    streams.add(r.stream);
    for (const k in r.labels) {
      const v = r.labels[k] as string;
      labelCount.set(k, (labelCount.get(k) ?? 0) + 1);
      const set = labelValues.get(k);
      if (set) set.add(v);
      else labelValues.set(k, new Set([v]));
    }
  }
  const labels: Record<string, string[]> = {};
  for (const [k, set] of labelValues) {
    if (labelCount.get(k) === recs.length && set.size <= MAX_INDEXED_VALUES) labels[k] = [...set];
  }
  return {
    minT,
    maxT,
    n: recs.length,
    levels,
    ...(streams.size <= MAX_INDEXED_STREAMS ? { streams: [...streams] } : {}),
    labels,
    filter: WordFilter.fromHashes(terms).bits,
  };
}
