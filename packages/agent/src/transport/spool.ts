import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { PayloadKind, pb } from '@falconet/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';
import { type BacklogReader, type BacklogStats, isLogReport, type ReportBacklog, type SpooledReport } from './backlog.ts';

/**
 * The agent's on-disk spool: every report is appended here, made durable, and only then sent; it
 * is forgotten once the server acknowledges it. Segmented append-only files:
 *
 *   <dir>/<first seq, 20 digits>.seg = "FNSPOOL1" record*
 *   record = u32le body length | u32le CRC-32 of body | body (a protobuf falconet.v1.Report)
 *
 * The record's Report.kind says samples or logs; spools written before logs existed have no kind
 * field in their records, which protobuf reads as 0 = PAYLOAD_KIND_SAMPLES, what they hold.
 *   <dir>/acked = the highest sequence the server holds
 *
 * On open a torn or corrupt tail (a crash mid-write, a bad disk block) is truncated and everything
 * before it kept. The spool is bounded by size and age: past either, whole segments are dropped
 * oldest first, counted and logged. A full disk (ENOSPC, EDQUOT) is a third bound: the oldest
 * segments go to make room, and when none is left the new report is dropped, counted; the agent
 * goes on collecting either way.
 */

const MAGIC = Buffer.from('FNSPOOL1', 'latin1');
const HEADER = 8;
/** No report is this large (the server's limit is far lower); a larger length is corruption. */
const MAX_RECORD = 64 * 1024 * 1024;

export interface SpoolOptions {
  dir: string;
  /** Bound on the spool's size on disk; the oldest segments go first. */
  maxBytes: number;
  /** Unacknowledged reports older than this are dropped. */
  maxAgeMs: number;
  /** A segment is closed and a new one begun past this size. */
  segmentBytes: number;
  log: Logger;
  now?: () => number;
}

export interface SpoolStats extends BacklogStats {
  segments: number;
  bytes: number;
  /** Bytes cut from torn or corrupt tails when the spool was opened. */
  truncatedBytes: number;
  droppedBySize: number;
  droppedByAge: number;
  /** Reports dropped because the disk under the spool was full: spooled ones to make room, or the new one. */
  droppedByDiskFull: number;
}

/** Why the spool gave up reports: its two bounds, or a full disk. */
type DropReason = 'size' | 'age' | 'disk_full';

/** The errors of a disk (or a quota) with no room left. */
function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Writes all of `buf` at `position`: write(2) may take only part of it when the disk fills up. */
async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('ENOSPC: the disk took no more bytes'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

interface Segment {
  firstSeq: number;
  path: string;
  /** Durable end of the segment: readers never read past it. */
  bytes: number;
  lastSeq: number;
  records: number;
  samples: number;
  /** Log records in its LOGS reports (not counted in `samples`). */
  logRecords: number;
  /** Creation times of the oldest and newest report in it, for the age bound. */
  oldestMs: number;
  newestMs: number;
}

/** Something wrong in a segment file at `offset`; everything from there on is cut. */
class SegmentDamage extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

export function encodeRecord(r: SpooledReport): Buffer {
  const body = pb.Report.encode({
    seq: r.seq,
    encoding: r.encoding,
    payload: r.payload,
    sampleCount: r.sampleCount,
    createdMs: r.createdMs,
    kind: r.kind ?? PayloadKind.PAYLOAD_KIND_SAMPLES,
  }).finish();
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  out.set(body, HEADER);
  return out;
}

function decodeBody(body: Uint8Array): SpooledReport {
  const r = pb.Report.decode(body);
  return {
    seq: r.seq,
    createdMs: r.createdMs,
    sampleCount: r.sampleCount,
    encoding: r.encoding,
    payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
    kind: r.kind,
  };
}

/** Walks the records of one segment's bytes; throws SegmentDamage at the first bad one. */
function* scanRecords(buf: Buffer): Generator<{ offset: number; end: number; report: SpooledReport }> {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SegmentDamage(0, 'not a spool segment (bad magic)');
  }
  let offset = MAGIC.length;
  let prevSeq = 0;
  while (offset < buf.length) {
    if (buf.length - offset < HEADER) throw new SegmentDamage(offset, 'torn record header');
    const len = buf.readUInt32LE(offset);
    const crc = buf.readUInt32LE(offset + 4);
    if (len === 0 || len > MAX_RECORD) throw new SegmentDamage(offset, `impossible record length ${len}`);
    if (buf.length - offset - HEADER < len) throw new SegmentDamage(offset, 'torn record body');
    const body = buf.subarray(offset + HEADER, offset + HEADER + len);
    if (crc32(body) !== crc) throw new SegmentDamage(offset, 'record checksum mismatch');
    let report: SpooledReport;
    try {
      report = decodeBody(body);
    } catch (err) {
      throw new SegmentDamage(offset, `undecodable record: ${(err as Error).message}`);
    }
    if (report.seq <= prevSeq) throw new SegmentDamage(offset, `sequence ${report.seq} after ${prevSeq}`);
    prevSeq = report.seq;
    const end = offset + HEADER + len;
    yield { offset, end, report };
    offset = end;
  }
}

