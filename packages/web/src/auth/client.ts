import { rememberCsrf, request } from '../http.ts';

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

function remember(s: SessionState): SessionState {
  rememberCsrf(s.csrfToken);
  return s;
}

export const fetchSession = async () => remember(await request<SessionState>('GET', '/api/auth/session'));
export const signIn = async (name: string, password: string) =>
  remember(await request<SessionState>('POST', '/api/auth/signin', { name, password }));
export const setUp = async (token: string, name: string, password: string) =>
  remember(await request<SessionState>('POST', '/api/auth/setup', { token, name, password }));
export const signOut = () => request<void>('POST', '/api/auth/signout');
export const changePassword = (current: string, password: string) => request<void>('PUT', '/api/auth/password', { current, password });

export const listUsers = () => request<{ items: User[] }>('GET', '/api/users');
export const createUser = (name: string, role: Role, password: string) => request<User>('POST', '/api/users', { name, role, password });
export const updateUser = (name: string, change: { role?: Role; disabled?: boolean; unlock?: true; password?: string }) =>
  request<User>('PATCH', `/api/users/${encodeURIComponent(name)}`, change);
export const deleteUser = (name: string) => request<void>('DELETE', `/api/users/${encodeURIComponent(name)}`);

export const listTokens = () => request<{ items: ApiToken[] }>('GET', '/api/tokens');
export const createToken = (spec: { name: string; role: Role; scopes: string[]; expires: string }) =>
  request<{ token: string; record: ApiToken }>('POST', '/api/tokens', spec);
export const revokeToken = (id: string) => request<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);

export const listAudit = () => request<{ items: AuditEntry[] }>('GET', '/api/audit?limit=100');
