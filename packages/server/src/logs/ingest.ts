import { isValidLabelName, LogLevel, type pb } from '@falconet/protocol';
import type { RejectReason } from '../ingest/counters.ts';
import type { LogStore, StoredLogLine } from './types.ts';

/** Where the agent channel hands log reports: the store, then the live tail. */
export interface LogSink {
  store: LogStore;
  /** Called with lines once durable. */
  stored(lines: readonly StoredLogLine[]): void;
}

/** A record's message may be this long (bytes); the agent splits or truncates longer lines. */
export const MAX_LOG_MESSAGE_BYTES = 64 * 1024;
const MAX_LABELS = 64;
const MAX_FIELDS = 256;
const MAX_NAME = 256;
const MAX_LABEL_VALUE = 1024;
const MAX_STREAM = 4096;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_LEVEL = LogLevel.LOG_LEVEL_FATAL;

export interface LogLimits {
  maxSamplesPerReport: number;
  maxClockSkewMs: number;
}

/** The first thing wrong with a report's records, naming the record and the field, or undefined. */
export function checkLogRecords(
  records: readonly pb.LogRecord[],
  limits: LogLimits,
  nowMs: number,
): { reason: RejectReason; message: string } | undefined {
  if (records.length > limits.maxSamplesPerReport) {
    return {
      reason: 'too_many_samples',
      message: `${records.length} log records in one report; the limit is ${limits.maxSamplesPerReport} (ingest.max_samples_per_report)`,
    };
  }
  const bad = (i: number, what: string) => ({ reason: 'bad_log' as const, message: `log record ${i}: ${what}` });
  let ahead = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as pb.LogRecord;
    if (!(r.timeMs > 0)) return bad(i, `time_ms ${r.timeMs} is not a time (milliseconds since 1970)`);
    ahead = Math.max(ahead, r.timeMs - nowMs);
    if (r.source === '' || r.source.length > MAX_NAME || CONTROL.test(r.source)) {
      return bad(i, `source "${r.source.slice(0, 64)}" must be 1 to ${MAX_NAME} characters without control characters`);
    }
    if (r.stream.length > MAX_STREAM) return bad(i, `stream of ${r.stream.length} characters; at most ${MAX_STREAM}`);
    if (!Number.isInteger(r.level) || r.level < 0 || r.level > MAX_LEVEL) return bad(i, `level ${r.level} is not a LogLevel`);
    const bytes = Buffer.byteLength(r.message, 'utf8');
    if (bytes > MAX_LOG_MESSAGE_BYTES) {
      return bad(
        i,
        `message of ${bytes} bytes; at most ${MAX_LOG_MESSAGE_BYTES} (split or truncate longer lines, marking fields.truncated)`,
      );
    }
    const labels = Object.entries(r.labels);
    if (labels.length > MAX_LABELS) return bad(i, `${labels.length} labels; at most ${MAX_LABELS} (put the rest in fields)`);
    for (const [k, v] of labels) {
      if (!isValidLabelName(k)) return bad(i, `label "${k.slice(0, 64)}" is not a label name`);
      if (v.length > MAX_LABEL_VALUE) return bad(i, `label ${k}: value of ${v.length} characters; at most ${MAX_LABEL_VALUE}`);
    }
    const fields = Object.entries(r.fields);
    if (fields.length > MAX_FIELDS) return bad(i, `${fields.length} fields; at most ${MAX_FIELDS}`);
    for (const [k, v] of fields) {
      if (k === '' || k.length > MAX_NAME) return bad(i, `field name "${k.slice(0, 64)}" must be 1 to ${MAX_NAME} characters`);
      if (Buffer.byteLength(v, 'utf8') > MAX_LOG_MESSAGE_BYTES)
        return bad(i, `field ${k.slice(0, 64)}: value over ${MAX_LOG_MESSAGE_BYTES} bytes`);
    }
  }
  if (ahead > limits.maxClockSkewMs) {
    return {
      reason: 'clock_skew',
      message: `log records are stamped ${Math.round(ahead / 1000)} s ahead of the server's clock (limit ${Math.round(limits.maxClockSkewMs / 1000)} s); fix the agent host's clock (NTP)`,
    };
  }
  return undefined;
}
