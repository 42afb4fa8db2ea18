/**
 * The few VictoriaMetrics HTTP endpoints the store uses (single-node API): Prometheus remote_write
 * in (encoded by the remote_write sender's encoder), /internal/force_flush, /api/v1/export for raw
 * samples, /api/v1/series, instant queries and /api/v1/admin/tsdb/delete_series.
 */
import { FALCONET_VERSION } from '@falconet/protocol';
import { encodeWriteRequest, type OutSeries, snappyEncode } from '../../remote-write/out/encode.ts';

/** A request VictoriaMetrics did not answer, or answered with an error; `cause` keeps the network error. */
export class VictoriaError extends Error {
  override readonly name = 'VictoriaError';
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The network error's code (ECONNREFUSED, ETIMEDOUT...): what tells the server's callers "unavailable, try again". */
  readonly code: string | undefined;
  constructor(message: string, status: number, cause?: unknown, code?: string) {
    super(message, { cause });
    this.status = status;
    this.code = code;
  }
}

/** One series from /api/v1/export: raw samples in time order, a null value (staleness marker) as NaN. */
export interface ExportedSeries {
  metric: Record<string, string>;
  ts: number[];
  vs: number[];
}

export class VictoriaClient {
  readonly url: string;
  readonly #timeoutMs: number;

  constructor(url: string, timeoutMs: number) {
    this.url = url.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  async #request(path: string, init: RequestInit = {}, what = path.split('?')[0] as string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        ...init,
        headers: { 'User-Agent': `falconet-server/${FALCONET_VERSION}`, ...init.headers },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const timedOut = e.name === 'TimeoutError';
      const why = timedOut ? `no answer within ${this.#timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new VictoriaError(
        `VictoriaMetrics at ${this.url} is unreachable (${what}: ${why})`,
        0,
        err,
        timedOut ? 'ETIMEDOUT' : e.cause?.code,
      );
    }
    if (res.status >= 300) {
      const body = (await res.text().catch(() => '')).trim().slice(0, 300);
      throw new VictoriaError(
        `VictoriaMetrics at ${this.url} answered ${what} with HTTP ${res.status}${body ? `: ${body}` : ''}`,
        res.status,
      );
    }
    return res;
  }

  async #json<T>(path: string): Promise<T> {
    const res = await this.#request(path);
    const body = (await res.json()) as { status?: string; data?: T; error?: string };
    if (body.status !== 'success')
      throw new VictoriaError(`VictoriaMetrics at ${this.url}: ${body.error ?? 'unexpected answer'}`, res.status);
    return body.data as T;
  }

  async health(): Promise<void> {
    await this.#request('/health');
  }

  /** One remote_write 1.0 request; resolves once VictoriaMetrics took every sample of it. */
  async write(series: readonly OutSeries[]): Promise<void> {
    const res = await this.#request(
      '/api/v1/write',
      {
        method: 'POST',
        headers: {
          'Content-Encoding': 'snappy',
          'Content-Type': 'application/x-protobuf',
          'X-Prometheus-Remote-Write-Version': '0.1.0',
        },
        body: snappyEncode(encodeWriteRequest(series)),
      },
      'remote_write',
    );
    await res.body?.cancel();
  }

  /** Makes what was written searchable and hands it to storage, instead of within a second or so. */
  async forceFlush(): Promise<void> {
    const res = await this.#request('/internal/force_flush');
    await res.body?.cancel();
  }

  /** Raw samples of the series the selector picks in [fromMs, toMs] (a little wider: callers trim). */
  async export(match: string, fromMs: number, toMs: number): Promise<ExportedSeries[]> {
    const q = new URLSearchParams({ 'match[]': match, start: seconds(Math.max(1, fromMs - 1)), end: seconds(toMs + 1) });
    const res = await this.#request(`/api/v1/export?${q}`);
    const text = await res.text();
    // A series may come in more than one line; lines of the same series are merged.
    const by = new Map<string, ExportedSeries>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      const s = JSON.parse(line) as { metric: Record<string, string>; values: (number | null)[]; timestamps: number[] };
      const key = JSON.stringify(Object.entries(s.metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      let e = by.get(key);
      if (!e) {
        e = { metric: s.metric, ts: [], vs: [] };
        by.set(key, e);
      }
      for (let i = 0; i < s.timestamps.length; i++) {
        e.ts.push(s.timestamps[i] as number);
        e.vs.push(s.values[i] ?? Number.NaN);
      }
    }
    for (const e of by.values()) sortByTime(e);
    return [...by.values()];
  }

  /** Label sets of the series the selector picks, over all time. */
  series(match: string): Promise<Record<string, string>[]> {
    const q = new URLSearchParams({ 'match[]': match, start: '1', end: seconds(Date.now() + FUTURE_MS) });
    return this.#json(`/api/v1/series?${q}`);
  }

  /** An instant query at `timeMs`, bypassing the result cache. */
  async query(expr: string, timeMs: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const q = new URLSearchParams({ query: expr, time: seconds(timeMs), nocache: '1' });
    const data = await this.#json<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?${q}`);
    return data.result;
  }

  async deleteSeries(match: string): Promise<void> {
    const res = await this.#request(`/api/v1/admin/tsdb/delete_series?${new URLSearchParams({ 'match[]': match })}`, { method: 'POST' });
    await res.body?.cancel();
  }
}

/** How far ahead of this clock reads look: VictoriaMetrics takes samples up to two days ahead of its own. */
export const FUTURE_MS = 2 * 86_400_000;

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function sortByTime(e: ExportedSeries): void {
  let sorted = true;
  for (let i = 1; i < e.ts.length && sorted; i++) if ((e.ts[i] as number) < (e.ts[i - 1] as number)) sorted = false;
  if (sorted) return;
  const order = e.ts.map((_, i) => i).sort((a, b) => (e.ts[a] as number) - (e.ts[b] as number));
  e.ts = order.map((i) => e.ts[i] as number);
  e.vs = order.map((i) => e.vs[i] as number);
}
