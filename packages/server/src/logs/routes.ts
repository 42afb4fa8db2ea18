import {
  ErrorBody,
  LOG_FACETS,
  LogFacetsAnswer,
  LogFacetsQuery,
  LogHistogramAnswer,
  LogHistogramQuery,
  LogSearchAnswer,
  LogSearchQuery,
  MAX_LOG_BUCKETS,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { ApiError } from '../api/errors.ts';
import { CursorError } from './embedded.ts';
import { levelName } from './levels.ts';
import { apiLine } from './lines.ts';
import { LogFilter, QueryError } from './query.ts';
import type { LogScan, LogStore, StoredLogLine } from './types.ts';

/** Values listed per facet; the rest are summed up in no entry (the total says how many lines there were). */
const FACET_VALUES = 20;

function scanOf(q: { q: string; from?: number | undefined; to?: number | undefined }, defaultSpanMs: number): LogScan {
  const toMs = q.to ?? Date.now();
  const fromMs = q.from ?? toMs - defaultSpanMs;
  if (fromMs > toMs) throw new ApiError(400, 'bad_request', `querystring from: ${fromMs} is after to ${toMs}`);
  try {
    return { filter: new LogFilter(q.q), fromMs, toMs };
  } catch (err) {
    if (err instanceof QueryError) throw new ApiError(400, 'bad_query', `querystring q: ${err.message}`);
    throw err;
  }
}

function facetValue(l: StoredLogLine, facet: string): string | undefined {
  if (facet === 'level') return levelName(l.record.level);
  if (facet === 'host') return l.host;
  if (facet === 'source') return l.record.source;
  return l.record.labels[facet];
}

/** GET /api/logs, /api/logs/histogram, /api/logs/facets: any signed-in user (viewer and up). */
export const logsApi: FastifyPluginAsyncZod<{ logs: LogStore }> = async (app, { logs }) => {
  app.get(
    '/api/logs',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Log lines matching a query, newest first, a page at a time',
        tags: ['logs'],
        querystring: LogSearchQuery,
        response: { 200: LogSearchAnswer, 400: ErrorBody },
      },
    },
    async (req) => {
      const scan = scanOf(req.query, 3_600_000);
      try {
        const page = await logs.search(scan, req.query.limit, req.query.cursor);
        return { lines: page.lines.map(apiLine), ...(page.cursor ? { cursor: page.cursor } : {}) };
      } catch (err) {
        if (err instanceof CursorError) throw new ApiError(400, 'bad_request', `querystring ${err.message}`);
        throw err;
      }
    },
  );

  app.get(
    '/api/logs/histogram',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'How many lines match a query, per time bucket and level',
        tags: ['logs'],
        querystring: LogHistogramQuery,
        response: { 200: LogHistogramAnswer, 400: ErrorBody },
      },
    },
    async (req) => {
      const scan = scanOf(req.query, 3_600_000);
      const span = scan.toMs - scan.fromMs + 1;
      const stepMs = req.query.step ?? Math.max(1000, Math.ceil(span / 100 / 1000) * 1000);
      if (span / stepMs > MAX_LOG_BUCKETS) {
        throw new ApiError(
          400,
          'bad_request',
          `querystring step: ${stepMs} ms makes ${Math.ceil(span / stepMs)} buckets; at most ${MAX_LOG_BUCKETS}`,
        );
      }
      const start = Math.floor(scan.fromMs / stepMs) * stepMs;
      const buckets = new Map<number, { t: number; count: number; levels: Record<string, number> }>();
      for (let t = start; t <= scan.toMs; t += stepMs) buckets.set(t, { t, count: 0, levels: {} });
      await logs.each(scan, (l) => {
        const b = buckets.get(Math.floor(l.record.timeMs / stepMs) * stepMs);
        if (!b) return;
        b.count++;
        const name = levelName(l.record.level);
        b.levels[name] = (b.levels[name] ?? 0) + 1;
      });
      return { stepMs, buckets: [...buckets.values()] };
    },
  );

  app.get(
    '/api/logs/facets',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: `Value counts of ${LOG_FACETS.join(', ')} among the lines matching a query`,
        tags: ['logs'],
        querystring: LogFacetsQuery,
        response: { 200: LogFacetsAnswer, 400: ErrorBody },
      },
    },
    async (req) => {
      const scan = scanOf(req.query, 3_600_000);
      const counts = new Map<string, Map<string, number>>(LOG_FACETS.map((f) => [f, new Map()]));
      let total = 0;
      await logs.each(scan, (l) => {
        total++;
        for (const f of LOG_FACETS) {
          const v = facetValue(l, f);
          if (v === undefined) continue;
          const m = counts.get(f) as Map<string, number>;
          m.set(v, (m.get(v) ?? 0) + 1);
        }
      });
      const facets: Record<string, { value: string; count: number }[]> = {};
      for (const [f, m] of counts) {
        facets[f] = [...m]
          .map(([value, count]) => ({ value, count }))
          .sort((a, b) => b.count - a.count || a.value.localeCompare(b.value))
          .slice(0, FACET_VALUES);
      }
      return { total, facets };
    },
  );
};
