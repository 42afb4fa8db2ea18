import { ApiError } from '../api.ts';

/** The server's answer to "who am I" (GET /api/auth/session). */
export interface SessionState {
  mode: 'setup' | 'signed-in' | 'signed-out';
  user: { name: string; role: Role; kind: 'session' | 'token' | 'local' } | null;
  csrfToken: string | null;
  expiresMs: number | null;
  /** Admins only: risks the server's configuration accepted (`grpc_plaintext`). */
  warnings?: string[];
}

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export interface User {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  lockedUntilMs: number;
  createdMs: number;
  updatedMs: number;
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  scopes: string[];
  createdBy: string;
  createdMs: number;
  expiresMs: number;
  revokedMs: number;
  lastUsedMs: number;
}

export interface AuditEntry {
  id: string;
  tsMs: number;
  actor: string;
  action: string;
  target: string;
  address: string;
  outcome: string;
}

/** Held in memory only: a changing request made with the session cookie must echo it. */
let csrfToken: string | null = null;

/** A REST call with the session's CSRF token on changes; errors as ApiError with the server's message. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrfToken && method !== 'GET') headers['x-falconet-csrf'] = csrfToken;
  const res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'same-origin' });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const b = (await res.json()) as { error?: { message?: string } };
      if (b.error?.message) message = b.error.message;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, message);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

function remember(s: SessionState): SessionState {
  csrfToken = s.csrfToken;
  return s;
}

export const fetchSession = async () => remember(await call<SessionState>('GET', '/api/auth/session'));
export const signIn = async (name: string, password: string) =>
  remember(await call<SessionState>('POST', '/api/auth/signin', { name, password }));
export const setUp = async (token: string, name: string, password: string) =>
  remember(await call<SessionState>('POST', '/api/auth/setup', { token, name, password }));
export const signOut = () => call<void>('POST', '/api/auth/signout');
export const changePassword = (current: string, password: string) => call<void>('PUT', '/api/auth/password', { current, password });

export const listUsers = () => call<{ items: User[] }>('GET', '/api/users');
export const createUser = (name: string, role: Role, password: string) => call<User>('POST', '/api/users', { name, role, password });
export const updateUser = (name: string, change: { role?: Role; disabled?: boolean; unlock?: true; password?: string }) =>
  call<User>('PATCH', `/api/users/${encodeURIComponent(name)}`, change);
export const deleteUser = (name: string) => call<void>('DELETE', `/api/users/${encodeURIComponent(name)}`);

export const listTokens = () => call<{ items: ApiToken[] }>('GET', '/api/tokens');
export const createToken = (spec: { name: string; role: Role; scopes: string[]; expires: string }) =>
  call<{ token: string; record: ApiToken }>('POST', '/api/tokens', spec);
export const revokeToken = (id: string) => call<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);

export const listAudit = () => call<{ items: AuditEntry[] }>('GET', '/api/audit?limit=100');
