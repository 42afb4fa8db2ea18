import { type FSWatcher, watch } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { pb } from '@falconet/protocol';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';
import { chooseDockerSocket } from '../containers/docker-socket.ts';
import { type EncodedLogBatch, LogBatchWriter } from '../transport/log-batch.ts';
import type { LogsConfig } from './config.ts';
import { type DockerEntry, DockerLogs } from './docker.ts';
import { ExecSource } from './exec.ts';
import { findMoved, matchFiles, READ_BYTES, TailedFile } from './files.ts';
import { type JournalEntry, JournalReader } from './journal.ts';
import type { Chunk } from './multiline.ts';
import type { PipeEntry, PipeQueue } from './pipe.ts';
import type { LineRun } from './plain.ts';
import { type FilePosition, PositionStore } from './positions.ts';
import { SourceRuntime } from './source.ts';
import { StdinSource } from './stdin.ts';

/**
 * Where batches go: the report stream (enqueueLogs), which numbers them and appends them to the
 * spool. A batch is read before enqueueLogs resolves: its bytes are then written over.
 */
export interface LogSink {
  enqueueLogs(batch: pb.LogBatch, beforeAppend: (seq: number) => Promise<void>): Promise<void>;
}

export interface LogShipperOptions {
  config: LogsConfig;
  /** DATA_DIR/logs: the read positions live here. */
  dir: string;
  sink: LogSink;
  /** The highest sequence the spool holds (Spool.lastSeq) when the agent starts. */
  spoolLastSeq: number;
  log: Logger;
  now?: () => number;
  /** What a stdin source reads: the agent's standard input unless a test gives another stream. */
  stdin?: Readable;
}

export interface LogShipperStats {
  sources: {
    name: string;
    readLines: number;
    shippedLines: number;
    dropped: Record<string, number>;
    files: number;
    /** An exec source's exits by code (or signal, or spawn_error). */
    exits?: Record<string, number>;
  }[];
  batches: number;
  shipErrors: number;
}

/** Between reads of a file with nothing new, unless fs.watch says something changed sooner. */
const IDLE_MS = 250;
const RETRY_MS = 1_000;

/**
 * Tails the configured files and hands their lines to the report stream in batches (at most
 * batch.max_lines lines, batch.max_bytes bytes, batch.max_wait old). One batch is gathered at a
 * time and reading waits while it is being spooled, so memory stays bounded by one batch and one
 * read buffer per file; the spool takes any backlog. Read positions are saved with every batch
 * (positions.ts explains the order that repeats and loses nothing on a SIGKILL), so they are at
 * most batch.max_wait behind what is in the spool.
 */
export class LogShipper {
  readonly #opts: LogShipperOptions;
  readonly #cfg: LogsConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #store: PositionStore;
  readonly #sources: SourceRuntime[];
  readonly #files = new Map<string, TailedFile>();
  #journals: JournalReader[] = [];
  #dockers: DockerLogs[] = [];
  #execs: ExecSource[] = [];
  #stdin: StdinSource | undefined;
  /** Positions from before the restart, by device:inode, until the first scan has matched them. */
  #saved = new Map<string, FilePosition>();
  /** The batch being gathered, written as it grows. */
  #batch: LogBatchWriter;
  /** Its lines by source, counted as shipped once it is spooled. */
  #batchLines = new Map<SourceRuntime, number>();
  /** A batch cut and not yet handed over (the spool failed): it goes before anything else. */
  #unsent: { batch: EncodedLogBatch; lines: Map<SourceRuntime, number> } | undefined;
  /** One read buffer for every file: a read's lines are handled before the next read. */
  #readBuffer: Buffer | undefined;
  #batchSince = 0;
  /** Offsets moved with nothing to ship (drops, closed files): saved on their own within a second. */
  #dirty = false;
  #lastSave = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #watchers: FSWatcher[] = [];
  #firstScan = true;
  readonly #stats = { batches: 0, shipErrors: 0 };

  constructor(opts: LogShipperOptions) {
    this.#opts = opts;
    this.#cfg = opts.config;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#store = new PositionStore(join(opts.dir, 'positions.json'));
    // Room for a full batch and the line that fills it, so a batch's buffer is not grown and copied.
    this.#batch = new LogBatchWriter(Math.min(opts.config.batch.max_bytes, 16 * 1024 * 1024) + 96 * 1024);
    this.#sources = opts.config.sources.map((s) => new SourceRuntime(s, opts.config.max_line_bytes, this.#now()));
  }

