import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

/**
 * The Prometheus HTTP API over a real in-process server, on the embedded store and on PostgreSQL:
 * shapes, GET and POST, errors, credentials.
 */
for (const engine of ENGINES)
  describe(`Prometheus HTTP API on ${engine === 'sqlite' ? 'the embedded store' : 'PostgreSQL'}`, () => {
    let t: TestServer;
    let viewer: Record<string, string>;
    const now = Math.floor(Date.now() / 1000) * 1000;
    // Registered first, so the database is dropped after the server using it has stopped.
    const databases = metaDbOpener(engine);

    beforeAll(async () => {
      t = await startTestServer({ databaseUrl: await databases.url() });
      viewer = (await t.token('viewer')).headers;
      const op = (await t.token('operator')).headers;
      const samples = [];
      for (let i = 0; i < 6; i++) {
        for (const [instance, v] of [
          ['db-1:9100', 10],
          ['db-2:9100', 30],
        ] as const) {
          samples.push({
            name: 'cpu_seconds_total',
            labels: { host: instance.split(':')[0], instance, job: 'node' },
            value: v * i,
            timestampMs: now - 50_000 + i * 10_000,
          });
        }
      }
      const res = await fetch(`${t.base}/api/v1/push`, {
        method: 'POST',
        headers: { ...op, 'content-type': 'application/json' },
        body: JSON.stringify(samples),
      });
      expect(res.status).toBe(200);
      // An agent's own series carry no instance or job: they get its hostname and job="falconet".
      await t.server.registry.connected({
        agentId: 'agent-7',
        hostname: 'app-7',
        ips: [],
        os: 'linux',
        kernel: '',
        arch: 'x64',
        version: 'test',
        labels: {},
        token: '',
        bootTimeMs: 0,
        intervalMs: 10_000,
        primaryIp: '',
        platform: '',
        releaseTarget: '',
        updateBlocked: '',
        compactSamples: false,
      });
      await t.server.store.appendReport('agent-7', 1, [{ name: 'node_load1', labels: {}, value: 0.25, timestampMs: now - 1000 }]);
    });
    afterAll(async () => {
      await t?.stop();
    });

    const get = async (path: string, headers = viewer) => {
      const res = await fetch(`${t.base}${path}`, { headers });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    describe('queries', () => {
      it('answers query and query_range, GET and form-encoded POST', async () => {
        const q = `sum by (job) (rate(cpu_seconds_total[1m]))`;
        const viaGet = await get(`/api/v1/query?${new URLSearchParams({ query: q, time: String(now / 1000) })}`);
        expect(viaGet.status).toBe(200);
        expect(viaGet.body).toMatchObject({ status: 'success', data: { resultType: 'vector', result: [{ metric: { job: 'node' } }] } });
        const viaPost = await fetch(`${t.base}/api/v1/query_range`, {
          method: 'POST',
          headers: { ...viewer, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ query: q, start: String((now - 20_000) / 1000), end: String(now / 1000), step: '10s' }).toString(),
        });
        const body = (await viaPost.json()) as { data: { resultType: string; result: { values: [number, string][] }[] } };
        expect(body.data.resultType).toBe('matrix');
        expect(body.data.result[0]?.values.map((p) => p[0])).toEqual([(now - 20_000) / 1000, (now - 10_000) / 1000, now / 1000]);
        const agent = await get(`/api/v1/query?${new URLSearchParams({ query: 'node_load1{job="falconet"}', time: String(now / 1000) })}`);
        expect(agent.body).toMatchObject({
          data: { result: [{ metric: { __name__: 'node_load1', instance: 'app-7', job: 'falconet' }, value: [now / 1000, '0.25'] }] },
        });
      });

      it('lists series, label names and label values', async () => {
        const range = `start=${(now - 60_000) / 1000}&end=${now / 1000}`;
        const series = await get(`/api/v1/series?match[]=cpu_seconds_total{instance=~"db-.*"}&${range}`);
        expect((series.body.data as object[]).length).toBe(2);
        const labels = await get(`/api/v1/labels?${range}`);
        expect(labels.body.data).toEqual(expect.arrayContaining(['__name__', 'host', 'instance', 'job']));
        const values = await get(`/api/v1/label/instance/values?match[]=cpu_seconds_total&${range}`);
        expect(values.body).toEqual({ status: 'success', data: ['db-1:9100', 'db-2:9100'] });
        expect((await get('/api/v1/label/__name__/values')).body).toEqual({ status: 'success', data: ['cpu_seconds_total', 'node_load1'] });
        expect((await get('/api/v1/status/buildinfo')).body).toMatchObject({ status: 'success', data: { version: '2.42.0' } });
        expect((await get('/api/v1/metadata')).body).toEqual({ status: 'success', data: {} });
      });

      it("answers errors in Prometheus' shape", async () => {
        expect(await get('/api/v1/query')).toEqual({
          status: 400,
          body: { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": no query given' },
        });
        const syntax = await get(`/api/v1/query?query=${encodeURIComponent('rate(x[5m]')}`);
        expect(syntax.body).toMatchObject({ status: 'error', errorType: 'bad_data' });
        const step = await get(`/api/v1/query_range?query=up&start=10&end=20&step=-1`);
        expect(step.body).toMatchObject({ errorType: 'bad_data', error: expect.stringMatching(/step/) });
        const many = await get(`/api/v1/query_range?query=up&start=0&end=100000&step=1`);
        expect(many.body).toMatchObject({ errorType: 'bad_data', error: expect.stringMatching(/11,000 points/) });
        const when = await get(`/api/v1/query?query=up&time=yesterday`);
        expect(when.body).toMatchObject({
          errorType: 'bad_data',
          error: 'invalid parameter "time": cannot parse "yesterday" to a valid timestamp',
        });
        const exec = await get(
          `/api/v1/query?${new URLSearchParams({ query: 'cpu_seconds_total * on(job) cpu_seconds_total', time: String(now / 1000) })}`,
        );
        expect(exec).toMatchObject({ status: 422, body: { errorType: 'execution' } });
        expect((await get('/api/v1/series')).body).toMatchObject({ errorType: 'bad_data', error: 'no match[] parameter provided' });
      });

      it('needs a credential, as every route', async () => {
        expect((await fetch(`${t.base}/api/v1/query?query=up`)).status).toBe(401);
        expect((await fetch(`${t.base}/api/v1/query?query=up`, { headers: { authorization: 'Bearer fnet_wrong' } })).status).toBe(401);
      });
    });
  });
