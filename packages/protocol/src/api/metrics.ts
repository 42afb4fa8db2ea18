import { z } from 'zod';
import { Labels, metricName, oneOrMany, Point, timeParam } from './common.ts';
import { ACROSS_AGGREGATIONS, SERIES_AGGREGATIONS } from './enums.ts';

/** At most this many buckets per series; a wider request gets a coarser step. */
export const MAX_POINTS = 11_000;
/** Metric names one /api/metrics/latest request may ask for. */
export const MAX_LATEST_NAMES = 32;

export const SeriesAggregation = z.enum(SERIES_AGGREGATIONS);
export type SeriesAggregation = z.infer<typeof SeriesAggregation>;
export const AcrossAggregation = z.enum(ACROSS_AGGREGATIONS);
export type AcrossAggregation = z.infer<typeof AcrossAggregation>;

const labelMatchers = z.string().max(2000).optional();

/** GET /api/metrics */
export const SeriesQuery = z.object({
  agent: z.string().min(1).max(128),
  name: metricName,
  labels: labelMatchers.describe('label matchers as JSON {"cpu":"0"} or k=v,k=v'),
  from: timeParam.optional(),
  to: timeParam.optional(),
  step: z.coerce.number().int().min(0).max(86_400_000).optional().describe('bucket width in ms; 0 = raw'),
  agg: SeriesAggregation.default('avg').describe('aggregation within each bucket'),
});
export const Series = z.object({ name: z.string(), labels: Labels, points: z.array(Point) });
export type Series = z.infer<typeof Series>;
export const SeriesAnswer = z.object({ series: z.array(Series), stepMs: z.number() });
export type SeriesAnswer = z.infer<typeof SeriesAnswer>;

/** GET /api/metrics/latest */
export const LatestQuery = z.object({
  agent: z.string().min(1).max(128),
  name: z
    .union([metricName, z.array(metricName).min(1).max(MAX_LATEST_NAMES)])
    .describe(`a metric name; repeat for up to ${MAX_LATEST_NAMES}`),
  labels: labelMatchers.describe('label matchers as JSON {"id":"/docker/..."} or k=v,k=v'),
  from: timeParam.optional().describe('look back to here (default: 5 minutes before to)'),
  to: timeParam.optional(),
});
export const LatestSample = z.object({ name: z.string(), labels: Labels, value: z.number().nullable(), timestampMs: z.number() });
export type LatestSample = z.infer<typeof LatestSample>;
export const LatestAnswer = z.object({ samples: z.array(LatestSample) });
export type LatestAnswer = z.infer<typeof LatestAnswer>;

/** Which agents a query across agents covers: by id, by their own labels, or all. */
const AgentFilter = {
  agent: oneOrMany(z.string().max(128), 10_000).optional().describe('only these agents (repeat); default all'),
  label: oneOrMany(z.string()).optional().describe("only agents with this label NAME=VALUE (the agent's own labels); repeat for several"),
};

/** GET /api/metrics/aggregate */
export const AggregateQuery = z.object({
  name: metricName,
  labels: labelMatchers.describe('sample label matchers as JSON or k=v,k=v'),
  ...AgentFilter,
  from: timeParam.optional(),
  to: timeParam.optional(),
  step: z.coerce.number().int().min(1000).max(86_400_000).optional().describe('bucket width in ms (default: about 300 buckets)'),
  agg: SeriesAggregation.default('avg').describe('per series, within each bucket'),
  across: AcrossAggregation.default('avg').describe('across the series of a group'),
  by: z
    .string()
    .max(500)
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*(,[a-zA-Z_][a-zA-Z0-9_]*)*$/, 'comma-separated label names')
    .optional()
    .describe('group by sample or agent labels; "agent" groups per agent'),
});
export const AggregateGroup = z.object({ group: Labels, series: z.number(), points: z.array(Point) });
export type AggregateGroup = z.infer<typeof AggregateGroup>;
export const AggregateAnswer = z.object({ stepMs: z.number(), groups: z.array(AggregateGroup) });
export type AggregateAnswer = z.infer<typeof AggregateAnswer>;

/** GET /api/metrics/top */
export const TopQuery = z.object({
  name: metricName,
  labels: labelMatchers,
  ...AgentFilter,
  from: timeParam.optional(),
  to: timeParam.optional(),
  agg: SeriesAggregation.default('avg').describe('over the whole range'),
  k: z.coerce.number().int().min(1).max(10_000).default(10),
  order: z.enum(['desc', 'asc']).default('desc'),
});
export const TopEntry = z.object({ agentId: z.string(), hostname: z.string(), labels: Labels, value: z.number() });
export type TopEntry = z.infer<typeof TopEntry>;
export const TopAnswer = z.object({ items: z.array(TopEntry) });
export type TopAnswer = z.infer<typeof TopAnswer>;

/** GET /api/metrics/names */
export const NamesQuery = z.object({ agent: z.string().max(128).optional() });
export const NamesAnswer = z.object({ names: z.array(z.string()) });
export type NamesAnswer = z.infer<typeof NamesAnswer>;
