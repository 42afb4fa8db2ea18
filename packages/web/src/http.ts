/** The dashboard's one way to the REST API: the session's cookie, its CSRF token on changes, one error class. */

/** A refusal from the server, carrying its `{error: {code, message}}` and the HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  /** The server's code (`unauthorized`, `csrf`, `not_found`, ...); `http_<status>` when the answer was not the API's JSON. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * A change made with the session cookie must echo the session's CSRF token (docs/security.md). It
 * is held in memory only: from the session answers the dashboard reads anyway, else asked for once.
 * `undefined` means not known yet.
 */
let csrf: string | null | undefined;

/** Keeps the CSRF token of a session answer (GET /api/auth/session, sign-in, setup). */
export function rememberCsrf(token: string | null): void {
  csrf = token;
}

async function csrfToken(fresh: boolean): Promise<string | null> {
  if (csrf !== undefined && !fresh) return csrf;
  try {
    csrf = (await send<{ csrfToken?: string | null }>('GET', '/api/auth/session')).csrfToken ?? null;
  } catch {
    csrf = null;
  }
  return csrf;
}

async function send<T>(method: string, path: string, body?: unknown, token?: string | null): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers['x-falconet-csrf'] = token;
  const res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'same-origin' });
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = `${res.status} ${res.statusText}`;
    try {
      const b = (await res.json()) as { error?: { code?: string; message?: string } };
      if (b.error?.code) code = b.error.code;
      if (b.error?.message) message = b.error.message;
    } catch {
      // not JSON: the status says what there is to say
    }
    throw new ApiError(res.status, code, message);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/**
 * One REST call: JSON in and out, the CSRF token on anything but GET. A change refused for its
 * token (the session was renewed meanwhile) is sent once more with a fresh one: the server did nothing.
 */
export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  if (method === 'GET') return await send<T>(method, path, body);
  try {
    return await send<T>(method, path, body, await csrfToken(false));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403 && err.code === 'csrf')) throw err;
    return await send<T>(method, path, body, await csrfToken(true));
  }
}

export const getJson = <T>(path: string) => request<T>('GET', path);
