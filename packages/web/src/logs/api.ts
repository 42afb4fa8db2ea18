import type { LogFacetsAnswer, LogHistogramAnswer, LogSearchAnswer } from '@falconet/protocol/api';
import { getJson } from '../http.ts';

export interface LogScope {
  q: string;
  fromMs: number;
  toMs: number;
}

const params = (s: LogScope, extra: Record<string, string> = {}) =>
  new URLSearchParams({ q: s.q, from: String(Math.round(s.fromMs)), to: String(Math.round(s.toMs)), ...extra });

/** One page of lines, newest first; `cursor` asks for the page after a previous one. */
export const searchLogs = (s: LogScope, cursor?: string, limit = 200) =>
  getJson<LogSearchAnswer>(`/api/logs?${params(s, { limit: String(limit), ...(cursor ? { cursor } : {}) })}`);

export const logHistogram = (s: LogScope) => getJson<LogHistogramAnswer>(`/api/logs/histogram?${params(s)}`);

export const logFacets = (s: LogScope) => getJson<LogFacetsAnswer>(`/api/logs/facets?${params(s)}`);
