/**
 * Test support: metadata databases on either engine, each test's its own: SQLite in a fresh data
 * directory, or a fresh database on the machine's PostgreSQL, dropped after the file's tests.
 */
import { afterAll } from 'vitest';
import { createTempDatabase, type TempDatabase } from '../../../../testing/postgres.ts';
import { tempDir } from '../../../../testing/processes.ts';
import { type MetaDb, migrateMetaDb, openMetaDb } from '../../src/db/index.ts';

export const ENGINES = ['sqlite', 'postgres'] as const;
export type Engine = (typeof ENGINES)[number];

export interface MetaDbOpener {
  /** A `database.url` for a fresh database: empty for SQLite (the data directory's meta.db). */
  url(): Promise<string>;
  /** A fresh database, not yet migrated. */
  unmigrated(): Promise<MetaDb>;
  /** A fresh database with every migration applied. */
  open(): Promise<MetaDb>;
}

/** Opens fresh databases on `engine`; call it in a describe block (it registers the drop with afterAll). */
export function metaDbOpener(engine: Engine): MetaDbOpener {
  const databases: TempDatabase[] = [];
  afterAll(async () => {
    for (const d of databases.splice(0)) await d.drop();
  });
  const url = async () => {
    if (engine === 'sqlite') return '';
    const d = await createTempDatabase();
    databases.push(d);
    return d.url;
  };
  const unmigrated = async () => openMetaDb({ url: await url(), dataDir: tempDir() });
  return {
    url,
    unmigrated,
    async open() {
      const meta = await unmigrated();
      await migrateMetaDb(meta);
      return meta;
    },
  };
}
