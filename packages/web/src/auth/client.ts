import type {
  ApiTokenList,
  AuditLogPage,
  ClusterStatus,
  NewApiToken,
  NewApiTokenBody,
  NewUserBody,
  PasswordChangeBody,
  Session,
  SetupBody,
  SignInBody,
  User,
  UserChangeBody,
  UserList,
} from '@falconet/protocol/api';
import { rememberCsrf, request } from '../http.ts';

/** Sign-in and sessions, users, API tokens and the audit log over REST; the shapes are the API contract's. */
function remember(s: Session): Session {
  rememberCsrf(s.csrfToken);
  return s;
}

export const fetchSession = async () => remember(await request<Session>('GET', '/api/auth/session'));
export const signIn = async (name: string, password: string) =>
  remember(await request<Session>('POST', '/api/auth/signin', { name, password } satisfies SignInBody));
export const setUp = async (token: string, name: string, password: string) =>
  remember(await request<Session>('POST', '/api/auth/setup', { token, name, password } satisfies SetupBody));
export const signOut = () => request<void>('POST', '/api/auth/signout');
export const changePassword = (current: string, password: string) =>
  request<void>('PUT', '/api/auth/password', { current, password } satisfies PasswordChangeBody);

export const listUsers = () => request<UserList>('GET', '/api/users');
export const createUser = (body: NewUserBody) => request<User>('POST', '/api/users', body);
export const updateUser = (name: string, change: UserChangeBody) =>
  request<User>('PATCH', `/api/users/${encodeURIComponent(name)}`, change);
export const deleteUser = (name: string) => request<void>('DELETE', `/api/users/${encodeURIComponent(name)}`);

export const listTokens = () => request<ApiTokenList>('GET', '/api/tokens');
export const createToken = (spec: NewApiTokenBody) => request<NewApiToken>('POST', '/api/tokens', spec);
export const revokeToken = (id: string) => request<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);

export const listAudit = () => request<AuditLogPage>('GET', '/api/audit?limit=100');

/** The nodes of the server's cluster (GET /api/cluster). */
export const loadCluster = () => request<ClusterStatus>('GET', '/api/cluster');