export class Spool implements ReportBacklog {
  readonly #opts: SpoolOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #segments: Segment[] = [];
  #active: { seg: Segment; fh: FileHandle } | undefined;
  /** Appends, acknowledged-segment removal and drops run one after another on this chain. */
  #io: Promise<unknown> = Promise.resolve();
  #ackedSeq = 0;
  #persistedAck = 0;
  #ackQueued = false;
  #lastSeq = 0;
  #closed = false;
  /** How the spool stands with a full disk, so that each change is logged once, not each report. */
  #diskFull: 'no' | 'dropping_oldest' | 'dropping_new' = 'no';
  /** Reports dropped since the disk last filled up, for the line that says it has room again. */
  #droppedWhileFull = 0;
  /** The spool's bytes when the disk last said it was full: growing well past them means there is room again. */
  #fullAtBytes = 0;
  readonly #counters = {
    appendedReports: 0,
    droppedBySize: 0,
    droppedByAge: 0,
    droppedByDiskFull: 0,
    droppedSamples: 0,
    droppedLogRecords: 0,
    truncatedBytes: 0,
  };

  private constructor(opts: SpoolOptions) {
    if (opts.segmentBytes * 4 > opts.maxBytes) {
      throw new Error(`spool.max_bytes (${opts.maxBytes}) must be at least 4 x spool.segment_bytes (${opts.segmentBytes})`);
    }
    this.#opts = opts;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  /** Opens (or creates) the spool in `opts.dir`, repairing a torn or corrupt tail. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    await spool.#load();
    return spool;
  }

  async #load(): Promise<void> {
    const dir = this.#opts.dir;
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    try {
      const n = Number((await readFile(join(dir, 'acked'), 'utf8')).trim());
      if (Number.isSafeInteger(n) && n > 0) this.#ackedSeq = this.#persistedAck = n;
    } catch {
      // first start, or the pointer was never written: the server's Registered{last_seq} settles it
    }
    const names = (await readdir(dir)).filter((f) => /^\d{20}\.seg$/.test(f)).sort();
    for (const name of names) {
      const path = join(dir, name);
      const seg: Segment = {
        firstSeq: Number(name.slice(0, 20)),
        path,
        bytes: MAGIC.length,
        lastSeq: 0,
        records: 0,
        samples: 0,
        logRecords: 0,
        oldestMs: 0,
        newestMs: 0,
      };
      const buf = await readFile(path);
      try {
        for (const { end, report } of scanRecords(buf)) {
          if (seg.records === 0) {
            seg.firstSeq = report.seq;
            seg.oldestMs = report.createdMs;
          }
          seg.bytes = end;
          seg.lastSeq = report.seq;
          seg.records++;
          if (isLogReport(report)) seg.logRecords += report.sampleCount;
          else seg.samples += report.sampleCount;
          seg.newestMs = Math.max(seg.newestMs, report.createdMs);
        }
      } catch (err) {
        const damage = err as SegmentDamage;
        const cut = buf.length - Math.max(damage.offset, 0);
        this.#counters.truncatedBytes += cut;
        this.#log.warn(
          { segment: name, offset: damage.offset, truncatedBytes: cut, reason: damage.message },
          'spool segment has a torn or corrupt tail; truncated it and kept the records before it',
        );
        if (damage.offset <= MAGIC.length) seg.records = 0;
        else await truncateDurably(path, damage.offset);
      }
      if (seg.records === 0) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      this.#lastSeq = Math.max(this.#lastSeq, seg.lastSeq);
      if (seg.lastSeq <= this.#ackedSeq) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      this.#segments.push(seg);
    }
    this.#lastSeq = Math.max(this.#lastSeq, this.#ackedSeq);
    await this.#enforceBounds();
    const s = this.stats;
    this.#log.info(
      { dir, segments: s.segments, bytes: s.bytes, pendingReports: s.pendingReports, ackedSeq: this.#ackedSeq, lastSeq: this.#lastSeq },
      'spool opened',
    );
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  get stats(): SpoolStats {
    let pendingReports = 0;
    let bytes = 0;
    let pendingBytes = 0;
    for (const seg of this.#segments) {
      bytes += seg.bytes;
      const pending = this.#pendingIn(seg);
      pendingReports += pending;
      pendingBytes += seg.records ? Math.round((seg.bytes * pending) / seg.records) : 0;
    }
    const c = this.#counters;
    return {
      segments: this.#segments.length,
      bytes,
      pendingReports,
      pendingBytes,
      appendedReports: c.appendedReports,
      droppedReports: c.droppedBySize + c.droppedByAge + c.droppedByDiskFull,
      droppedBySize: c.droppedBySize,
      droppedByAge: c.droppedByAge,
      droppedByDiskFull: c.droppedByDiskFull,
      droppedSamples: c.droppedSamples,
      droppedLogRecords: c.droppedLogRecords,
      truncatedBytes: c.truncatedBytes,
    };
  }

  /** Reports in `seg` above the acknowledged sequence (sequences inside a segment are consecutive but for crashes). */
  #pendingIn(seg: Segment): number {
    if (this.#ackedSeq < seg.firstSeq) return seg.records;
    if (this.#ackedSeq >= seg.lastSeq) return 0;
    return Math.min(seg.records, seg.lastSeq - this.#ackedSeq);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#io.then(fn, fn);
    this.#io = next.catch(() => undefined);
    return next;
  }

  append(reports: readonly SpooledReport[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('spool is closed'));
    return this.#serial(async () => {
      if (reports.length === 0) return;
      for (const r of reports) {
        if (r.seq <= this.#lastSeq) throw new Error(`spool: sequence ${r.seq} is not above the last one spooled (${this.#lastSeq})`);
      }
      const buf = Buffer.concat(reports.map(encodeRecord));
      for (;;) {
        try {
          await this.#write(reports, buf);
          break;
        } catch (err) {
          if (!isNoSpace(err)) throw err;
          this.#fullAtBytes = this.#segments.reduce((n, s) => n + s.bytes, 0);
          if (await this.#dropOldestForRoom()) continue;
          this.#dropUnspooled(reports);
          return;
        }
      }
      // Living on the room that dropping old reports makes is still a full disk; new reports
      // written again, or the spool growing a segment past where the disk filled up, is not.
      const grown = this.#segments.reduce((n, s) => n + s.bytes, 0) > this.#fullAtBytes + Math.min(this.#opts.segmentBytes, 1 << 20);
      if (this.#diskFull === 'dropping_new' || (this.#diskFull === 'dropping_oldest' && grown)) {
        this.#log.warn(
          { dir: this.#opts.dir, droppedReports: this.#droppedWhileFull },
          "the spool's disk has room again: spooling resumed",
        );
        this.#diskFull = 'no';
        this.#droppedWhileFull = 0;
      }
      await this.#enforceBounds();
    });
  }

  /** Appends `buf` (the records of `reports`) to the active segment and makes it durable, or leaves the segment as it was. */
  async #write(reports: readonly SpooledReport[], buf: Buffer): Promise<void> {
    const active = await this.#activeSegment(reports[0] as SpooledReport);
    const seg = active.seg;
    try {
      await writeFully(active.fh, buf, seg.bytes);
      // One sync per batch: the report is acknowledged to nobody before it is on disk.
      await active.fh.datasync();
    } catch (err) {
      // A short write leaves part of a record past the segment's end: cut it, giving its room back.
      // Were the cut to fail, readers stop at seg.bytes, the next append overwrites from there, and
      // opening the spool cuts a torn tail.
      await active.fh.truncate(seg.bytes).catch(() => undefined);
      throw err;
    }
    seg.bytes += buf.length;
    for (const r of reports) {
      if (seg.records === 0) seg.oldestMs = r.createdMs;
      seg.lastSeq = r.seq;
      seg.records++;
      if (isLogReport(r)) seg.logRecords += r.sampleCount;
      else seg.samples += r.sampleCount;
      seg.newestMs = Math.max(seg.newestMs, r.createdMs);
      this.#lastSeq = r.seq;
      this.#counters.appendedReports++;
    }
  }

  /** The disk is full: drops the oldest segment that holds reports. False when there is none. */
  async #dropOldestForRoom(): Promise<boolean> {
    const oldest = this.#segments.find((s) => s.records > 0);
    if (!oldest) return false;
    if (this.#diskFull === 'no') {
      this.#log.warn(
        { dir: this.#opts.dir },
        "the spool's disk is full (ENOSPC): dropping the oldest spooled reports to make room for new ones",
      );
      this.#diskFull = 'dropping_oldest';
    }
    this.#droppedWhileFull += this.#pendingIn(oldest);
    await this.#drop(oldest, 'disk_full');
    return true;
  }

  /** The disk is full and the spool holds nothing to drop: the new reports are counted as dropped, never sent. */
  #dropUnspooled(reports: readonly SpooledReport[]): void {
    for (const r of reports) {
      this.#counters.droppedByDiskFull++;
      if (isLogReport(r)) this.#counters.droppedLogRecords += r.sampleCount;
      else this.#counters.droppedSamples += r.sampleCount;
    }
    this.#droppedWhileFull += reports.length;
    if (this.#diskFull !== 'dropping_new') {
      this.#log.warn(
        { dir: this.#opts.dir, firstSeq: reports[0]?.seq },
        "the spool's disk is full (ENOSPC) and the spool holds nothing more to drop: new reports are dropped until there is room",
      );
      this.#diskFull = 'dropping_new';
    }
  }

  async #activeSegment(first: SpooledReport): Promise<{ seg: Segment; fh: FileHandle }> {
    const cur = this.#active;
    // Segments also roll with age, so the age bound drops old reports without taking fresh ones along.
    const young = cur && (cur.seg.records === 0 || first.createdMs - cur.seg.oldestMs < this.#opts.maxAgeMs / 16);
    if (cur && young && cur.seg.bytes < this.#opts.segmentBytes && this.#segments.includes(cur.seg)) return cur;
    if (cur) {
      await cur.fh.close().catch(() => undefined);
      this.#active = undefined;
    }
    const path = join(this.#opts.dir, segmentName(first.seq));
    const fh = await open(path, 'w', PRIVATE_FILE_MODE);
    try {
      await writeFully(fh, MAGIC, 0);
      await fh.datasync();
      await syncDir(this.#opts.dir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw err;
    }
    const seg: Segment = {
      firstSeq: first.seq,
      path,
      bytes: MAGIC.length,
      lastSeq: first.seq - 1,
      records: 0,
      samples: 0,
      logRecords: 0,
      oldestMs: 0,
      newestMs: 0,
    };
    this.#segments.push(seg);
    this.#active = { seg, fh };
    return this.#active;
  }

  ack(seq: number): void {
    if (seq <= this.#ackedSeq || this.#closed) return;
    this.#ackedSeq = seq;
    if (this.#segments.some((s) => s.lastSeq <= seq && s.records > 0)) {
      void this.#serial(() => this.#removeAcked()).catch((err: unknown) =>
        this.#log.error({ err }, 'spool: removing acknowledged segments failed'),
      );
    }
    // Saved right behind the appends, one write for any number of acks meanwhile. It is renamed
    // into place but not synced: a lag after a power cut costs nothing, as on reconnect the
    // server's last_seq is acknowledged before anything is sent.
    if (!this.#ackQueued) {
      this.#ackQueued = true;
      void this.#serial(() => {
        this.#ackQueued = false;
        return this.#persistAck();
      }).catch((err: unknown) => this.#log.error({ err }, 'spool: saving the acked pointer failed'));
    }
  }

  async #persistAck(): Promise<void> {
    if (this.#ackedSeq === this.#persistedAck) return;
    const seq = this.#ackedSeq;
    const file = join(this.#opts.dir, 'acked');
    try {
      await writeFile(`${file}.tmp`, `${seq}\n`, { mode: PRIVATE_FILE_MODE });
    } catch (err) {
      await unlink(`${file}.tmp`).catch(() => undefined);
      throw err;
    }
    await rename(`${file}.tmp`, file);
    this.#persistedAck = seq;
  }

  async #removeAcked(): Promise<void> {
    // The pointer first: with acknowledged segments gone and the pointer not yet saved, a restart
    // would see a lastSeq below what was spooled, and the log shipper decides from lastSeq whether
    // its last batch reached the spool (logs/positions.ts).
    try {
      await this.#persistAck();
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      // No room for the pointer on a full disk: make room with the acknowledged segments but the
      // newest, which keeps lastSeq on disk as the pointer would, then try again.
      const acked = this.#segments.filter((s) => s.records > 0 && s.lastSeq <= this.#ackedSeq);
      for (const seg of acked.slice(0, -1)) await this.#remove(seg);
      await this.#persistAck();
    }
    for (const seg of [...this.#segments]) {
      if (seg.records === 0 || seg.lastSeq > this.#ackedSeq) continue;
      await this.#remove(seg);
    }
  }

  async #remove(seg: Segment): Promise<void> {
    const i = this.#segments.indexOf(seg);
    if (i >= 0) this.#segments.splice(i, 1);
    if (this.#active?.seg === seg) {
      await this.#active.fh.close().catch(() => undefined);
      this.#active = undefined;
    }
    await unlink(seg.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Drops whole segments, oldest first, while the spool is over its size bound or holds reports past their age. */
  async #enforceBounds(): Promise<void> {
    const { maxBytes, maxAgeMs } = this.#opts;
    const tooOld = this.#now() - maxAgeMs;
    for (;;) {
      const oldest = this.#segments[0];
      if (!oldest) return;
      const total = this.#segments.reduce((n, s) => n + s.bytes, 0);
      const reason =
        total > maxBytes && this.#segments.length > 1 ? 'size' : oldest.newestMs > 0 && oldest.newestMs < tooOld ? 'age' : undefined;
      if (!reason) return;
      await this.#drop(oldest, reason, total);
    }
  }

  /** Drops a whole segment, counting the unacknowledged reports in it under `reason`. */
  async #drop(seg: Segment, reason: DropReason, spoolBytes = this.#segments.reduce((n, s) => n + s.bytes, 0)): Promise<void> {
    const reports = this.#pendingIn(seg);
    const samples = seg.records ? Math.round((seg.samples * reports) / seg.records) : 0;
    const logRecords = seg.records ? Math.round((seg.logRecords * reports) / seg.records) : 0;
    if (reason === 'size') this.#counters.droppedBySize += reports;
    else if (reason === 'age') this.#counters.droppedByAge += reports;
    else this.#counters.droppedByDiskFull += reports;
    this.#counters.droppedSamples += samples;
    this.#counters.droppedLogRecords += logRecords;
    const fields = {
      reason,
      segment: segmentName(seg.firstSeq),
      reports,
      samples,
      logRecords,
      firstSeq: seg.firstSeq,
      lastSeq: seg.lastSeq,
      spoolBytes,
    };
    // A full disk was logged once when it filled up; each segment it takes is only a detail.
    if (reason === 'disk_full') this.#log.debug(fields, 'spool: dropped a segment to make room on a full disk');
    else
      this.#log.warn(
        fields,
        reason === 'size' ? 'spool is full: dropped its oldest unsent reports' : 'spool holds reports past spool.max_age: dropped them',
      );
    await this.#remove(seg);
  }

  reader(afterSeq: number): BacklogReader {
    return new SpoolReader(this, afterSeq, (path, offset, reason) =>
      this.#log.error({ segment: path, offset, reason }, 'spool segment damaged after it was written; skipped the rest of it'),
    );
  }

  /** The segment a reader wanting `seq` reads next, and whether it is the last one (the writer's). */
  locate(seq: number, current: Segment | undefined): { seg: Segment; last: boolean } | undefined {
    const segs = this.#segments;
    let i = current ? segs.indexOf(current) : -1;
    if (i < 0) {
      i = segs.findIndex((s) => s.lastSeq >= seq);
      if (i < 0) return undefined;
    }
    return { seg: segs[i] as Segment, last: i === segs.length - 1 };
  }

  /** A segment file that is gone from disk (removed meanwhile, or by hand) is gone from the spool too. */
  forget(seg: Segment): void {
    const i = this.#segments.indexOf(seg);
    if (i >= 0 && this.#active?.seg !== seg) this.#segments.splice(i, 1);
  }

  nextSegment(seg: Segment): Segment | undefined {
    const i = this.#segments.indexOf(seg);
    return i >= 0 ? this.#segments[i + 1] : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serial(async () => {
      await this.#persistAck();
      await this.#active?.fh.close();
      this.#active = undefined;
    });
    this.#closed = true;
  }
}

