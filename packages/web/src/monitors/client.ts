/** The monitors REST API (/api/monitors), as the Monitors page uses it; the shapes are the API contract's. */
import type { Monitor, MonitorDetail, MonitorHistory, MonitorList, MonitorSpecInput, MonitorStatus, Session } from '@falconet/protocol/api';
import type { QueryClient } from '@tanstack/react-query';
import { request } from '../http.ts';

/** The list's sort keys and statuses, as the contract's MONITOR_SORTS and MONITOR_STATUSES (kept apart: those lists come with zod). */
export const SORTS = ['name', 'status', 'uptime', 'latency', 'cert'] as const;
export type MonitorSort = (typeof SORTS)[number];
export const STATUSES = ['up', 'down', 'partial', 'pending', 'paused'] as const satisfies readonly MonitorStatus[];
/** One page of the list: the server pages, the dashboard shows this many rows at a time. */
export const PAGE_SIZE = 50;

export interface ListQuery {
  q: string;
  status: MonitorStatus | '';
  sort: MonitorSort;
  order: 'asc' | 'desc';
  page: number;
}

const id = (x: string) => encodeURIComponent(x);

export function listMonitors(l: ListQuery): Promise<MonitorList> {
  const p = new URLSearchParams({ q: l.q, sort: l.sort, order: l.order, limit: String(PAGE_SIZE), offset: String(l.page * PAGE_SIZE) });
  if (l.status) p.set('status', l.status);
  return request<MonitorList>('GET', `/api/monitors?${p}`);
}
export const getMonitor = (monitorId: string) => request<MonitorDetail>('GET', `/api/monitors/${id(monitorId)}`);
export const saveMonitor = (spec: MonitorSpecInput, monitorId?: string) =>
  monitorId ? request<Monitor>('PUT', `/api/monitors/${id(monitorId)}`, spec) : request<Monitor>('POST', '/api/monitors', spec);
export const deleteMonitor = (monitorId: string) => request<void>('DELETE', `/api/monitors/${id(monitorId)}`);
export function monitorHistory(monitorId: string, fromMs: number, toMs: number, stepMs: number): Promise<MonitorHistory> {
  const p = new URLSearchParams({ from: String(Math.round(fromMs)), to: String(Math.round(toMs)), step: String(Math.round(stepMs)) });
  return request<MonitorHistory>('GET', `/api/monitors/${id(monitorId)}/history?${p}`);
}

/**
 * The fields a refusal names, each with what was wrong: the server writes a bad request as
 * `body probe.target: expected ...; body name: a name` (api/errors.ts). What names no field is under ''.
 */
export function fieldErrors(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of message.split('; ')) {
    const m = /^(?:body |request )?([A-Za-z_][\w.]*): (.+)$/s.exec(part.trim());
    const key = m ? (m[1] as string) : '';
    const text = m ? (m[2] as string) : part.trim();
    out[key] = out[key] ? `${out[key]}; ${text}` : text;
  }
  return out;
}

/** Operators and admins change monitors (so does the loopback user before any account exists); viewers only read. */
export function canOperate(session: Session | undefined): boolean {
  if (session?.mode === 'setup') return true;
  const role = session?.user?.role;
  return role === 'operator' || role === 'admin';
}

/** Puts a saved monitor into every cached page that shows it, so its row changes without waiting for the next read. */
export function patchCachedLists(client: QueryClient, saved: Monitor): void {
  client.setQueriesData<MonitorList>({ queryKey: ['monitors'] }, (list) =>
    list ? { ...list, items: list.items.map((x) => (x.id === saved.id ? saved : x)) } : list,
  );
}
