/**
 * Test support: signing in to a running server over HTTP, as the dashboard does, with what a
 * test needs of the answer (its status and body, the cookie and CSRF token for later requests).
 */

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked by the assertions that read it
type Json = any;

export interface SignedIn {
  status: number;
  /** The answer: the session (`mode`, `user`, `csrfToken`, `warnings`) or `{error}`. */
  body: Json;
  /** The refusal's error code, when refused. */
  code: string | undefined;
  setCookie: string | null;
  retryAfter: string | null;
  /** Headers for requests in this session: the cookie. */
  headers: Record<string, string>;
  /** Headers for a change in this session: the cookie and the CSRF token. */
  mutating: Record<string, string>;
}

/** POST /api/auth/signin on `base` (`http://127.0.0.1:PORT`), with `headers` added to the request. */
export async function signIn(base: string, name: string, password: string, headers: Record<string, string> = {}): Promise<SignedIn> {
  const res = await fetch(`${base}/api/auth/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ name, password }),
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  const setCookie = res.headers.get('set-cookie');
  const cookie = setCookie?.split(';')[0] ?? '';
  return {
    status: res.status,
    body,
    code: body?.error?.code,
    setCookie,
    retryAfter: res.headers.get('retry-after'),
    headers: { cookie },
    mutating: { cookie, 'x-falconet-csrf': body?.csrfToken as string },
  };
}
