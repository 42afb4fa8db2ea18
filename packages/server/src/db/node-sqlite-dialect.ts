import { DatabaseSync } from 'node:sqlite';
import { type Dialect, SqliteDialect } from 'kysely';

type Param = string | number | bigint | null | Uint8Array;

/** node:sqlite binds only strings, numbers, bigints, null and bytes; Kysely may hand it more. */
function toParam(v: unknown): Param {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'object' && !(v instanceof Uint8Array)) return JSON.stringify(v);
  return v as Param;
}

/** Kysely's SQLite dialect over the built-in node:sqlite, so the embedded store needs no native addon. */
export function nodeSqliteDialect(file: string): Dialect {
  return new SqliteDialect({
    database: async () => {
      const db = new DatabaseSync(file);
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
      return {
        close: () => db.close(),
        prepare(sql: string) {
          const stmt = db.prepare(sql);
          return {
            reader: stmt.columns().length > 0,
            all: (p: readonly unknown[]) => stmt.all(...p.map(toParam)),
            run: (p: readonly unknown[]) => stmt.run(...p.map(toParam)),
            iterate: (p: readonly unknown[]) => stmt.iterate(...p.map(toParam)),
          };
        },
      };
    },
  });
}
