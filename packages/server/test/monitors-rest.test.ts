/**
 * Monitors over REST on a real server (in-process, real ports), on the embedded database and on
 * PostgreSQL: create, read, change, delete; search, status filter, sorting, paging and counts;
 * refusals naming the field; viewers kept to reading; monitors surviving a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { startTestServer, type TestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

async function call(t: TestServer, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const spec = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  probe: { kind: 'tcp', target: '127.0.0.1:9', interval: '30s' },
  agents: { ids: ['agent-a'] },
  ...extra,
});

for (const engine of ENGINES) {
  describe(`monitors REST on ${engine}`, () => {
    const databases = metaDbOpener(engine);
    let t: TestServer;
    let dbUrl = '';
    let dataDir: string;
    beforeAll(async () => {
      dbUrl = await databases.url();
      dataDir = tempDir();
      t = await startTestServer({ databaseUrl: dbUrl, config: { data_dir: dataDir } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('creates, reads, changes and deletes a monitor; viewers only read; strangers nothing', async () => {
      const op = await t.session('operator');
      const viewer = await t.session('viewer');
      const made = await call(t, 'POST', '/api/monitors', op.mutating, spec('web', { alert_failing_locations: 2 }));
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({
        spec: { name: 'web', probe: { kind: 'tcp', target: '127.0.0.1:9', interval: 30_000 }, alert_failing_locations: 2, paused: false },
        status: 'pending',
        locationCount: 0,
        failingLocations: 0,
        uptime24h: null,
        latencyMs: null,
      });
      const id = made.body.id as string;
      const got = await call(t, 'GET', `/api/monitors/${id}`, viewer.headers);
      expect(got).toMatchObject({ status: 200, body: { id, locations: [] } });

      expect((await call(t, 'POST', '/api/monitors', viewer.mutating, spec('x'))).status).toBe(403);
      expect((await call(t, 'PUT', `/api/monitors/${id}`, viewer.mutating, spec('x'))).status).toBe(403);
      expect((await call(t, 'DELETE', `/api/monitors/${id}`, viewer.mutating)).status).toBe(403);
      expect((await call(t, 'GET', '/api/monitors', {})).status).toBe(401);
      expect((await call(t, 'GET', `/api/monitors/${id}/history?from=0&to=1000`, {})).status).toBe(401);

      const hist = await call(t, 'GET', `/api/monitors/${id}/history?from=${Date.now() - 3_600_000}&to=${Date.now()}`, viewer.headers);
      expect(hist).toMatchObject({ status: 200, body: { locations: [] } });
      const backwards = await call(t, 'GET', `/api/monitors/${id}/history?from=2000&to=1000`, viewer.headers);
      expect(backwards).toMatchObject({ status: 400, body: { error: { message: 'query to: must be after from' } } });
      expect((await call(t, 'GET', `/api/monitors/${id}/history?from=x&to=1`, viewer.headers)).body.error.message).toMatch(
        /querystring from/,
      );
      const metrics = await (await fetch(`${t.base}/metrics`, { headers: viewer.headers })).text();
      expect(metrics).toMatch(/^falconet_monitors\{status="pending"\} 1$/m);

      const put = await call(t, 'PUT', `/api/monitors/${id}`, op.mutating, spec('web2', { paused: true }));
      expect(put).toMatchObject({ status: 200, body: { id, status: 'paused', spec: { name: 'web2', paused: true } } });
      expect((await call(t, 'GET', `/api/monitors/${id}`, viewer.headers)).body.spec.name).toBe('web2');
      expect((await call(t, 'PUT', '/api/monitors/nope', op.mutating, spec('x'))).status).toBe(404);
      expect((await call(t, 'GET', '/api/monitors/nope', viewer.headers)).status).toBe(404);

      expect((await call(t, 'DELETE', `/api/monitors/${id}`, op.mutating)).status).toBe(204);
      expect((await call(t, 'GET', `/api/monitors/${id}`, viewer.headers)).status).toBe(404);
      expect((await call(t, 'DELETE', `/api/monitors/${id}`, op.mutating)).status).toBe(404);
    });

    it('refuses a bad monitor naming the field', async () => {
      const op = await t.session('operator');
      const cases: [unknown, RegExp][] = [
        [spec('x', { probe: { kind: 'tcp', target: 'no-port' } }), /body probe\.target/],
        [spec('x', { probe: { kind: 'http', target: 'ftp://example.com' } }), /body probe\.target.*http:\/\/ or https:\/\//],
        [spec('x', { probe: { kind: 'smtp', target: 'a:25' } }), /kind must be one of/],
        [spec('x', { probe: { kind: 'http', target: 'http://a/', options: { keywrd: 'x' } } }), /body probe\.options.*keywrd/],
        [spec('x', { probe: { kind: 'tcp', target: 'a:1', interval: '1s' } }), /body probe\.interval.*between 10s and 1d/],
        [spec('x', { agents: {} }), /choose the agents by ids or by labels/],
        [spec('x', { alert_failing_locations: 0 }), /body alert_failing_locations/],
        [spec('x', { channels: ['no-such-channel'] }), /body channels\.0: no alert channel has the id "no-such-channel"/],
        [{ ...spec('x'), extra: 1 }, /extra/],
        [spec(''), /body name/],
      ];
      for (const [body, message] of cases) {
        const r = await call(t, 'POST', '/api/monitors', op.mutating, body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.error.message, JSON.stringify(body)).toMatch(message);
      }
      expect((await call(t, 'GET', '/api/monitors?sort=colour', op.headers)).body.error.message).toMatch(/querystring sort/);
      expect((await call(t, 'GET', '/api/monitors?limit=5000', op.headers)).status).toBe(400);
    });

    it('searches, filters by status, sorts and pages, counting by status over the search', async () => {
      const op = await t.session('operator');
      const names = ['alpha api', 'beta api', 'gamma db', 'delta db', 'epsilon cache'];
      const ids: string[] = [];
      for (const [i, n] of names.entries()) {
        const r = await call(t, 'POST', '/api/monitors', op.mutating, spec(n, { paused: i === 4 }));
        ids.push(r.body.id);
      }
      const list = async (qs: string) => (await call(t, 'GET', `/api/monitors?${qs}`, op.headers)).body;
      const all = await list('');
      expect(all.total).toBe(5);
      expect(all.items.map((m: { spec: { name: string } }) => m.spec.name)).toEqual([...names].sort());
      expect(all.counts).toEqual({ up: 0, down: 0, partial: 0, pending: 4, paused: 1 });

      const api = await list('q=API');
      expect(api.items.map((m: { spec: { name: string } }) => m.spec.name)).toEqual(['alpha api', 'beta api']);
      expect(api.counts.pending).toBe(2);
      expect((await list('q=db%20gam')).items.map((m: { spec: { name: string } }) => m.spec.name)).toEqual(['gamma db']);
      // The target and the kind are searched too.
      expect((await list('q=127.0.0.1%20tcp')).total).toBe(5);

      const paused = await list('status=paused');
      expect(paused).toMatchObject({ total: 1, items: [{ spec: { name: 'epsilon cache' } }], counts: { pending: 4, paused: 1 } });

      const desc = await list('sort=name&order=desc&limit=2&offset=1');
      expect(desc.total).toBe(5);
      expect(desc.items.map((m: { spec: { name: string } }) => m.spec.name)).toEqual(['epsilon cache', 'delta db']);
      // Paused sorts after pending by status.
      expect((await list('sort=status&order=desc&limit=1')).items[0].spec.name).toBe('epsilon cache');
      for (const id of ids) await call(t, 'DELETE', `/api/monitors/${id}`, op.mutating);
    });

    it('keeps monitors across a restart', async () => {
      const op = await t.session('operator');
      const made = await call(t, 'POST', '/api/monitors', op.mutating, spec('kept', { agents: { labels: { role: 'edge' } } }));
      await t.stop();
      t = await startTestServer({ databaseUrl: dbUrl, config: { data_dir: dataDir }, users: false });
      expect(t.server.monitors.get(made.body.id)).toMatchObject({ spec: { name: 'kept', agents: { labels: { role: 'edge' } } } });
    });
  });
}
