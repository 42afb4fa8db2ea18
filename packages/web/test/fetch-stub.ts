import { vi } from 'vitest';

/** One request the dashboard made, as the stub saw it. */
export interface StubbedCall {
  method: string;
  /** Path and query, e.g. `/api/agents?limit=10000`. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

/** What the stub answers: a status (200 unless given) and a JSON body. */
export interface Answer {
  status?: number;
  body?: unknown;
}

export type StubReply = Answer | ((call: StubbedCall) => Answer | Promise<Answer>);

/**
 * A stand-in for the server, since a unit test has none: `fetch` answered from a table keyed by
 * `METHOD /path` (query left out), every call recorded. A request no route names is answered 404
 * with the server's error shape, and kept in `unrouted` so a test can say there was none.
 */
export function stubFetch(routes: Record<string, StubReply>) {
  const calls: StubbedCall[] = [];
  const unrouted: StubbedCall[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const u = new URL(String(input), 'http://falconet.test');
    const raw = typeof init.body === 'string' ? init.body : undefined;
    const call: StubbedCall = {
      method: (init.method ?? 'GET').toUpperCase(),
      url: u.pathname + u.search,
      path: u.pathname,
      query: u.searchParams,
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: raw === undefined ? undefined : JSON.parse(raw),
    };
    calls.push(call);
    const route = routes[`${call.method} ${call.path}`];
    if (!route) unrouted.push(call);
    const reply = route
      ? typeof route === 'function'
        ? await route(call)
        : route
      : { status: 404, body: { error: { code: 'not_found', message: `no stubbed route for ${call.method} ${call.path}` } } };
    const status = reply.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(reply.body ?? {}), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fetch);
  return {
    calls,
    unrouted,
    /** The calls to one route, e.g. `POST /api/tasks`. */
    to: (route: string) => calls.filter((c) => `${c.method} ${c.path}` === route),
  };
}

/** A reply the test releases when it wants, to look at the page while a request is in flight. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
