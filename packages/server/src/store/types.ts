import type { Labels, Sample } from '@falconet/protocol';
import type { AcrossAggregation, SeriesAggregation as Aggregation } from '@falconet/protocol/api';

/** What the server knows about one agent, from its Register message and its traffic. */
export interface AgentRecord {
  id: string;
  hostname: string;
  ips: string[];
  primaryIp: string;
  os: string;
  kernel: string;
  arch: string;
  platform: string;
  version: string;
  /** Labels the agent declares about itself (its config): shown and filtered on, never trusted to choose it for tasks. */
  labels: Record<string, string>;
  /** Labels fixed in the token it last registered with: trusted (absent in records from before they existed). */
  tokenLabels?: Record<string, string>;
  bootTimeMs: number;
  intervalMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** The latest value of each summary metric (CPU %, memory %, rates), for lists and cards. */
  summary: Record<string, number>;
}

/** How the points inside one time bucket become one value (the API's), and how several series' values in one bucket do. */
export type { AcrossAggregation, Aggregation };

export interface SeriesQuery {
  agentId: string;
  name: string;
  /** Equality matchers on labels; a series must carry each of them. */
  labels?: Labels;
  fromMs: number;
  toMs: number;
  /** Bucket width for server-side downsampling; 0 or absent returns raw points. */
  stepMs?: number;
  agg?: Aggregation;
}

export interface SeriesResult {
  name: string;
  labels: Labels;
  /** [timestamp_ms, value] pairs in time order; bucket start times when downsampled. */
  points: [number, number][];
  /** The bucket width really used: a rollup tier rounds the step up to whole 1 m / 1 h buckets. */
  stepMs?: number;
}

/** One metric across many agents (or all), bucketed in time, then combined across series. */
export interface AggregateQuery {
  name: string;
  labels?: Labels;
  /** Only these agents; absent means every agent that has the metric. */
  agentIds?: readonly string[];
  fromMs: number;
  toMs: number;
  stepMs: number;
  /** Within a bucket, per series (default avg). */
  agg?: Aggregation;
  /** Across the series of a group (default avg). */
  across?: AcrossAggregation;
  /** Group by these label names: a sample label, else the agent's own label from `agentLabels`. */
  by?: readonly string[];
  agentLabels?: (agentId: string) => Labels | undefined;
}

export interface AggregateResult {
  /** The values of the `by` labels for this group ("" when a series lacks one). */
  group: Record<string, string>;
  /** How many series fed the group. */
  series: number;
  points: [number, number][];
  stepMs?: number;
}

/** The k series ranking highest (or lowest) by one aggregation over the whole range. */
export interface TopKQuery {
  name: string;
  labels?: Labels;
  agentIds?: readonly string[];
  fromMs: number;
  toMs: number;
  agg: Exclude<Aggregation, 'sum' | 'count'> | 'sum' | 'count';
  k: number;
  order?: 'desc' | 'asc';
}

export interface TopKEntry {
  agentId: string;
  labels: Labels;
  value: number;
}

/** One label matcher of a selector, as PromQL has them; `test` gets undefined for a missing label. */
export interface LabelTest {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  test(value: string | undefined): boolean;
}

