import { closeSync, promises as fs, mkdirSync, openSync } from 'node:fs';
import path, { join } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { Kysely, PostgresDialect } from 'kysely';
import { FileMigrationProvider, type Migration, Migrator } from 'kysely/migration';
import pg from 'pg';
import type { ServerConfig } from '../config.ts';
import { DatabaseHealth, databaseWhere, keepClientErrors } from './health.ts';
import { nodeSqliteDialect } from './node-sqlite-dialect.ts';
import type { Database } from './schema.ts';
import { type MasterKeySource, type SecretBox, type Unlocked, unlockSecrets } from './secrets.ts';

export type DbKind = 'sqlite' | 'postgres';

/** The metadata database: agents, tokens, users, rules, tasks. */
export interface MetaDb {
  kind: DbKind;
  db: Kysely<Database>;
  /**
   * What seals and opens the secret columns (db/secrets.ts). The master key is loaded (or, for a
   * database without secrets yet, made) on the first call; after migrations, since it keeps a
   * check value in `auth_secrets`.
   */
  secrets(): Promise<SecretBox>;
  /** The same, with what unlocking did: for the server's start, which logs it. */
  unlock(): Promise<Unlocked>;
  /** PostgreSQL only: whether the database answers, and why not (db/health.ts). */
  health?: DatabaseHealth | undefined;
  close(): Promise<void>;
}

export interface MetaDbOptions {
  /** `postgres://...` for PostgreSQL; empty for the embedded file under `dataDir`. */
  url: string;
  dataDir: string;
  /** Base64 master key (`secret_key`, FALCONET_SECRET_KEY); empty: the key file. */
  secretKey?: string | undefined;
  /** The master key file; empty: `secret.key` in `dataDir`. */
  secretKeyFile?: string | undefined;
  log?: MasterKeySource['log'];
  /** Where "the database is away / back" goes (db/health.ts); `log` when not given. */
  healthLog?: MasterKeySource['log'];
}

export const SECRET_KEY_FILE = 'secret.key';

/** The options for the configured metadata database. */
export function metaDbOptions(
  config: Pick<ServerConfig, 'database' | 'data_dir' | 'secret_key' | 'secret_key_file'>,
  log?: MetaDbOptions['log'],
): MetaDbOptions {
  return { url: config.database.url, dataDir: config.data_dir, secretKey: config.secret_key, secretKeyFile: config.secret_key_file, log };
}

// PostgreSQL returns int8 as strings by default; our bigints are millisecond times and ids that fit a double.
pg.types.setTypeParser(20, (v) => Number(v));

export function openMetaDb(opts: MetaDbOptions): MetaDb {
  let db: Kysely<Database>;
  let kind: DbKind;
  let health: DatabaseHealth | undefined;
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    // A connection attempt that gets no answer fails after 5 s instead of holding a request forever.
    const pool = new pg.Pool({ connectionString: opts.url, max: 10, connectionTimeoutMillis: 5000 });
    const h = new DatabaseHealth({
      role: 'metadata database',
      where: databaseWhere(opts.url),
      probe: () => pool.query('SELECT 1'),
      log: opts.healthLog ?? opts.log,
    });
    health = h;
    // An idle connection that fails (PostgreSQL restarted, an administrator ended it) leaves the pool,
    // which connects again when next asked; unheard, its error would end the process.
    pool.on('error', (err) => {
      opts.log?.warn({ err: err.message }, 'idle connection to the metadata database failed');
      h.observe(err);
    });
    keepClientErrors(pool, (err) => h.observe(err));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    kind = 'postgres';
  } else {
    if (opts.url) throw new Error(`database.url "${opts.url}": expected postgres://... or empty for the embedded store`);
    mkdirSync(opts.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const file = join(opts.dataDir, 'meta.db');
    // Made 0600 before SQLite opens it; SQLite gives its -wal and -shm files the database file's mode.
    closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
    db = new Kysely<Database>({ dialect: nodeSqliteDialect(file) });
    kind = 'sqlite';
  }
  const source: MasterKeySource = {
    key: opts.secretKey ?? '',
    file: opts.secretKeyFile || join(opts.dataDir, SECRET_KEY_FILE),
    log: opts.log,
  };
  let unlocking: Promise<Unlocked> | undefined;
  const unlock = () => {
    unlocking ??= unlockSecrets(db, source).catch((err: unknown) => {
      unlocking = undefined;
      throw err;
    });
    return unlocking;
  };
  return {
    kind,
    db,
    unlock,
    health,
    secrets: async () => (await unlock()).box,
    close: () => {
      health?.close();
      return db.destroy();
    },
  };
}

let bundledMigrations: Record<string, Migration> | undefined;

/** A single-file build (npm run package) has no migrations folder: it hands over the migrations by name. */
export function useBundledMigrations(migrations: Record<string, Migration>): void {
  bundledMigrations = migrations;
}

/** Applies every migration in ./migrations not yet applied, in file-name order. */
export async function migrateMetaDb(meta: MetaDb): Promise<string[]> {
  const migrator = new Migrator({
    db: meta.db,
    provider: bundledMigrations
      ? { getMigrations: async () => bundledMigrations as Record<string, Migration> }
      : new FileMigrationProvider({ fs, path, migrationFolder: new URL('./migrations', import.meta.url).pathname }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export type { Database };
