import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { pb } from '@falconet/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';

export type RecordStream = 'stdout' | 'stderr' | 'exit' | 'refused';

/** One piece of a run's result, as kept on disk until the server acknowledges it. */
export interface OutputRecord {
  taskId: string;
  runId: string;
  seq: number;
  stream: RecordStream;
  data: string;
  exitCode: number;
  reason: string;
  timeMs: number;
  scheduledMs: number;
}

const STREAMS: Record<RecordStream, pb.TaskOutput_Stream> = {
  stdout: pb.TaskOutput_Stream.STREAM_STDOUT,
  stderr: pb.TaskOutput_Stream.STREAM_STDERR,
  exit: pb.TaskOutput_Stream.STREAM_EXIT,
  refused: pb.TaskOutput_Stream.STREAM_REFUSED,
};

export function toTaskOutput(r: OutputRecord): pb.TaskOutput {
  return {
    taskId: r.taskId,
    runId: r.runId,
    seq: r.seq,
    stream: STREAMS[r.stream],
    data: Buffer.from(r.data, 'utf8'),
    exitCode: r.exitCode,
    reason: r.reason,
    timeMs: r.timeMs,
    scheduledMs: r.scheduledMs,
  };
}

const isFinal = (s: RecordStream) => s === 'exit' || s === 'refused';

interface Run {
  runId: string;
  taskId: string;
  scheduledMs: number;
  firstMs: number;
  file: string;
  fd: number | undefined;
  lastSeq: number;
  sentSeq: number;
  ackedSeq: number;
  final: boolean;
  bytes: number;
  /** In memory while the run is live or being sent; read back from the file otherwise. */
  records: OutputRecord[] | undefined;
}

export interface OutboxOptions {
  log: Logger;
  /** Bytes on disk, at most; past it the oldest finished runs are dropped. */
  limitBytes: number;
  /** Records sent and not yet acknowledged, at most. */
  window?: number;
}

/**
 * Task results on their way to the server: every record is appended to a file per run in the
 * data directory before it is sent, sent again after every reconnect until acknowledged, and the
 * file removed once the server holds the whole run. Cron jobs that fire while the server is away
 * therefore deliver their results when it is back, and the server's dedupe by (run, seq) makes
 * that exactly once.
 */
export class TaskOutbox {
  readonly #dir: string;
  readonly #opts: OutboxOptions;
  readonly #runs = new Map<string, Run>();
  #send: ((out: pb.TaskOutput) => boolean) | undefined;
  #bytes = 0;
  readonly stats = { sent: 0, acked: 0, droppedRuns: 0 };

  constructor(dir: string, opts: OutboxOptions) {
    this.#dir = dir;
    this.#opts = opts;
  }

