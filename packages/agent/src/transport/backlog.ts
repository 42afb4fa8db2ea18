import { type PayloadEncoding, PayloadKind } from '@falconet/protocol';

/**
 * One report as kept until the server acknowledges it: the samples (or log records) already
 * encoded (gzip or raw). `kind` absent means samples: reports spooled before logs existed.
 */
export interface SpooledReport {
  seq: number;
  createdMs: number;
  /** Samples, or log records for a LOGS report. */
  sampleCount: number;
  encoding: PayloadEncoding;
  payload: Buffer;
  kind?: PayloadKind;
}

/** True for a report carrying a LogBatch. */
export function isLogReport(r: SpooledReport): boolean {
  return r.kind === PayloadKind.PAYLOAD_KIND_LOGS;
}

/** Reads reports in sequence order; `next()` resolves undefined when it has caught up with the writer. */
export interface BacklogReader {
  next(): Promise<SpooledReport | undefined>;
  close(): void;
}

export interface BacklogStats {
  /** Reports appended and not yet acknowledged. */
  pendingReports: number;
  pendingBytes: number;
  appendedReports: number;
  /** Reports dropped unsent because the backlog hit its size or age bound. */
  droppedReports: number;
  droppedSamples: number;
  /** Log records in the reports dropped unsent. */
  droppedLogRecords: number;
}

/**
 * Everything the server has not acknowledged yet. The stream appends each report before sending
 * it, reads from the backlog to send (again, after a reconnect), and acknowledges what the server
 * holds. The agent's is the on-disk Spool; simulations may keep it in memory.
 */
export interface ReportBacklog {
  /** Resolves once the reports would survive a crash of this process. */
  append(reports: readonly SpooledReport[]): Promise<void>;
  /** The server holds every report up to `seq`; they may be forgotten. */
  ack(seq: number): void;
  /** Reports with a sequence above `afterSeq`, in order. */
  reader(afterSeq: number): BacklogReader;
  /** The highest sequence ever appended (0 when none). */
  readonly lastSeq: number;
  readonly ackedSeq: number;
  readonly stats: BacklogStats;
  close(): Promise<void>;
}

/** A bounded in-memory backlog (the oldest report is dropped past `maxReports`), for simulated agents. */
export class MemoryBacklog implements ReportBacklog {
  readonly #reports: SpooledReport[] = [];
  readonly #maxReports: number;
  #lastSeq = 0;
  #ackedSeq = 0;
  #appended = 0;
  #dropped = 0;
  #droppedSamples = 0;
  #droppedLogRecords = 0;

  constructor(maxReports = 10_000) {
    this.#maxReports = maxReports;
  }

  async append(reports: readonly SpooledReport[]): Promise<void> {
    for (const r of reports) {
      this.#reports.push(r);
      this.#lastSeq = Math.max(this.#lastSeq, r.seq);
      this.#appended++;
    }
    while (this.#reports.length > this.#maxReports) {
      const gone = this.#reports.shift() as SpooledReport;
      this.#dropped++;
      if (isLogReport(gone)) this.#droppedLogRecords += gone.sampleCount;
      else this.#droppedSamples += gone.sampleCount;
    }
  }

  ack(seq: number): void {
    if (seq <= this.#ackedSeq) return;
    this.#ackedSeq = seq;
    let n = 0;
    while (n < this.#reports.length && (this.#reports[n] as SpooledReport).seq <= seq) n++;
    this.#reports.splice(0, n);
  }

  reader(afterSeq: number): BacklogReader {
    let wanted = afterSeq + 1;
    return {
      next: async () => {
        const r = this.#reports.find((x) => x.seq >= wanted);
        if (r) wanted = r.seq + 1;
        return r;
      },
      close: () => undefined,
    };
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  get stats(): BacklogStats {
    return {
      pendingReports: this.#reports.length,
      pendingBytes: this.#reports.reduce((n, r) => n + r.payload.length, 0),
      appendedReports: this.#appended,
      droppedReports: this.#dropped,
      droppedSamples: this.#droppedSamples,
      droppedLogRecords: this.#droppedLogRecords,
    };
  }

  async close(): Promise<void> {}
}