/** Reads a spool in sequence order from disk, a record at a time: memory stays flat however long the backlog. */
class SpoolReader implements BacklogReader {
  readonly #spool: Spool;
  readonly #onDamage: (path: string, offset: number, reason: string) => void;
  #wanted: number;
  #seg: Segment | undefined;
  #fh: FileHandle | undefined;
  #offset = MAGIC.length;
  #closed = false;
  readonly #header = Buffer.alloc(HEADER);

  constructor(spool: Spool, afterSeq: number, onDamage: (path: string, offset: number, reason: string) => void) {
    this.#spool = spool;
    this.#onDamage = onDamage;
    this.#wanted = afterSeq + 1;
  }

  async next(): Promise<SpooledReport | undefined> {
    while (!this.#closed) {
      const at = this.#spool.locate(this.#wanted, this.#seg);
      if (!at) return undefined;
      if (at.seg !== this.#seg && !(await this.#switchTo(at.seg))) continue;
      const seg = at.seg;
      if (this.#offset >= seg.bytes) {
        const following = this.#spool.nextSegment(seg);
        if (!following) return undefined;
        await this.#switchTo(following);
        continue;
      }
      const fh = this.#fh as FileHandle;
      const at0 = this.#offset;
      await fh.read(this.#header, 0, HEADER, at0);
      const len = this.#header.readUInt32LE(0);
      const crc = this.#header.readUInt32LE(4);
      if (len === 0 || len > MAX_RECORD || at0 + HEADER + len > seg.bytes) {
        this.#skipRest(seg, `impossible record length ${len}`);
        continue;
      }
      const body = Buffer.allocUnsafe(len);
      await fh.read(body, 0, len, at0 + HEADER);
      if (crc32(body) !== crc) {
        this.#skipRest(seg, 'record checksum mismatch');
        continue;
      }
      this.#offset += HEADER + len;
      let report: SpooledReport;
      try {
        report = decodeBody(body);
      } catch (err) {
        this.#skipRest(seg, (err as Error).message);
        continue;
      }
      if (report.seq < this.#wanted) continue;
      this.#wanted = report.seq + 1;
      return report;
    }
    return undefined;
  }

  #skipRest(seg: Segment, reason: string): void {
    this.#onDamage(seg.path, this.#offset, reason);
    this.#offset = seg.bytes;
  }

  /** False when the segment vanished meanwhile (acknowledged or dropped); the caller looks again. */
  async #switchTo(seg: Segment): Promise<boolean> {
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
    this.#seg = undefined;
    this.#offset = MAGIC.length;
    try {
      const fh = await open(seg.path, 'r');
      if (this.#closed) {
        await fh.close();
        return false;
      }
      this.#fh = fh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#spool.forget(seg);
        return false;
      }
      throw err;
    }
    this.#seg = seg;
    return true;
  }

  close(): void {
    this.#closed = true;
    void this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
  }
}

async function truncateDurably(path: string, length: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(length);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the file's own sync still holds
  } finally {
    await fh.close();
  }
}
