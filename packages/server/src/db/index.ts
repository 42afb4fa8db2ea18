import { promises as fs, mkdirSync } from 'node:fs';
import path, { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import pg from 'pg';
import { nodeSqliteDialect } from './node-sqlite-dialect.ts';
import type { Database } from './schema.ts';

export type DbKind = 'sqlite' | 'postgres';

/** The metadata database: agents, tokens, users, rules, tasks. */
export interface MetaDb {
  kind: DbKind;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export interface MetaDbOptions {
  /** `postgres://...` for PostgreSQL; empty for the embedded file under `dataDir`. */
  url: string;
  dataDir: string;
}

// PostgreSQL returns int8 as strings by default; our bigints are millisecond times and ids that fit a double.
pg.types.setTypeParser(20, (v) => Number(v));

export function openMetaDb(opts: MetaDbOptions): MetaDb {
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { kind: 'postgres', db, close: () => db.destroy() };
  }
  if (opts.url) throw new Error(`database.url "${opts.url}": expected postgres://... or empty for the embedded store`);
  mkdirSync(opts.dataDir, { recursive: true });
  const db = new Kysely<Database>({ dialect: nodeSqliteDialect(join(opts.dataDir, 'meta.db')) });
  return { kind: 'sqlite', db, close: () => db.destroy() };
}

/** Applies every migration in ./migrations not yet applied, in file-name order. */
export async function migrateMetaDb(meta: MetaDb): Promise<string[]> {
  const migrator = new Migrator({
    db: meta.db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: new URL('./migrations', import.meta.url).pathname }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export type { Database };
