/**
 * Prometheus' HTTP query API (/api/v1/query, query_range, series, labels, label values, metadata,
 * status/buildinfo) over Falconet's store, in Prometheus' own JSON shapes and error types, GET or
 * POST (form-encoded) as Prometheus takes them. Grafana's Prometheus data source uses it as it is,
 * with an API token as its Bearer credential.
 */
import { FALCONET_VERSION } from '@falconet/protocol';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import '../api/access.ts';
import type { Store } from '../store/types.ts';
import { formatFloat } from './aggregate.ts';
import type { LabelMatcher } from './ast.ts';
import { Evaluator, PromQLError, type PromQLErrorType } from './engine.ts';
import type { MetadataStore } from './metadata.ts';
import { PromQLParseError, parseDuration, parsePromQL } from './parser.ts';
import { type SourceAgent, StoreSeriesSource } from './store-source.ts';
import { labelKey, type Metric, type Value } from './values.ts';

/** The Prometheus version whose API and PromQL semantics this follows (Grafana reads it from buildinfo). */
export const PROMETHEUS_COMPAT_VERSION = '2.42.0';

/** Without start, series and label look-ups cover this much before end (Prometheus: its whole TSDB). */
const DEFAULT_LOOKUP_MS = 6 * 3_600_000;

export interface PromApiOptions {
  store: Store;
  agents: () => readonly SourceAgent[];
  /** query.timeout (default 2 m). */
  timeoutMs?: number;
  /** query.max_samples (default 50,000,000). */
  maxSamples?: number;
  /** HELP/TYPE/UNIT as senders gave them; without it /api/v1/metadata answers {}. */
  metadata?: MetadataStore;
}

type Params = Record<string, string | string[] | undefined>;

class BadData extends Error {}

const STATUS: Record<PromQLErrorType | 'internal', number> = { bad_data: 400, execution: 422, timeout: 503, canceled: 499, internal: 500 };

function fail(reply: FastifyReply, type: PromQLErrorType | 'internal', message: string) {
  return reply.status(STATUS[type]).send({ status: 'error', errorType: type, error: message });
}

function one(p: Params, name: string): string | undefined {
  const v = p[name];
  return Array.isArray(v) ? v.at(-1) : v;
}