  get pendingRuns(): number {
    return this.#runs.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Loads what a previous process left; a run it never finished gets an "interrupted" end. */
  open(): void {
    mkdirSync(this.#dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const loaded: Run[] = [];
    for (const name of readdirSync(this.#dir)) {
      if (!name.endsWith('.jsonl')) continue;
      const file = join(this.#dir, name);
      const records = readRecords(file, this.#opts.log);
      const first = records[0];
      if (!first) {
        unlinkSync(file);
        continue;
      }
      const last = records[records.length - 1] as OutputRecord;
      loaded.push({
        runId: first.runId,
        taskId: first.taskId,
        scheduledMs: first.scheduledMs,
        firstMs: first.timeMs,
        file,
        fd: undefined,
        lastSeq: last.seq,
        sentSeq: 0,
        ackedSeq: 0,
        final: isFinal(last.stream),
        bytes: statSync(file).size,
        records: undefined,
      });
    }
    loaded.sort((a, b) => a.firstMs - b.firstMs);
    for (const run of loaded) {
      this.#bytes += run.bytes;
      this.#runs.set(run.runId, run);
    }
    for (const run of loaded) {
      if (run.final) continue;
      this.append(run.taskId, run.runId, run.scheduledMs, {
        stream: 'exit',
        data: 'the agent stopped while the task ran',
        exitCode: -1,
        reason: 'interrupted',
      });
    }
    if (loaded.length) this.#opts.log.info({ runs: loaded.length, bytes: this.#bytes }, 'task results waiting for the server');
  }

  /** Connects the outbox to the stream: `send` writes to the server, or returns false when there is none. */
  setSender(send: (out: pb.TaskOutput) => boolean): void {
    this.#send = send;
  }

  has(runId: string): boolean {
    return this.#runs.has(runId);
  }

  append(
    taskId: string,
    runId: string,
    scheduledMs: number,
    rec: Pick<OutputRecord, 'stream' | 'data'> & Partial<Pick<OutputRecord, 'exitCode' | 'reason'>>,
  ): void {
    let run = this.#runs.get(runId);
    if (run?.final) {
      this.#opts.log.warn({ runId, stream: rec.stream }, 'task output after the run ended; dropped');
      return;
    }
    if (!run) {
      run = {
        runId,
        taskId,
        scheduledMs,
        firstMs: Date.now(),
        file: join(this.#dir, `${runId}.jsonl`),
        fd: undefined,
        lastSeq: 0,
        sentSeq: 0,
        ackedSeq: 0,
        final: false,
        bytes: 0,
        records: [],
      };
      this.#runs.set(runId, run);
    }
    const record: OutputRecord = {
      taskId,
      runId,
      seq: run.lastSeq + 1,
      stream: rec.stream,
      data: rec.data,
      exitCode: rec.exitCode ?? 0,
      reason: rec.reason ?? '',
      timeMs: Date.now(),
      scheduledMs,
    };
    const line = `${JSON.stringify(record)}\n`;
    run.fd ??= openSync(run.file, 'a', PRIVATE_FILE_MODE);
    writeSync(run.fd, line);
    run.bytes += Buffer.byteLength(line);
    this.#bytes += Buffer.byteLength(line);
    run.lastSeq = record.seq;
    run.records?.push(record);
    if (isFinal(record.stream)) {
      run.final = true;
      // A finished run's result must survive a crash until the server has it.
      fsyncSync(run.fd);
      closeSync(run.fd);
      run.fd = undefined;
      this.#enforceLimit(run);
    }
    this.#pump();
  }

  /** A new stream: what was sent on the old one and not acknowledged goes again. */
  reconnected(): void {
    for (const run of this.#runs.values()) run.sentSeq = run.ackedSeq;
    this.#pump();
  }

  ack(runId: string, seq: number): void {
    const run = this.#runs.get(runId);
    if (!run) return;
    if (seq > run.ackedSeq) {
      this.stats.acked += seq - run.ackedSeq;
      run.ackedSeq = seq;
      run.sentSeq = Math.max(run.sentSeq, seq);
    }
    if (run.final && run.ackedSeq >= run.lastSeq) this.#remove(run);
    this.#pump();
  }

  /** Closes open files; what is on disk is sent by the next process. */
  close(): void {
    for (const run of this.#runs.values()) {
      if (run.fd !== undefined) closeSync(run.fd);
      run.fd = undefined;
    }
  }

  #inFlight(): number {
    let n = 0;
    for (const run of this.#runs.values()) n += run.sentSeq - run.ackedSeq;
    return n;
  }

  #pump(): void {
    const send = this.#send;
    if (!send) return;
    const window = this.#opts.window ?? 256;
    let room = window - this.#inFlight();
    for (const run of this.#runs.values()) {
      if (room <= 0) return;
      if (run.sentSeq >= run.lastSeq) continue;
      run.records ??= readRecords(run.file, this.#opts.log);
      for (const rec of run.records) {
        if (rec.seq <= run.sentSeq) continue;
        if (room <= 0) return;
        if (!send(toTaskOutput(rec))) return;
        run.sentSeq = rec.seq;
        this.stats.sent++;
        room--;
      }
      // A finished run that is all on the wire need not stay in memory; a resend reads the file.
      if (run.final && run.sentSeq >= run.lastSeq) run.records = undefined;
    }
  }

  #remove(run: Run): void {
    if (run.fd !== undefined) closeSync(run.fd);
    try {
      unlinkSync(run.file);
    } catch {
      // already gone
    }
    this.#bytes -= run.bytes;
    this.#runs.delete(run.runId);
  }

  #enforceLimit(keep: Run): void {
    if (this.#bytes <= this.#opts.limitBytes) return;
    for (const run of [...this.#runs.values()]) {
      if (this.#bytes <= this.#opts.limitBytes) break;
      if (run === keep || !run.final) continue;
      this.#opts.log.warn(
        { runId: run.runId, bytes: run.bytes, limit: this.#opts.limitBytes },
        'task outbox full (tasks.outbox_limit): dropped the oldest finished result',
      );
      this.stats.droppedRuns++;
      this.#remove(run);
    }
  }
}

/** A file's records; a torn last line (a crash mid-write) is cut off. */
function readRecords(file: string, log: Logger): OutputRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: OutputRecord[] = [];
  const lines = text.split('\n');
  // Only lines ended by a newline were written whole; the piece after the last one is torn.
  const torn = lines.pop() ?? '';
  let good = 0;
  for (const line of lines) {
    try {
      if (line) out.push(JSON.parse(line) as OutputRecord);
    } catch {
      break;
    }
    good += Buffer.byteLength(line) + 1;
  }
  if (torn || good < Buffer.byteLength(text)) {
    log.warn({ file, offset: good }, 'task outbox: cut a torn record');
    truncateSync(file, good);
  }
  return out;
}
