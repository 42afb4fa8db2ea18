/** The Prometheus HTTP API of the server (/api/v1/query, /api/v1/query_range), with its own answer and error shapes. */

export interface PromSeries {
  metric: Record<string, string>;
  values?: [number, string][];
  value?: [number, string];
}

export interface PromAnswer {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'matrix' | 'vector' | 'scalar' | 'string'; result: PromSeries[] | [number, string] };
}

/** A refusal as the API words it: `bad_data: 1:5: parse error: ...`. */
export class PromError extends Error {}

async function ask(path: string, params: Record<string, string>): Promise<NonNullable<PromAnswer['data']>> {
  const res = await fetch(`${path}?${new URLSearchParams(params)}`, {
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
  });
  let body: PromAnswer | { error?: { message?: string } } | undefined;
  try {
    body = (await res.json()) as PromAnswer;
  } catch {
    throw new PromError(`${res.status} ${res.statusText}`);
  }
  if ('status' in body && body.status === 'success' && body.data) return body.data;
  if ('errorType' in body && body.errorType) throw new PromError(`${body.errorType}: ${body.error ?? ''}`);
  // Sign-in and role refusals come in the REST shape.
  const rest = body as { error?: { message?: string } };
  throw new PromError(rest.error?.message ?? `${res.status} ${res.statusText}`);
}

export const queryRange = (query: string, startS: number, endS: number, stepS: number) =>
  ask('/api/v1/query_range', { query, start: String(startS), end: String(endS), step: String(stepS) });

export const queryInstant = (query: string, timeS: number) => ask('/api/v1/query', { query, time: String(timeS) });

/** `name{a="1", b="2"}` as Prometheus prints a series. */
export function seriesName(metric: Record<string, string>): string {
  const { __name__: name = '', ...rest } = metric;
  const labels = Object.keys(rest)
    .sort()
    .map((k) => `${k}="${rest[k]}"`)
    .join(', ');
  return labels ? `${name}{${labels}}` : name || '{}';
}
