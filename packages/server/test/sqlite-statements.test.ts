import { join } from 'node:path';
import { Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { nodeSqliteDialect } from '../src/db/node-sqlite-dialect.ts';

interface Db {
  kv: { k: string; v: number };
}

describe('the node:sqlite dialect keeps prepared statements', () => {
  it('answers a statement run again with its new parameters, and past the cache bound as before', async () => {
    const db = new Kysely<Db>({ dialect: nodeSqliteDialect(join(tempDir('falconet-sqlite-'), 'meta.db')) });
    await sql`CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`.execute(db);
    // One statement text, many parameter sets: a reused statement binds each run's own.
    for (let i = 0; i < 50; i++)
      await db
        .insertInto('kv')
        .values({ k: `key-${i}`, v: i })
        .execute();
    for (const i of [0, 17, 49]) {
      expect(await db.selectFrom('kv').select('v').where('k', '=', `key-${i}`).executeTakeFirst()).toEqual({ v: i });
    }
    // More distinct statement texts than the cache holds (256): the oldest are dropped and prepared again.
    for (let n = 1; n <= 300; n++) {
      const rows = await db.selectFrom('kv').select('k').where('v', '<', n).limit(n).execute();
      expect(rows.length).toBe(Math.min(n, 50));
    }
    expect(await db.selectFrom('kv').select('v').where('k', '=', 'key-3').executeTakeFirst()).toEqual({ v: 3 });
    // A statement that writes is not taken for one that reads after the cache returns it.
    const updated = await db.updateTable('kv').set({ v: 1000 }).where('k', '=', 'key-3').executeTakeFirst();
    expect(Number(updated.numUpdatedRows)).toBe(1);
    expect(await db.selectFrom('kv').select('v').where('k', '=', 'key-3').executeTakeFirst()).toEqual({ v: 1000 });
    // A bad statement is an error and is not kept.
    await expect(sql`SELECT nope FROM kv`.execute(db)).rejects.toThrow(/no such column/);
    await expect(sql`SELECT nope FROM kv`.execute(db)).rejects.toThrow(/no such column/);
    await db.destroy();
  });
});
