import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { migrateMetaDb, openMetaDb } from '../src/db/index.ts';

describe('the metadata database on PostgreSQL', () => {
  let temp: TempDatabase | undefined;
  afterAll(async () => {
    await temp?.drop();
  });

  it('outlives its idle connections being ended by the database: a warning, then a new connection', async () => {
    temp = await createTempDatabase();
    const warn = vi.fn();
    const meta = openMetaDb({ url: temp.url, dataDir: tempDir(), log: { info: () => undefined, warn } });
    await migrateMetaDb(meta);
    expect((await meta.db.selectFrom('users').select('id').execute()).length).toBe(0);
    // What a PostgreSQL restart or an administrator does to the server's idle connections.
    const admin = new pg.Client({ connectionString: temp.url });
    await admin.connect();
    const ended = await admin.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    await admin.end();
    expect(ended.rows.length).toBeGreaterThan(0);
    await eventually(async () => warn.mock.calls.length > 0, 10_000);
    expect(warn.mock.calls[0]?.[1]).toBe('idle connection to the metadata database failed');
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(meta.db);
    expect(rows).toEqual([{ one: 1 }]);
    await meta.close();
  });

  it('outlives a connection ended while a transaction holds it: that transaction fails, the process goes on', async () => {
    temp ??= await createTempDatabase();
    const meta = openMetaDb({ url: temp.url, dataDir: tempDir(), log: { info: () => undefined, warn: () => undefined } });
    await migrateMetaDb(meta);
    const admin = new pg.Client({ connectionString: temp.url });
    await admin.connect();
    // pg emits 'error' on a client ended with no query in flight; checked out, the pool does not
    // listen, and without db/health.ts's keepClientErrors that error ends the process (vitest fails the run).
    const outcome = await meta.db
      .transaction()
      .execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
        await new Promise((r) => setTimeout(r, 300));
        await sql`SELECT 1`.execute(trx);
        return 'committed';
      })
      .catch((err: Error) => err.message);
    await admin.end();
    expect(outcome).not.toBe('committed');
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(meta.db);
    expect(rows).toEqual([{ one: 1 }]);
    await meta.close();
  });
});
