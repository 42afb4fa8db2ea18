import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTempDatabase } from '../../../testing/postgres.ts';
import { runServer, tempDir } from '../../../testing/processes.ts';
import { PostgresStore } from '../src/store/postgres/engine.ts';
import { reopenableStore, storeSuite } from './store-suite.ts';

// The same contract on the machine's real PostgreSQL, each test in a database of its own.
storeSuite('postgres', async ({ now, retention, maxBytes }) => {
  const db = await createTempDatabase('falconet_store');
  const open = (cap = maxBytes) => PostgresStore.open({ url: db.url, now, retention, maxBytes: cap, maintenanceIntervalMs: 0 });
  return await reopenableStore(open, { settle: (store) => store.maintain(), cleanup: () => db.drop() });
});

describe('falconet-server migrate on PostgreSQL', () => {
  it('creates the samples schema, partitioned, and is idempotent', async () => {
    const db = await createTempDatabase('falconet_migrate');
    try {
      for (let run = 0; run < 2; run++) {
        const { code, out } = await runServer(['migrate', '--data-dir', tempDir()], { FALCONET_DATABASE_URL: db.url });
        expect(code, out.join('\n')).toBe(0);
        expect(out).toContain('falconet-server: samples store (postgres) is ready');
      }
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const { rows } = await c.query(
          "SELECT relname, relkind FROM pg_class WHERE relname IN ('ts_raw', 'ts_1m', 'ts_1h', 'ts_series', 'ts_agent_seq') ORDER BY relname",
        );
        expect(rows).toEqual([
          { relname: 'ts_1h', relkind: 'p' },
          { relname: 'ts_1m', relkind: 'p' },
          { relname: 'ts_agent_seq', relkind: 'r' },
          { relname: 'ts_raw', relkind: 'p' },
          { relname: 'ts_series', relkind: 'r' },
        ]);
        expect((await c.query('SELECT max(version) AS v FROM ts_schema_version')).rows[0].v).toBe(2);
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  }, 60_000);
});