/** Series across every host by label matchers, with their raw points: what a PromQL selector reads. */
export interface SelectQuery {
  /** Each must hold; `__name__` is the metric name. */
  matchers: readonly LabelTest[];
  fromMs: number;
  toMs: number;
  /** Labels an agent gives its series that do not carry them (PromQL's instance and job of an agent), by agent id. */
  defaults?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export interface SelectedSeries {
  agentId: string;
  name: string;
  /** The series' own labels, shared with the store's index: copy before changing. */
  labels: Readonly<Record<string, string>>;
  /** Raw points in [fromMs, toMs], in time order. */
  ts: Float64Array;
  vs: Float64Array;
}

export interface AppendResult {
  /** The (agent, seq) pair was already stored; nothing was written. */
  duplicate: boolean;
  /** Samples left out because their series would have been new past the store's series bound. */
  refusedSamples?: number;
  /** Why, in words for the sender (set with refusedSamples). */
  refusal?: string;
}

/** Sizes and counts for /metrics, benchmarks and the docs. */
export interface StoreStats {
  engine: 'embedded' | 'postgres' | 'victoriametrics';
  series: number;
  /** Bytes on disk per tier ('raw', '1m', '1h') and for the write-ahead log ('wal'). */
  bytes: Record<string, number>;
  /** Samples (raw) or rows (rollups) stored per tier, counted when written. */
  samples: Record<string, number>;
  parts?: number;
  headSamples?: number;
  compactions?: number;
  /** Samples dropped because their time was outside what the store keeps. */
  outOfBounds?: number;
  /** Disk syncs of the write-ahead log (each covers every report waiting at the time). */
  walSyncs?: number;
  /** Reports appended and their total time from call to durable, for an average. */
  appends?: number;
  appendSeconds?: number;
  /** Why the store refuses writes for now (its disk is full), absent while it takes them. */
  unwritable?: string;
  /** The bound on live series (store.max_series), 0 when there is none. */
  maxSeries?: number;
  /** Samples refused because their series would have been new past maxSeries. */
  refusedSamples?: number;
  /** The background workers' memory (their own V8 heaps and buffers), as of their last job. */
  workers?: (WorkerMemory & { name: string })[];
}

/** A worker thread's own V8 heap (in use, reserved) and buffers outside it, in bytes. */
export interface WorkerMemory {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/**
 * A write refused because the store cannot write for now (its data directory is full): nothing of
 * it was acknowledged, and the store takes writes again by itself once there is room.
 */
export class StoreUnwritableError extends Error {
  override readonly name = 'StoreUnwritableError';
}

/** Where a store says what it did and what went wrong (the server's pino logger fits). */
export interface StoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The samples store. The embedded engine needs no server; PostgreSQL is for scale. Metadata
 * (agents, tokens, users, rules, tasks) lives in the metadata database (../db).
 */
export interface Store {
  /**
   * Durably stores one agent report. Resolves only once the batch would survive a crash;
   * a report whose (agent, seq) is already stored is ignored and reported as a duplicate.
   * Many concurrent calls share one disk sync (group commit).
   */
  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult>;
  /** The highest sequence stored durably for the agent, 0 when none. */
  lastSeq(agentId: string): Promise<number>;
  /**
   * Durably forgets the agent's last sequence (an operator's reset, after a sequence jump), so its
   * next report is taken whatever its number; its samples stay. Resolves with what it was.
   */
  resetSeq(agentId: string): Promise<number>;
  /**
   * Durably deletes every series the agent has so far, with their samples in every tier (an
   * admin forgetting the agent with its data). Queries, metric names and stats stop showing them
   * as soon as it resolves; samples it sends later start new series. Its last sequence stays, so
   * reports it had already sent are still refused as duplicates. Resolves with how many series went.
   */
  dropAgent(agentId: string): Promise<number>;
  /** One agent's series of a metric, raw or downsampled (from the rollup tiers when the step allows). */
  querySeries(q: SeriesQuery): Promise<SeriesResult[]>;
  /** Across agents or labels: fleet averages, sums by label, and the like. */
  queryAggregate(q: AggregateQuery): Promise<AggregateResult[]>;
  topK(q: TopKQuery): Promise<TopKEntry[]>;
  metricNames(agentId?: string): Promise<string[]>;
  /**
   * Series of every host by label matchers, through the cross-host series index (store/postings.ts).
   * An engine without one leaves it out, and the PromQL engine asks host by host with querySeries.
   */
  selectSeries?(q: SelectQuery): Promise<SelectedSeries[]>;
  stats(): Promise<StoreStats>;
  /** Why the store refuses writes for now (its disk is full), or undefined while it takes them. */
  unwritable?(): string | undefined;
  /** Makes everything appended so far part of the on-disk tiers and runs retention (tests, shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
