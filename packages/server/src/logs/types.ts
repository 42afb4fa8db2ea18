import type { pb } from '@falconet/protocol';
import type { LogFilter } from './query.ts';

/** One stored line as the store gives it back: the agent's record with where it came from. */
export interface StoredLogLine {
  /** Stable and unique: where the line lies in the store; orders lines of equal time. */
  id: string;
  agentId: string;
  host: string;
  record: pb.LogRecord;
}

export interface LogAppendResult {
  /** The (agent, seq) pair was already stored; nothing was written. */
  duplicate: boolean;
  /** The lines as stored (with their ids), for the live tail. */
  lines: StoredLogLine[];
}

/** A time range and a query; lines whose time lies in [fromMs, toMs] and match. */
export interface LogScan {
  filter: LogFilter;
  fromMs: number;
  toMs: number;
}

export interface LogPage {
  lines: StoredLogLine[];
  /** Where the next (older) page starts; absent on the last page. */
  cursor?: string;
}

export interface LogStoreStats {
  engine: 'embedded' | 'postgres';
  bytes: number;
  lines: number;
  blocks: number;
  segments?: number;
}

/**
 * Where log lines live. Like the samples store, a report's lines and its (agent, seq) are made
 * durable in one step, so a replayed report is recognised and never stored twice.
 */
export interface LogStore {
  /** Stores one agent report's records for `host`; seq 0 means no sequence (syslog), never a duplicate. */
  appendReport(agentId: string, host: string, seq: number, records: readonly pb.LogRecord[]): Promise<LogAppendResult>;
  lastSeq(agentId: string): Promise<number>;
  /** Durably forgets the agent's last sequence (an operator's reset); resolves with what it was. */
  resetSeq(agentId: string): Promise<number>;
  /** Matching lines, newest first, `limit` at most, from `cursor` (a previous page's) on. */
  search(scan: LogScan, limit: number, cursor?: string): Promise<LogPage>;
  /** Calls `visit` with every matching line in the range, in no particular order (histograms, facets). */
  each(scan: LogScan, visit: (line: StoredLogLine) => void): Promise<void>;
  /** Matching lines per agent id (with its host), where the store counts faster than `each` (log alert rules). */
  count?(scan: LogScan): Promise<Map<string, { agentId: string; host: string; count: number }>>;
  stats(): Promise<LogStoreStats>;
  /** Runs retention and the size cap now (tests; a timer does it otherwise). */
  enforceRetention(): Promise<void>;
  close(): Promise<void>;
}
