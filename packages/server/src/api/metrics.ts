import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import './access.ts';
import type { AgentRegistry } from '../registry.ts';
import { ACROSS_AGGREGATIONS, AGGREGATIONS, type Store } from '../store/types.ts';
import { ApiError, notFound } from './errors.ts';
import { ErrorResponse, timeParam } from './schemas.ts';

/** At most this many buckets per series; a wider request gets a coarser step. */
const MAX_POINTS = 11_000;
/** Metric names one /api/metrics/latest request may ask for. */
const MAX_LATEST_NAMES = 32;

const SeriesSchema = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  points: z.array(z.tuple([z.number(), z.number().nullable()])),
});

export const metricsApi: FastifyPluginAsyncZod<{ store: Store; registry: AgentRegistry }> = async (app, { store, registry }) => {
  app.get(
    '/api/metrics',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'History of one metric of one agent, downsampled on the server',
        tags: ['metrics'],
        querystring: z.object({
          agent: z.string().min(1).max(128),
          name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name'),
          labels: z.string().max(2000).optional().describe('label matchers as JSON {"cpu":"0"} or k=v,k=v'),
          from: timeParam.optional(),
          to: timeParam.optional(),
          step: z.coerce.number().int().min(0).max(86_400_000).optional().describe('bucket width in ms; 0 = raw'),
          agg: z.enum(AGGREGATIONS).default('avg').describe('aggregation within each bucket'),
        }),
        response: { 200: z.object({ series: z.array(SeriesSchema), stepMs: z.number() }), 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (req) => {
      const q = req.query;
      const agent = registry.get(q.agent);
      if (!agent) throw notFound(`agent "${q.agent}"`);
      const toMs = q.to ?? Date.now();
      const fromMs = q.from ?? toMs - 3_600_000;
      if (fromMs > toMs) throw new ApiError(400, 'bad_request', `querystring from: ${fromMs} is after to ${toMs}`);
      const labels = parseMatchers(q.labels);
      // Raw points unless that would be more than MAX_POINTS at the agent's interval.
      const pointEvery = Math.max(q.step ?? 0, agent.intervalMs);
      let stepMs = q.step ?? 0;
      if ((toMs - fromMs) / pointEvery > MAX_POINTS) stepMs = Math.ceil((toMs - fromMs) / MAX_POINTS);
      const series = await store.querySeries({ agentId: q.agent, name: q.name, labels, fromMs, toMs, stepMs, agg: q.agg });
      // Rollup tiers answer in whole 1 m / 1 h buckets: report the step the points really have.
      if (series[0]?.stepMs) stepMs = series[0].stepMs;
      return {
        stepMs,
        series: series.map(({ stepMs: _, ...s }) => ({
          ...s,
          points: s.points.map(([t, v]) => [t, Number.isFinite(v) ? v : null] as [number, number | null]),
        })),
      };
    },
  );

  const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name');

  app.get(
    '/api/metrics/latest',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "The latest sample of each series of several metrics of one agent (a table's current values in one request)",
        tags: ['metrics'],
        querystring: z.object({
          agent: z.string().min(1).max(128),
          name: z
            .union([metricName, z.array(metricName).min(1).max(MAX_LATEST_NAMES)])
            .describe(`a metric name; repeat for up to ${MAX_LATEST_NAMES}`),
          labels: z.string().max(2000).optional().describe('label matchers as JSON {"id":"/docker/..."} or k=v,k=v'),
          from: timeParam.optional().describe('look back to here (default: 5 minutes before to)'),
          to: timeParam.optional(),
        }),
        response: {
          200: z.object({
            samples: z.array(
              z.object({
                name: z.string(),
                labels: z.record(z.string(), z.string()),
                value: z.number().nullable(),
                timestampMs: z.number(),
              }),
            ),
          }),
          400: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query;
      if (!registry.get(q.agent)) throw notFound(`agent "${q.agent}"`);
      const toMs = q.to ?? Date.now();
      const fromMs = q.from ?? toMs - 300_000;
      if (fromMs > toMs) throw new ApiError(400, 'bad_request', `querystring from: ${fromMs} is after to ${toMs}`);
      const labels = parseMatchers(q.labels);
      const names = [...new Set(Array.isArray(q.name) ? q.name : [q.name])];
      const results = await Promise.all(
        names.map((name) => store.querySeries({ agentId: q.agent, name, labels, fromMs, toMs, stepMs: 0 })),
      );
      const samples = [];
      for (const series of results) {
        for (const s of series) {
          const last = s.points[s.points.length - 1];
          if (!last) continue;
          samples.push({ name: s.name, labels: s.labels, value: Number.isFinite(last[1]) ? last[1] : null, timestampMs: last[0] });
        }
      }
      return { samples };
    },
  );

  const AgentFilter = {
    agent: z
      .union([z.string().max(128), z.array(z.string().max(128)).max(10_000)])
      .optional()
      .describe('only these agents (repeat); default all'),
    label: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe("only agents with this label NAME=VALUE (the agent's own labels); repeat for several"),
  };

  /** Agent ids that pass the agent and label filters; undefined = every agent. */
  const agentsFor = (agent: string | string[] | undefined, label: string | string[] | undefined): string[] | undefined => {
    const ids = agent === undefined ? undefined : Array.isArray(agent) ? agent : [agent];
    const wanted = parseAgentLabels(label);
    if (!wanted.length) return ids;
    const pool = ids ? ids.map((id) => registry.get(id)).filter((a) => a !== undefined) : registry.list();
    return pool.filter((a) => wanted.every(([k, v]) => a.labels[k] === v)).map((a) => a.id);
  };

  app.get(
    '/api/metrics/aggregate',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One metric across agents: fleet averages, sums or extremes, optionally grouped by labels',
        tags: ['metrics'],
        querystring: z.object({
          name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name'),
          labels: z.string().max(2000).optional().describe('sample label matchers as JSON or k=v,k=v'),
          ...AgentFilter,
          from: timeParam.optional(),
          to: timeParam.optional(),
          step: z.coerce.number().int().min(1000).max(86_400_000).optional().describe('bucket width in ms (default: about 300 buckets)'),
          agg: z.enum(AGGREGATIONS).default('avg').describe('per series, within each bucket'),
          across: z.enum(ACROSS_AGGREGATIONS).default('avg').describe('across the series of a group'),
          by: z
            .string()
            .max(500)
            .regex(/^[a-zA-Z_][a-zA-Z0-9_]*(,[a-zA-Z_][a-zA-Z0-9_]*)*$/, 'comma-separated label names')
            .optional()
            .describe('group by sample or agent labels; "agent" groups per agent'),
        }),
        response: {
          200: z.object({
            stepMs: z.number(),
            groups: z.array(
              z.object({
                group: z.record(z.string(), z.string()),
                series: z.number(),
                points: z.array(z.tuple([z.number(), z.number().nullable()])),
              }),
            ),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const { fromMs, toMs } = range(q.from, q.to);
      const stepMs = q.step ?? Math.max(10_000, Math.ceil((toMs - fromMs) / 300 / 1000) * 1000);
      if ((toMs - fromMs) / stepMs > MAX_POINTS)
        throw new ApiError(400, 'bad_request', `querystring step: more than ${MAX_POINTS} buckets; use a larger step`);
      const groups = await store.queryAggregate({
        name: q.name,
        labels: parseMatchers(q.labels),
        agentIds: agentsFor(q.agent, q.label),
        fromMs,
        toMs,
        stepMs,
        agg: q.agg,
        across: q.across,
        by: q.by?.split(','),
        agentLabels: (id) => registry.get(id)?.labels,
      });
      return {
        stepMs: groups[0]?.stepMs ?? stepMs,
        groups: groups.map(({ stepMs: _, ...g }) => ({
          ...g,
          points: g.points.map(([t, v]) => [t, Number.isFinite(v) ? v : null] as [number, number | null]),
        })),
      };
    },
  );

  app.get(
    '/api/metrics/top',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'The k series of a metric ranking highest (or lowest) by an aggregation over the range',
        tags: ['metrics'],
        querystring: z.object({
          name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name'),
          labels: z.string().max(2000).optional(),
          ...AgentFilter,
          from: timeParam.optional(),
          to: timeParam.optional(),
          agg: z.enum(AGGREGATIONS).default('avg').describe('over the whole range'),
          k: z.coerce.number().int().min(1).max(10_000).default(10),
          order: z.enum(['desc', 'asc']).default('desc'),
        }),
        response: {
          200: z.object({
            items: z.array(
              z.object({ agentId: z.string(), hostname: z.string(), labels: z.record(z.string(), z.string()), value: z.number() }),
            ),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const { fromMs, toMs } = range(q.from, q.to);
      const top = await store.topK({
        name: q.name,
        labels: parseMatchers(q.labels),
        agentIds: agentsFor(q.agent, q.label),
        fromMs,
        toMs,
        agg: q.agg,
        k: q.k,
        order: q.order,
      });
      return { items: top.map((e) => ({ ...e, labels: { ...e.labels }, hostname: registry.get(e.agentId)?.hostname ?? e.agentId })) };
    },
  );

  app.get(
    '/api/metrics/names',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Metric names stored, for one agent or all',
        tags: ['metrics'],
        querystring: z.object({ agent: z.string().max(128).optional() }),
        response: { 200: z.object({ names: z.array(z.string()) }), 400: ErrorResponse },
      },
    },
    async (req) => ({ names: await store.metricNames(req.query.agent) }),
  );
};

function range(from: number | undefined, to: number | undefined): { fromMs: number; toMs: number } {
  const toMs = to ?? Date.now();
  const fromMs = from ?? toMs - 3_600_000;
  if (fromMs > toMs) throw new ApiError(400, 'bad_request', `querystring from: ${fromMs} is after to ${toMs}`);
  return { fromMs, toMs };
}

export function parseAgentLabels(label: string | string[] | undefined): [string, string][] {
  return (Array.isArray(label) ? label : label ? [label] : []).map((l) => {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ApiError(400, 'bad_request', `querystring label: "${l}" is not NAME=VALUE`);
    return [l.slice(0, eq), l.slice(eq + 1)];
  });
}

function parseMatchers(raw: string | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  if (raw.trim().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ApiError(400, 'bad_request', 'querystring labels: not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
      throw new ApiError(400, 'bad_request', 'querystring labels: expected an object of string values');
    }
    return parsed as Record<string, string>;
  }
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ApiError(400, 'bad_request', `querystring labels: "${part}" is not NAME=VALUE`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