  get stats(): LogShipperStats {
    return {
      sources: this.#sources.map((s) => ({
        name: s.cfg.name,
        readLines: s.counters.readLines,
        shippedLines: s.counters.shippedLines,
        dropped: { ...s.counters.dropped },
        files: [...this.#files.values()].filter((f) => f.source === s).length,
        ...(s.cfg.type === 'exec' ? { exits: { ...this.#execs.find((e) => e.source === s)?.exits } } : {}),
      })),
      ...this.#stats,
    };
  }

  async start(): Promise<void> {
    await mkdir(this.#opts.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const cursors = new Map<string, string>();
    const withCursor: FilePosition[] = [];
    for (const p of await this.#store.load(this.#opts.spoolLastSeq)) {
      if (p.cursor !== undefined) {
        cursors.set(p.source, p.cursor);
        withCursor.push(p);
      } else this.#saved.set(`${p.dev}:${p.ino}`, p);
    }
    for (const src of this.#sources) {
      if (src.cfg.type !== 'docker') continue;
      const socket = src.cfg.docker_socket || chooseDockerSocket(undefined, process.env).path;
      const saved = withCursor.filter((p) => p.source === src.cfg.name);
      this.#dockers.push(new DockerLogs(src, socket, saved, this.#log, () => this.#wake?.()));
    }
    for (const src of this.#sources) {
      if (src.cfg.type !== 'journald') continue;
      const j = new JournalReader(src, cursors.get(src.cfg.name), this.#log, () => this.#wake?.());
      this.#journals.push(j);
      j.start();
    }
    for (const src of this.#sources) {
      if (src.cfg.type === 'exec') {
        const x = new ExecSource(src, this.#log, () => this.#wake?.(), this.#now);
        this.#execs.push(x);
        x.start();
      } else if (src.cfg.type === 'stdin') {
        this.#stdin = new StdinSource(src, this.#opts.stdin ?? process.stdin, this.#log, () => this.#wake?.(), this.#now);
        this.#stdin.start();
      }
    }
    this.#watch();
    this.#loop = this.#run().catch((err: unknown) => this.#log.error({ err }, 'log shipping stopped on an error'));
  }

  /**
   * Stops reading, spools the batch gathered so far and saves the positions. A file's lines held
   * back (no newline yet) are read again at the next start; a pipe's (exec, stdin) cannot be, so
   * every line a command or stdin gave is in the last batches: commands are stopped and read to
   * their end first.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const j of this.#journals) j.stop();
    for (const d of this.#dockers) d.stop();
    for (const w of this.#watchers) w.close();
    this.#wake?.();
    await this.#loop;
    this.#stdin?.stop();
    await Promise.all(this.#execs.map((x) => x.stop()));
    for (const q of this.#pipeQueues()) await this.#emitPipe(q, q.take(Number.MAX_SAFE_INTEGER));
    if (this.#gathering) await this.#ship(false);
    if (this.#batch.lines && !this.#unsent) await this.#ship(false);
    if (!this.#gathering && this.#dirty) await this.#store.saveCommitted(this.#positions()).catch(() => undefined);
    for (const f of this.#files.values()) await f.close();
    this.#files.clear();
  }

  /** fs.watch on the directories of the include globs: a hint to read sooner; the polls find everything anyway. */
  #watch(): void {
    const dirs = new Set<string>();
    for (const s of this.#cfg.sources) for (const p of s.type === 'file' ? s.include : []) dirs.add(staticDir(p));
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, () => this.#wake?.());
        w.on('error', () => undefined);
        this.#watchers.push(w);
      } catch {
        // a directory that does not exist yet: the scans find its files when it does
      }
    }
  }

  async #run(): Promise<void> {
    let nextScan = 0;
    while (!this.#stopped) {
      let now = this.#now();
      if (now >= nextScan) {
        await this.#scan(now);
        nextScan = now + this.#cfg.scan_interval;
      }
      let readBytes = 0;
      for (const file of [...this.#files.values()]) {
        // A few reads per file per round, so one busy file does not starve the others.
        for (let i = 0; i < 8 && !this.#stopped; i++) {
          let r: Awaited<ReturnType<TailedFile['read']>>;
          try {
            this.#readBuffer ??= Buffer.allocUnsafe(READ_BYTES);
            r = await file.read(this.#now(), this.#readBuffer);
          } catch (err) {
            // An I/O error on one file (a vanished NFS mount) must not stop the others: it is tried again next round.
            this.#log.warn({ source: file.source.cfg.name, path: file.path, err: (err as Error).message }, 'could not read log file');
            break;
          }
          readBytes += r.bytes;
          await this.#emit(file, r.chunks);
          if (r.run) await this.#emitRun(file, r.run);
          if (r.tail) await this.#emit(file, r.tail);
          if (r.eof) break;
        }
      }
      for (const d of this.#dockers) {
        const entries = d.takeEntries(this.#cfg.batch.max_lines);
        readBytes += entries.length;
        await this.#emitDocker(d, entries);
      }
      for (const j of this.#journals) {
        const entries = j.takeEntries(this.#cfg.batch.max_lines);
        readBytes += entries.length;
        await this.#emitJournal(j, entries);
      }
      now = this.#now();
      for (const q of this.#pipeQueues()) {
        q.flushWaiting(now, this.#cfg.partial_line_timeout);
        const entries = q.take(this.#cfg.batch.max_lines);
        readBytes += entries.length;
        await this.#emitPipe(q, entries);
      }
      now = this.#now();
      for (const [key, file] of [...this.#files]) {
        await this.#emit(file, file.flushWaiting(now, this.#cfg.partial_line_timeout, false));
        if (file.finished(now, this.#cfg.rotate_wait)) {
          await this.#emit(file, file.flushWaiting(now, 0, true));
          this.#log.info({ source: file.source.cfg.name, path: file.path, stream: file.stream }, 'finished a rotated or deleted log file');
          await file.close();
          this.#files.delete(key);
          this.#dirty = true;
        }
      }
      if (this.#gathering && now - this.#batchSince >= this.#cfg.batch.max_wait) await this.#ship(true);
      else if (!this.#gathering && this.#dirty && now - this.#lastSave >= 1_000) await this.#saveCommitted(now);
      if (readBytes === 0 && !this.#stopped) await this.#sleep(IDLE_MS);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  async #saveCommitted(now: number): Promise<void> {
    try {
      await this.#store.saveCommitted(this.#positions());
      this.#dirty = false;
      this.#lastSave = now;
    } catch (err) {
      this.#log.error({ err }, 'could not save log read positions');
    }
  }

  /** Lists the globs again: new files, rotated ones (a new inode at a path), truncated ones, gone ones. */
  async #scan(now: number): Promise<void> {
    for (const d of this.#dockers) await d.scan();
    const seen = new Set<string>();
    for (const src of this.#sources) {
      if (src.cfg.type !== 'file') continue;
      let paths: string[];
      try {
        paths = await matchFiles(src.cfg.include, src.cfg.exclude);
      } catch (err) {
        this.#log.warn({ source: src.cfg.name, err: (err as Error).message }, 'could not list log files');
        continue;
      }
      for (const path of paths) {
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile()) continue;
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const known = this.#files.get(key);
        if (known) {
          if (known.source !== src) continue;
          if (known.path !== path) this.#log.info({ source: src.cfg.name, from: known.path, to: path }, 'log file renamed; reading on');
          known.path = path;
          known.goneSince = 0;
          await this.#check(known, now);
          continue;
        }
        await this.#open(src, path, this.#saved.get(key), now);
      }
    }
    for (const file of this.#files.values()) {
      if (!seen.has(file.key) && !file.goneSince) {
        file.goneSince = now;
        this.#log.info({ source: file.source.cfg.name, path: file.path }, 'log file rotated away or deleted; reading it to its end');
      }
    }
    if (this.#firstScan) {
      this.#firstScan = false;
      // Files remembered from before the restart and at none of the paths now: rotated away while
      // the agent was stopped. Their unread end is read from where they are.
      for (const [key, saved] of this.#saved) {
        if (this.#files.has(key)) continue;
        const src = this.#sources.find((s) => s.cfg.name === saved.source);
        const path = src && (await findMoved(saved));
        if (!src || !path) continue;
        const file = await this.#open(src, path, saved, now);
        if (file) file.goneSince = now;
      }
      this.#saved = new Map();
      this.#dirty = true;
    }
  }

  async #open(src: SourceRuntime, path: string, saved: FilePosition | undefined, now: number): Promise<TailedFile | undefined> {
    try {
      const atEnd = this.#firstScan && !saved && src.cfg.start_at === 'end';
      const { file, resumed } = await TailedFile.open(src, path, { saved, atEnd, now });
      this.#files.set(file.key, file);
      const fields = { source: src.cfg.name, path, offset: file.offset };
      if (resumed === 'truncated')
        this.#log.warn(
          fields,
          'log file is shorter than where reading stopped (truncated while the agent was stopped); reading it from the start',
        );
      else if (resumed === 'replaced')
        this.#log.warn(fields, 'log file has other first bytes than before (a reused inode or a rewrite); reading it from the start');
      else this.#log.info({ ...fields, resumed }, 'reading log file');
      return file;
    } catch (err) {
      this.#log.warn({ source: src.cfg.name, path, err: (err as Error).message }, 'could not open log file');
      return undefined;
    }
  }

  async #check(file: TailedFile, now: number): Promise<void> {
    let r: Awaited<ReturnType<TailedFile['checkReplaced']>>;
    try {
      r = await file.checkReplaced(now);
    } catch (err) {
      this.#log.warn({ path: file.path, err: (err as Error).message }, 'could not check log file');
      return;
    }
    if (!r) return;
    // The old content's held-back lines go now (the batch may overflow by them), then reading starts at 0.
    this.#emitNow(file, r.leftovers);
    file.offset = 0;
    this.#dirty = true;
    this.#log.warn(
      { source: file.source.cfg.name, path: file.path, readUpTo: r.lostFrom },
      r.why === 'truncated'
        ? 'log file truncated (copytruncate?); reading it from the start. Lines written after the last read and before the truncation are not read'
        : 'log file rewritten in place (its first bytes changed); reading it from the start',
    );
  }

  /** Turns chunks into records in the batch, moving the file's offset past each; ships whenever the batch is full. */
  async #emit(file: TailedFile, chunks: readonly Chunk[]): Promise<void> {
    for (const chunk of chunks) {
      this.#emitOne(file, chunk);
      if (this.#full) await this.#ship(true);
    }
  }

  /** A run of lines shipped as read: written straight into the batch, the file's offset moved past each. */
  async #emitRun(file: TailedFile, run: LineRun): Promise<void> {
    if (this.#unsent) return;
    const src = file.source;
    const { max_lines, max_bytes } = this.#cfg.batch;
    const now = this.#now();
    if (!Number.isSafeInteger(now) || now < 0) {
      // A clock the record head cannot be written from (a test's): the lines go the general way.
      const chunks: Chunk[] = [];
      while (!run.done) run.cutLine(src.maxLineBytes, chunks);
      await this.#emit(file, chunks);
      return;
    }
    const head = LogBatchWriter.head(now, now, src.cfg.name, file.stream);
    while (!run.done) {
      const before = this.#batch.lines;
      const long = run.write(this.#batch, head, max_lines, max_bytes, src.maxLineBytes);
      const written = this.#batch.lines - before;
      if (written > 0) {
        if (before === 0) this.#batchSince = now;
        src.counters.readLines += written;
        this.#batchLines.set(src, (this.#batchLines.get(src) ?? 0) + written);
      }
      file.offset = run.offset;
      this.#dirty = true;
      if (long) {
        const pieces: Chunk[] = [];
        run.cutLine(src.maxLineBytes, pieces);
        await this.#emit(file, pieces);
      }
      if (this.#full) await this.#ship(true);
      // Stopping with the spool failing: the rest is read again at the next start.
      if (this.#unsent) return;
    }
  }

  get #full(): boolean {
    return this.#batch.lines >= this.#cfg.batch.max_lines || this.#batch.bytes >= this.#cfg.batch.max_bytes;
  }

  /** Lines gathered or cut and not yet handed over. */
  get #gathering(): boolean {
    return this.#batch.lines > 0 || this.#unsent !== undefined;
  }

  async #emitDocker(d: DockerLogs, entries: readonly DockerEntry[]): Promise<void> {
    for (const e of entries) {
      if (this.#unsent) return;
      const now = this.#now();
      d.advance(e);
      this.#dirty = true;
      const rec = d.source.toRecord({ text: e.message, offset: 0, end: 0 }, e.stream, now, e);
      await this.#add(rec, d.source, now);
    }
  }

  async #emitJournal(j: JournalReader, entries: readonly JournalEntry[]): Promise<void> {
    for (const e of entries) {
      if (this.#unsent) return;
      const now = this.#now();
      j.cursor = e.cursor;
      this.#dirty = true;
      const rec = j.source.toRecord({ text: e.message, offset: 0, end: 0 }, e.stream, now, e);
      await this.#add(rec, j.source, now);
    }
  }

  #pipeQueues(): PipeQueue[] {
    const out = this.#execs.map((x) => x.queue);
    if (this.#stdin) out.push(this.#stdin.queue);
    return out;
  }

  /** A command's or stdin's lines: no position to save, they are in the spool once their batch is. */
  async #emitPipe(q: PipeQueue, entries: readonly PipeEntry[]): Promise<void> {
    for (const e of entries) {
      const now = this.#now();
      const rec = q.source.toRecord(e.chunk, e.stream, now, { fields: e.fields });
      await this.#add(rec, q.source, now);
    }
  }

  /** One record into the batch (none: the rate limit dropped it); the batch goes when full. */
  async #add(rec: pb.LogRecord | undefined, src: SourceRuntime, now: number): Promise<void> {
    if (rec) this.#append(rec, src, now);
    if (this.#full) await this.#ship(true);
  }

  #append(rec: pb.LogRecord, src: SourceRuntime, now: number): void {
    if (!this.#batch.lines) this.#batchSince = now;
    this.#batch.add(rec);
    this.#batchLines.set(src, (this.#batchLines.get(src) ?? 0) + 1);
  }

  #emitNow(file: TailedFile, chunks: readonly Chunk[]): void {
    for (const chunk of chunks) this.#emitOne(file, chunk);
  }

  #emitOne(file: TailedFile, chunk: Chunk): void {
    // A batch the spool refused while stopping: nothing more goes past the positions saved with it; read again at the next start.
    if (this.#unsent) return;
    const now = this.#now();
    file.offset = chunk.end;
    this.#dirty = true;
    if (chunk.text === '' && !chunk.truncated) return;
    const rec = file.source.toRecord(chunk, file.stream, now);
    if (rec) this.#append(rec, file.source, now);
  }

  #positions(): FilePosition[] {
    const out = [...this.#files.values()].map((f) => f.position());
    for (const d of this.#dockers) out.push(...d.positions());
    for (const j of this.#journals) {
      if (j.cursor === undefined) continue;
      out.push({ source: j.source.cfg.name, stream: 'journal', path: '', dev: 0, ino: 0, fp: '', fpLen: 0, offset: 0, cursor: j.cursor });
    }
    return out;
  }

  /**
   * Hands the batch to the stream; the positions after it are saved (pending) before it is
   * appended to the spool. A failure (disk full) keeps the batch and tries again, reading paused,
   * until it goes or the shipper stops (`retry` false: one attempt).
   */
  async #ship(retry: boolean): Promise<void> {
    if (!this.#unsent) {
      const dropped: Record<string, number> = {};
      for (const s of this.#sources) if (s.counters.droppedUnreported) dropped[s.cfg.name] = s.counters.droppedUnreported;
      this.#unsent = { batch: this.#batch.finish(dropped), lines: this.#batchLines };
      this.#batchLines = new Map();
    }
    const { batch, lines } = this.#unsent;
    const positions = this.#positions();
    for (;;) {
      try {
        await this.#opts.sink.enqueueLogs(batch, (seq) => this.#store.savePending(seq, positions));
        this.#store.commit();
        break;
      } catch (err) {
        this.#stats.shipErrors++;
        this.#log.error({ err, lines: batch.lines }, 'could not hand log lines to the spool; trying again');
        if (!retry || this.#stopped) return;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    this.#unsent = undefined;
    // Spooled: the sink has read the batch's bytes (LogSink), so its buffer can take the batch after next.
    this.#batch.recycle(batch);
    this.#stats.batches++;
    for (const s of this.#sources) s.counters.droppedUnreported = 0;
    for (const [src, n] of lines) src.counters.shippedLines += n;
    this.#dirty = false;
    this.#lastSave = this.#now();
  }
}

/** The directory part of a glob before its first wildcard. */
function staticDir(pattern: string): string {
  const i = pattern.search(/[*?[{]/);
  return i < 0 ? dirname(pattern) : dirname(pattern.slice(0, i + 1));
}