function many(p: Params, name: string): string[] {
  const v = p[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A time parameter: unix seconds (fractions allowed) or RFC 3339, in ms. */
export function parseTime(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (text.trim() !== '' && Number.isFinite(n)) return Math.round(n * 1000);
  if (/^\d{4}-\d\d-\d\dT/.test(text)) {
    const d = Date.parse(text);
    if (!Number.isNaN(d)) return d;
  }
  throw new BadData(`invalid parameter "${name}": cannot parse "${text}" to a valid timestamp`);
}

function parseStep(text: string | undefined): number {
  if (text === undefined || text === '') throw new BadData('invalid parameter "step": cannot parse "" to a valid duration');
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new BadData(`invalid parameter "step": cannot parse "${text}" to a valid duration`);
  }
  if (ms <= 0) throw new BadData('zero or negative query resolution step widths are not accepted. Try a positive integer');
  return ms;
}

function sampleJson(t: number, v: number): [number, string] {
  return [t / 1000, formatFloat(v)];
}

function resultJson(v: Value, t: number): { resultType: string; result: unknown } {
  switch (v.type) {
    case 'scalar':
      return { resultType: 'scalar', result: sampleJson(t, v.value) };
    case 'string':
      return { resultType: 'string', result: [t / 1000, v.value] };
    case 'vector':
      return { resultType: 'vector', result: v.samples.map((s) => ({ metric: s.metric, value: sampleJson(t, s.value) })) };
    case 'matrix':
      return {
        resultType: 'matrix',
        result: [...v.series]
          .sort((a, b) => (labelKey(a.metric) < labelKey(b.metric) ? -1 : 1))
          .map((s) => ({
            metric: s.metric,
            values: Array.from({ length: s.ts.length }, (_, i) => sampleJson(s.ts[i] as number, s.vs[i] as number)),
          })),
      };
  }
}

/** The matchers of a match[] parameter, which must be a plain series selector. */
function selectorMatchers(text: string): LabelMatcher[] {
  const e = parsePromQL(text);
  if (e.type !== 'vector') throw new BadData(`invalid parameter "match[]": ${text} is not a series selector`);
  return e.matchers;
}

export const promApi: FastifyPluginAsync<PromApiOptions> = async (app, opts) => {
  // Prometheus takes POST bodies form-encoded, with the same parameters as the query string.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const out: Params = {};
    for (const [k, v] of new URLSearchParams(body as string)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    done(null, out);
  });
  const params = (req: FastifyRequest): Params => ({ ...(req.query as Params), ...((req.body as Params | undefined) ?? {}) });
  const source = () => new StoreSeriesSource(opts.store, opts.agents);
  const limits = {
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.maxSamples !== undefined ? { maxSamples: opts.maxSamples } : {}),
  };

  const route = (url: string, handler: (p: Params, req: FastifyRequest) => Promise<unknown>) => {
    const h = async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const data = await handler(params(req), req);
        return reply.send({ status: 'success', data });
      } catch (err) {
        if (err instanceof BadData || err instanceof PromQLParseError) return fail(reply, 'bad_data', err.message);
        if (err instanceof PromQLError) return fail(reply, err.type, err.message);
        req.log.error({ err }, 'PromQL query failed');
        return fail(reply, 'internal', (err as Error).message);
      }
    };
    // Queries are reads, also over POST: not audited as changes.
    const config = { config: { minRole: 'viewer' as const, audit: false }, schema: { hide: true } };
    app.get(url, config, h);
    app.post(url, config, h);
  };

  route('/api/v1/query', async (p) => {
    const query = one(p, 'query');
    if (!query) throw new BadData('invalid parameter "query": no query given');
    const t = parseTime(one(p, 'time'), 'time', Date.now());
    const expr = parsePromQL(query);
    const ev = new Evaluator({ startMs: t, endMs: t, stepMs: 0, ...limits, ...lookback(p) });
    await ev.load(expr, source());
    return resultJson(ev.run(expr), t);
  });

  route('/api/v1/query_range', async (p) => {
    const query = one(p, 'query');
    if (!query) throw new BadData('invalid parameter "query": no query given');
    const start = parseTime(one(p, 'start'), 'start', Number.NaN);
    const end = parseTime(one(p, 'end'), 'end', Number.NaN);
    if (Number.isNaN(start)) throw new BadData('invalid parameter "start": cannot parse "" to a valid timestamp');
    if (Number.isNaN(end)) throw new BadData('invalid parameter "end": cannot parse "" to a valid timestamp');
    if (end < start) throw new BadData('invalid parameter "end": end timestamp must not be before start time');
    const step = parseStep(one(p, 'step'));
    if ((end - start) / step > 11_000) {
      throw new BadData('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    }
    const expr = parsePromQL(query);
    const ev = new Evaluator({ startMs: start, endMs: end, stepMs: step, ...limits, ...lookback(p) });
    await ev.load(expr, source());
    return resultJson(ev.run(expr), end);
  });

  const lookup = async (p: Params, required: boolean): Promise<Metric[]> => {
    const matches = many(p, 'match[]');
    if (required && matches.length === 0) throw new BadData('no match[] parameter provided');
    const end = parseTime(one(p, 'end'), 'end', Date.now());
    const start = parseTime(one(p, 'start'), 'start', end - DEFAULT_LOOKUP_MS);
    const sets = matches.length ? matches.map(selectorMatchers) : [[{ name: '__name__', op: '=~', value: '.+' } as LabelMatcher]];
    const src = source();
    const seen = new Map<string, Metric>();
    for (const ms of sets) for (const s of await src.select(ms, start, end)) seen.set(labelKey(s.metric), s.metric);
    return [...seen.values()];
  };

  route('/api/v1/series', async (p) => lookup(p, true));

  route('/api/v1/labels', async (p) => {
    const names = new Set<string>();
    for (const m of await lookup(p, false)) for (const n of Object.keys(m)) names.add(n);
    return [...names].sort();
  });

  const labelValues = async (req: FastifyRequest, reply: FastifyReply) => {
    const name = (req.params as { name: string }).name;
    try {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new BadData(`invalid label name: "${name}"`);
      const p = params(req);
      // Metric names without match[] (Grafana's metric browser asks often) come from the store's name index,
      // not from reading every series: names kept in the store, whatever the range.
      if (name === '__name__' && many(p, 'match[]').length === 0) {
        return reply.send({ status: 'success', data: (await opts.store.metricNames()).sort() });
      }
      const values = new Set<string>();
      for (const m of await lookup(p, false)) if (m[name] !== undefined) values.add(m[name] as string);
      return reply.send({ status: 'success', data: [...values].sort() });
    } catch (err) {
      if (err instanceof BadData || err instanceof PromQLParseError) return fail(reply, 'bad_data', err.message);
      if (err instanceof PromQLError) return fail(reply, err.type, err.message);
      throw err;
    }
  };
  app.get('/api/v1/label/:name/values', { config: { minRole: 'viewer' }, schema: { hide: true } }, labelValues);

  // Prometheus' parameters: limit (families), limit_per_metric, metric (one family).
  route('/api/v1/metadata', async (p) => {
    const int = (name: string): number | undefined => {
      const text = one(p, name);
      if (text === undefined || text === '') return undefined;
      const n = Number(text);
      if (!Number.isInteger(n)) throw new BadData(`invalid parameter "${name}": "${text}" is not an integer`);
      return n;
    };
    const limit = int('limit');
    const limitPerMetric = int('limit_per_metric');
    const metric = one(p, 'metric');
    return (
      opts.metadata?.query({
        ...(metric ? { metric } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(limitPerMetric !== undefined ? { limitPerMetric } : {}),
      }) ?? {}
    );
  });

  route('/api/v1/status/buildinfo', async () => ({
    version: PROMETHEUS_COMPAT_VERSION,
    revision: `falconet-${FALCONET_VERSION}`,
    branch: 'falconet',
    buildUser: 'falconet',
    buildDate: '',
    goVersion: 'none (falconet-server, TypeScript)',
  }));
};

function lookback(p: Params): { lookbackMs?: number } {
  const text = one(p, 'lookback_delta');
  if (!text) return {};
  try {
    return { lookbackMs: parseDuration(text) };
  } catch {
    throw new BadData(`invalid parameter "lookback_delta": cannot parse "${text}" to a valid duration`);
  }
}
