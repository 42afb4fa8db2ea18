import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverConfigSchema } from '../src/config.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

/**
 * query.timeout and query.max_samples on a real in-process server: a query past either is stopped
 * and answered in Prometheus' error shapes (errorType timeout, 503; execution, 422), and the server
 * goes on answering the next one.
 */
describe('PromQL limits', () => {
  let t: TestServer;
  let viewer: Record<string, string>;
  const now = Math.floor(Date.now() / 1000) * 1000;

  beforeAll(async () => {
    t = await startTestServer({ config: { query: { timeout: '300ms', max_samples: 10 } } });
    viewer = (await t.token('viewer')).headers;
    const op = (await t.token('operator')).headers;
    const samples = [];
    for (let i = 0; i < 6; i++)
      for (const host of ['db-1', 'db-2'])
        samples.push({ name: 'work_total', labels: { host }, value: i, timestampMs: now - 50_000 + i * 10_000 });
    const res = await fetch(`${t.base}/api/v1/push`, {
      method: 'POST',
      headers: { ...op, 'content-type': 'application/json' },
      body: JSON.stringify(samples),
    });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const query = async (path: string, params: Record<string, string>) => {
    const res = await fetch(`${t.base}${path}?${new URLSearchParams(params)}`, { headers: viewer });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('stops a query running past query.timeout with errorType timeout', async () => {
    // 2.6 million subquery steps: far more than 300 ms of work, whatever the machine.
    const slow = await query('/api/v1/query', { query: 'count_over_time(vector(1)[30d:1s])', time: String(now / 1000) });
    expect(slow).toEqual({
      status: 503,
      body: { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' },
    });
    const quick = await query('/api/v1/query', { query: 'vector(1)', time: String(now / 1000) });
    expect(quick.body).toMatchObject({ status: 'success', data: { resultType: 'vector' } });
  });

  it('refuses a query reading more than query.max_samples with errorType execution', async () => {
    // 12 samples in the window: over the limit of 10.
    const many = await query('/api/v1/query', { query: 'count_over_time(work_total[5m])', time: String(now / 1000) });
    expect(many).toEqual({
      status: 422,
      body: {
        status: 'error',
        errorType: 'execution',
        error: 'query processing would load too many samples into memory in query execution',
      },
    });
    // One host's 6 samples are within it.
    const few = await query('/api/v1/query', { query: 'count_over_time(work_total{host="db-1"}[5m])', time: String(now / 1000) });
    expect(few.body).toMatchObject({ status: 'success', data: { result: [{ value: [now / 1000, '6'] }] } });
    // The answer counts too: 11 steps of one series is past 10.
    const long = await query('/api/v1/query_range', {
      query: 'vector(1)',
      start: String((now - 100_000) / 1000),
      end: String(now / 1000),
      step: '10s',
    });
    expect(long).toMatchObject({ status: 422, body: { errorType: 'execution' } });
  });

  it('refuses limits that make no sense, naming the key', () => {
    const bad = serverConfigSchema.safeParse({ query: { timeout: '1ms' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['query', 'timeout']);
    const zero = serverConfigSchema.safeParse({ query: { max_samples: 0 } });
    expect(zero.error?.issues[0]?.path).toEqual(['query', 'max_samples']);
    expect(serverConfigSchema.parse({}).query).toEqual({ timeout: 120_000, max_samples: 50_000_000 });
  });
});
