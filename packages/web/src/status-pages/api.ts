import type {
  Incident,
  IncidentList,
  IncidentNote,
  IncidentSpecInput,
  MonitorList,
  PublicStatusPage,
  StatusPage,
  StatusPageList,
  StatusPageSpecInput,
} from '@falconet/protocol/api';
import { ApiError, getJson, request } from '../http.ts';

/** The status pages REST API (/api/status-pages) as the admin view uses it. */
const base = (id: string) => `/api/status-pages/${encodeURIComponent(id)}`;

export const fetchStatusPages = () => getJson<StatusPageList>('/api/status-pages');
export const createStatusPage = (spec: StatusPageSpecInput) => request<StatusPage>('POST', '/api/status-pages', spec);
export const updateStatusPage = (id: string, spec: StatusPageSpecInput) => request<StatusPage>('PUT', base(id), spec);
export const deleteStatusPage = (id: string) => request<void>('DELETE', base(id));
export const previewStatusPage = (id: string) => getJson<PublicStatusPage>(`${base(id)}/preview`);

export const fetchIncidents = (id: string) => getJson<IncidentList>(`${base(id)}/incidents`);
export const openIncident = (id: string, spec: IncidentSpecInput) => request<Incident>('POST', `${base(id)}/incidents`, spec);
export const addIncidentNote = (id: string, incident: string, note: IncidentNote) =>
  request<Incident>('POST', `${base(id)}/incidents/${encodeURIComponent(incident)}/updates`, note);
export const deleteIncident = (id: string, incident: string) =>
  request<void>('DELETE', `${base(id)}/incidents/${encodeURIComponent(incident)}`);

/** The monitors to choose from; none on a server without the monitors API. */
export async function fetchMonitorChoices(): Promise<{ id: string; name: string }[]> {
  try {
    const list = await getJson<MonitorList>('/api/monitors?limit=500');
    return list.items.map((m) => ({ id: m.id, name: m.spec.name }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [];
    throw err;
  }
}
