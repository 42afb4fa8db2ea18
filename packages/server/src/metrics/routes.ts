import {
  AggregateAnswer,
  AggregateQuery,
  ErrorBody,
  LatestAnswer,
  LatestQuery,
  MAX_POINTS,
  NamesAnswer,
  NamesQuery,
  type Point,
  SeriesAnswer,
  SeriesQuery,
  TopAnswer,
  TopQuery,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { ApiError, notFound } from '../api/errors.ts';
import type { AgentRegistry } from '../registry.ts';
import type { Store } from '../store/types.ts';

export const metricsApi: FastifyPluginAsyncZod<{ store: Store; registry: AgentRegistry }> = async (app, { store, registry }) => {
  app.get(
    '/api/metrics',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'History of one metric of one agent, downsampled on the server',
        tags: ['metrics'],
        querystring: SeriesQuery,
        response: { 200: SeriesAnswer, 400: ErrorBody, 404: ErrorBody },
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
          points: s.points.map(([t, v]) => [t, Number.isFinite(v) ? v : null] as Point),
        })),
      };
    },
  );

  app.get(
    '/api/metrics/latest',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "The latest sample of each series of several metrics of one agent (a table's current values in one request)",
        tags: ['metrics'],
        querystring: LatestQuery,
        response: { 200: LatestAnswer, 400: ErrorBody, 404: ErrorBody },
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
        querystring: AggregateQuery,
        response: { 200: AggregateAnswer, 400: ErrorBody },
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
          points: g.points.map(([t, v]) => [t, Number.isFinite(v) ? v : null] as Point),
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
        querystring: TopQuery,
        response: { 200: TopAnswer, 400: ErrorBody },
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
        querystring: NamesQuery,
        response: { 200: NamesAnswer, 400: ErrorBody },
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
