import { DatabaseSync, type StatementSync } from 'node:sqlite';
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

/** Prepared statements kept per connection: Kysely prepares every query it runs, and most are the same few. */
const STATEMENT_CACHE = 256;

/** Kysely's SQLite dialect over the built-in node:sqlite, so the embedded store needs no native addon. */
export function nodeSqliteDialect(file: string): Dialect {
  return new SqliteDialect({
    database: async () => {
      const db = new DatabaseSync(file);
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
      // Kysely runs one query at a time on its one connection, so a statement is never in two uses at once.
      const cache = new Map<string, { stmt: StatementSync; reader: boolean }>();
      const prepared = (sql: string) => {
        let hit = cache.get(sql);
        if (hit) {
          // Most recently used last: the first entry is the one to drop when the cache is full.
          cache.delete(sql);
        } else {
          const stmt = db.prepare(sql);
          hit = { stmt, reader: stmt.columns().length > 0 };
          if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value as string);
        }
        cache.set(sql, hit);
        return hit;
      };
      return {
        close: () => {
          cache.clear();
          db.close();
        },
        prepare(sql: string) {
          const { stmt, reader } = prepared(sql);
          return {
            reader,
            all: (p: readonly unknown[]) => stmt.all(...p.map(toParam)),
            run: (p: readonly unknown[]) => stmt.run(...p.map(toParam)),
            iterate: (p: readonly unknown[]) => stmt.iterate(...p.map(toParam)),
          };
        },
      };
    },
  });
}
