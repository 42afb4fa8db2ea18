/** The logs API: search, histogram, facets (docs/api.md, docs/logs.md), and the live tail's messages. */
import { z } from 'zod';
import { timeParam } from './common.ts';

export const LOG_LEVELS = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LogLevelName = z.enum(LOG_LEVELS);
export type LogLevelName = z.infer<typeof LogLevelName>;

/** Lines one /api/logs page may hold. */
export const MAX_LOG_LIMIT = 5000;
/** Buckets one histogram may have; a finer step is refused. */
export const MAX_LOG_BUCKETS = 2000;
/** The facet fields /api/logs/facets counts. */
export const LOG_FACETS = ['level', 'host', 'source', 'unit', 'container'] as const;

const query = z
  .string()
  .max(4096)
  .default('')
  .describe('the log query (docs/logs.md): terms, "phrases", field:value, level>=warn, /regex/, NOT, OR');

/** GET /api/logs */
export const LogSearchQuery = z.object({
  q: query,
  from: timeParam.optional().describe('default: one hour before to'),
  to: timeParam.optional().describe('default: now'),
  limit: z.coerce.number().int().min(1).max(MAX_LOG_LIMIT).default(200),
  cursor: z.string().max(200).optional().describe("the previous page's cursor: the next, older, lines"),
});
export type LogSearchQuery = z.infer<typeof LogSearchQuery>;

export const LogLine = z.object({
  id: z.string(),
  timeMs: z.number(),
  observedMs: z.number(),
  agentId: z.string(),
  host: z.string(),
  source: z.string(),
  stream: z.string(),
  level: LogLevelName,
  message: z.string(),
  labels: z.record(z.string(), z.string()),
  fields: z.record(z.string(), z.string()),
});
export type LogLine = z.infer<typeof LogLine>;

export const LogSearchAnswer = z.object({
  lines: z.array(LogLine).describe('newest first'),
  cursor: z.string().optional().describe('absent on the last page'),
});
export type LogSearchAnswer = z.infer<typeof LogSearchAnswer>;

/** GET /api/logs/histogram */
export const LogHistogramQuery = z.object({
  q: query,
  from: timeParam.optional(),
  to: timeParam.optional(),
  step: z.coerce
    .number()
    .int()
    .min(1000)
    .max(86_400_000 * 31)
    .optional()
    .describe('bucket width in ms; default: about 100 buckets'),
});
export const LogHistogramAnswer = z.object({
  stepMs: z.number(),
  /** Bucket start times, oldest first, with the count of lines in each by level. */
  buckets: z.array(z.object({ t: z.number(), count: z.number(), levels: z.record(z.string(), z.number()) })),
});
export type LogHistogramAnswer = z.infer<typeof LogHistogramAnswer>;

/** GET /api/logs/facets */
export const LogFacetsQuery = z.object({ q: query, from: timeParam.optional(), to: timeParam.optional() });
export const LogFacetsAnswer = z.object({
  total: z.number(),
  facets: z.record(z.string(), z.array(z.object({ value: z.string(), count: z.number() }))),
});
export type LogFacetsAnswer = z.infer<typeof LogFacetsAnswer>;

/** Lines a resumed live tail sends at most of what it missed; past it a `logs_gap` says how many were left out. */
export const MAX_TAIL_CATCHUP_LINES = 1000;
/** How far back a resumed live tail reaches; what was stored before it is left to a search. */
export const TAIL_CATCHUP_WINDOW_MS = 10 * 60_000;

/**
 * /api/live: start (or replace) this socket's live tail with a query; stop it. `after` is the
 * `position` of the last `logs` message the client got (on a socket that dropped): the lines
 * matching `q` stored since are sent first, at most MAX_TAIL_CATCHUP_LINES of them.
 */
export const LiveLogsTail = z.object({
  type: z.literal('logs_tail'),
  q: z.string().max(4096),
  after: z.string().max(100).optional(),
});
export const LiveLogsUntail = z.object({ type: z.literal('logs_untail') });
/**
 * /api/live: lines matching the socket's tail query, as they are stored, in the order stored.
 * `position` marks where the tail stands: send it back as `after` to resume there.
 */
export const LiveLogs = z.object({ type: z.literal('logs'), lines: z.array(LogLine), position: z.string().optional() });
/**
 * /api/live: a resumed tail could not send everything it missed. `limit`: more than
 * MAX_TAIL_CATCHUP_LINES matched, `skipped` is how many older ones were left out (absent when the
 * server cannot count them); `restarted`: the position is from another server process (restarted,
 * or another node), the lines since the position's time are read from the store and lines stamped
 * earlier that arrived late may be missing; `expired`: the position is older than
 * TAIL_CATCHUP_WINDOW_MS, only that window is sent. Sent before the catch-up lines it concerns.
 */
export const LiveLogsGap = z.object({
  type: z.literal('logs_gap'),
  reason: z.enum(['limit', 'restarted', 'expired']),
  skipped: z.number().optional(),
  /** The time of the last line the client had: the gap lies after it. */
  sinceMs: z.number(),
});
export type LiveLogsGap = z.infer<typeof LiveLogsGap>;
