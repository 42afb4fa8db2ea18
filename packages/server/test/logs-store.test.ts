import { appendFileSync, readdirSync, readlinkSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, pb } from '@falconet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { PostgresLogStore } from '../src/logs/postgres.ts';
import { LogFilter, parseQuery, QueryError } from '../src/logs/query.ts';
import type { LogStore, StoredLogLine } from '../src/logs/types.ts';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

function rec(i: number, over: Partial<pb.LogRecord> = {}): pb.LogRecord {
  return pb.LogRecord.fromPartial({
    timeMs: T0 + i * 1000,
    observedMs: T0 + i * 1000,
    source: 'app',
    stream: '/var/log/app.log',
    level: LogLevel.LOG_LEVEL_INFO,
    message: `line ${i} request served`,
    ...over,
  });
}

const everything = new LogFilter('');
const scan = (q = '', fromMs = 0, toMs = T0 + 10 * 86_400_000) => ({ filter: new LogFilter(q), fromMs, toMs });

const open: LogStore[] = [];
const dbs: TempDatabase[] = [];
async function openStore(dir: string, over: Partial<Parameters<typeof EmbeddedLogStore.open>[0]> = {}) {
  const s = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0, now: () => T0, ...over });
  open.push(s);
  return s;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const db of dbs.splice(0)) await db.drop();
});

async function all(s: LogStore, q = ''): Promise<StoredLogLine[]> {
  const out: StoredLogLine[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.search(scan(q), 7, cursor);
    out.push(...page.lines);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

describe('log query language', () => {
  it('names the position of what it cannot read', () => {
    const cases: [string, RegExp][] = [
      ['error "unclosed', /position 7: unclosed quote/],
      ['a /[/', /position 3: invalid regex/],
      ['level>=loud', /position 1: unknown level "loud"/],
      ['host>=x', /position 1: only level can be compared/],
      ['a OR', /position 3: OR needs something after it/],
      ['(a b', /position 1: unclosed \(/],
      ['a )', /position 3: unexpected "\)"/],
      ['host:', /position 1: host: has no value/],
      ['NOT', /position 1: NOT needs something after it/],
      ['a /x/g', /position 6: unexpected "g" after a regex/],
      ['ok /(a+)+$/', /position 4: regex repeats a group that repeats inside/],
      ['/(\\w*){2,}x/', /position 1: regex repeats a group/],
    ];
    for (const [q, re] of cases) {
      let err: unknown;
      try {
        parseQuery(q);
      } catch (e) {
        err = e;
      }
      expect(err, q).toBeInstanceOf(QueryError);
      expect((err as Error).message, q).toMatch(re);
    }
  });

  it('matches terms, phrases, fields, level order, regex, NOT and OR', () => {
    const line = (message: string, over: Partial<pb.LogRecord> = {}, host = 'web-1'): StoredLogLine => ({
      id: '1',
      agentId: 'a1',
      host,
      record: rec(0, { message, ...over }),
    });
    const l = line('Connection reset by peer after 30s', {
      level: LogLevel.LOG_LEVEL_WARN,
      labels: { unit: 'nginx.service' },
      fields: { status: '502' },
    });
    const yes = [
      'connection',
      'RESET peer',
      '"reset by peer"',
      'host:web-1',
      'unit:nginx.service',
      'unit:nginx*',
      'status:502',
      'level>=warn',
      'level:warn',
      'level<error',
      '/reset by \\w+/',
      '/CONNECTION/i',
      '-timeout',
      'NOT host:web-2',
      'timeout OR peer',
      '(timeout OR peer) connection',
      'source:app stream:/var/log/app.log',
      'agent:a1',
      '',
    ];
    const no = ['"peer reset"', 'timeout', 'level>=error', 'host:web-2', '-connection', 'status:500', '/^reset/', 'timeout OR refused'];
    for (const q of yes) expect(new LogFilter(q).matches(l), q).toBe(true);
    for (const q of no) expect(new LogFilter(q).matches(l), q).toBe(false);
    expect(everything.matches(l)).toBe(true);
  });
});

function conformance(engine: string, make: () => Promise<{ open(): Promise<LogStore> }>) {
  describe(`log store conformance: ${engine}`, () => {
    it('stores, pages newest first with a cursor, and survives a reopen', async () => {
      const place = await make();
      const s = await place.open();
      expect((await s.appendReport('a1', 'host-1', 1, [rec(1), rec(2), rec(3, { source: 'other' })])).duplicate).toBe(false);
      await s.appendReport(
        'a1',
        'host-1',
        2,
        Array.from({ length: 20 }, (_, i) => rec(10 + i)),
      );
      await s.appendReport('a2', 'host-2', 1, [rec(5, { message: 'disk full', level: LogLevel.LOG_LEVEL_ERROR })]);
      const lines = await all(s);
      expect(lines.map((l) => l.record.timeMs)).toEqual([...lines.map((l) => l.record.timeMs)].sort((a, b) => b - a));
      expect(lines).toHaveLength(24);
      expect(new Set(lines.map((l) => l.id)).size).toBe(24);
      expect((await all(s, 'disk host:host-2 level>=error')).map((l) => l.record.message)).toEqual(['disk full']);
      expect(await all(s, 'source:other')).toHaveLength(1);
      expect(await s.lastSeq('a1')).toBe(2);
      await s.close();
      const again = await place.open();
      expect(await again.lastSeq('a1')).toBe(2);
      expect(await again.lastSeq('a2')).toBe(1);
      expect((await all(again)).map((l) => l.id)).toEqual(lines.map((l) => l.id));
    });

    it('stores a replayed (agent, seq) once', async () => {
      const s = await (await make()).open();
      expect((await s.appendReport('a1', 'h', 5, [rec(1)])).duplicate).toBe(false);
      const again = await Promise.all([s.appendReport('a1', 'h', 5, [rec(1)]), s.appendReport('a1', 'h', 4, [rec(1)])]);
      expect(again.map((r) => r.duplicate)).toEqual([true, true]);
      expect(await all(s)).toHaveLength(1);
    });

    it('rules blocks out by the index and still finds every match', async () => {
      const s = await (await make()).open();
      for (let i = 0; i < 50; i++) {
        await s.appendReport('a1', `host-${i % 5}`, i + 1, [rec(i, { message: `event ${i} word${i}`, labels: { unit: `u${i % 3}` } })]);
      }
      expect((await all(s, 'word17')).map((l) => l.record.message)).toEqual(['event 17 word17']);
      expect(await all(s, 'host:host-3')).toHaveLength(10);
      expect(await all(s, 'unit:u1 host:host-1')).toHaveLength(4);
      expect(await all(s, 'event -word3')).toHaveLength(49);
    });

    it("forgets an agent's sequence durably on reset", async () => {
      const place = await make();
      const s = await place.open();
      await s.appendReport('a1', 'h', 9, [rec(1)]);
      expect(await s.resetSeq('a1')).toBe(9);
      expect(await s.lastSeq('a1')).toBe(0);
      await s.appendReport('a1', 'h', 1, [rec(2)]);
      await s.close();
      const t = await place.open();
      expect(await t.lastSeq('a1')).toBe(1);
      expect(await all(t)).toHaveLength(2);
    });

    it('refuses a cursor it did not give', async () => {
      const s = await (await make()).open();
      await expect(s.search(scan(), 10, 'bogus')).rejects.toThrow(/cursor: not one this server gave/);
    });
  });
}

conformance('embedded', async () => {
  const dir = tempDir();
  return { open: () => openStore(dir) };
});

conformance('postgres', async () => {
  const db = await createTempDatabase('falconet_logs');
  dbs.push(db);
  return {
    open: async () => {
      const st = await PostgresLogStore.open({ url: db.url, retentionMs: 0, maxBytes: 0 });
      open.push(st);
      return st;
    },
  };
});

describe('embedded log store', () => {
  it('cuts a torn last frame on open and keeps everything before it', async () => {
    const dir = tempDir();
    const s = await openStore(dir);
    await s.appendReport('a1', 'h', 1, [rec(1)]);
    await s.appendReport('a1', 'h', 2, [rec(2)]);
    await s.close();
    const seg = join(dir, readdirSync(dir).find((n) => n.endsWith('.seg')) as string);
    const size = statSync(seg).size;
    // A crash in the middle of the third report: half its frame reached the disk.
    const t = await openStore(dir);
    await t.appendReport('a1', 'h', 3, [rec(3, { message: 'x'.repeat(5000) })]);
    await t.close();
    const full = statSync(seg).size;
    truncateSync(seg, size + Math.floor((full - size) / 2));
    const u = await openStore(dir);
    expect((await all(u)).map((l) => l.record.timeMs)).toEqual([T0 + 2000, T0 + 1000]);
    expect(await u.lastSeq('a1')).toBe(2);
    expect(statSync(seg).size).toBe(size);
    // Garbage after the last frame (a tampered or half-zeroed tail) is cut the same way.
    await u.close();
    appendFileSync(seg, Buffer.alloc(100, 0));
    const v = await openStore(dir);
    expect(await all(v)).toHaveLength(2);
    await v.appendReport('a1', 'h', 3, [rec(3)]);
    expect(await all(v)).toHaveLength(3);
  });

  it('opens one read handle per segment however many searches start at once', async () => {
    const dir = tempDir();
    const s = await openStore(dir);
    for (let i = 1; i <= 5; i++) await s.appendReport('a1', 'h', i, [rec(i)]);
    await s.close();
    const t = await openStore(dir);
    // Five searches racing for a segment no search has read yet: each used to open its own
    // handle, and all but the one kept were closed only by the garbage collector.
    const pages = await Promise.all(Array.from({ length: 5 }, () => t.search(scan(), 10)));
    expect(pages.map((p) => p.lines.length)).toEqual([5, 5, 5, 5, 5]);
    const seg = readdirSync(dir).find((n) => n.endsWith('.seg')) as string;
    const handles = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(join('/proc/self/fd', fd)) === join(dir, seg);
      } catch {
        return false;
      }
    });
    // The reader, and the writer appending to the same (newest) segment.
    expect(handles.length).toBeLessThanOrEqual(2);
  });

  it('drops segments past retention and over the size cap, keeping the sequences', async () => {
    const dir = tempDir();
    let now = T0;
    const s = await openStore(dir, { retentionMs: 1.5 * 86_400_000, maxBytes: 0, now: () => now });
    for (let day = 0; day < 4; day++) {
      now = T0 + day * 86_400_000;
      await s.appendReport('a1', 'h', day + 1, [rec(day * 86_400, { message: `day ${day}` })]);
    }
    expect((await s.stats()).segments).toBe(4);
    await s.enforceRetention();
    // Day 0 and day 1 lie more than a day and a half before now (day 3).
    expect((await all(s)).map((l) => l.record.message)).toEqual(['day 3', 'day 2']);
    // The server's clock jumps 400 days ahead: retention counts from the newest line held, nothing more goes.
    now = T0 + 400 * 86_400_000;
    await s.enforceRetention();
    expect((await all(s)).map((l) => l.record.message)).toEqual(['day 3', 'day 2']);
    await s.close();
    const capped = await openStore(dir, { retentionMs: 0, maxBytes: 1, now: () => now });
    expect((await all(capped)).map((l) => l.record.message)).toEqual(['day 3']);
    expect(await capped.lastSeq('a1')).toBe(4);
    await capped.close();
    const reopened = await openStore(dir, { now: () => now });
    expect(await reopened.lastSeq('a1')).toBe(4);
  });
});

describe('PostgreSQL log store', () => {
  it('drops day partitions past retention and over the size cap, keeping the sequences', async () => {
    const db = await createTempDatabase('falconet_logs');
    dbs.push(db);
    let now = T0;
    const s = await PostgresLogStore.open({ url: db.url, retentionMs: 1.5 * 86_400_000, maxBytes: 0, now: () => now });
    open.push(s);
    for (let day = 0; day < 4; day++) await s.appendReport('a1', 'h', day + 1, [rec(day * 86_400, { message: `day ${day}` })]);
    now = T0 + 3 * 86_400_000;
    await s.enforceRetention();
    // The partitions of day 0 and day 1 end by now minus a day and a half: every line in them is past retention.
    expect((await all(s)).map((l) => l.record.message)).toEqual(['day 3', 'day 2']);
    // The server's clock jumps 400 days ahead: retention counts from the newest day held, nothing more goes.
    now = T0 + 400 * 86_400_000;
    await s.enforceRetention();
    expect((await all(s)).map((l) => l.record.message)).toEqual(['day 3', 'day 2']);
    await s.close();
    const capped = await PostgresLogStore.open({ url: db.url, retentionMs: 0, maxBytes: 1, now: () => now });
    open.push(capped);
    expect((await all(capped)).map((l) => l.record.message)).toEqual(['day 3']);
    expect(await capped.lastSeq('a1')).toBe(4);
  });
});

describe('log store: hostile strings', () => {
  it('stores NUL and control characters in messages, labels and fields on both engines', async () => {
    const db = await createTempDatabase('falconet_logs');
    dbs.push(db);
    const pgStore = await PostgresLogStore.open({ url: db.url, retentionMs: 0, maxBytes: 0 });
    open.push(pgStore);
    const embedded = await openStore(tempDir());
    for (const s of [pgStore, embedded]) {
      const r = rec(1, { message: 'nul\u0000here \u001b[31mred', labels: { unit: 'a\u0000b' }, fields: { 'k\u0000': 'v\u0000' } });
      expect((await s.appendReport('a\u0000', 'h\u0000', 1, [r])).duplicate).toBe(false);
      const [line] = await all(s);
      // PostgreSQL cannot hold NUL: it is dropped there, kept by the embedded store.
      expect(line?.record.message.replaceAll('\u0000', '')).toBe('nulhere \u001b[31mred');
    }
  });
});

describe('embedded log store compaction', () => {
  it("merges a closed segment's small blocks, keeping every line, the order and the sequences", async () => {
    const dir = tempDir();
    const s = await openStore(dir, { segmentBytes: 64 * 1024 });
    // 300 reports of 5 lines from 3 agents: far more blocks than a segment needs.
    for (let r = 0; r < 300; r++) {
      const a = r % 3;
      await s.appendReport(
        `a${a}`,
        `host-${a}`,
        Math.floor(r / 3) + 1,
        [0, 1, 2, 3, 4].map((j) => rec(r * 5 + j, { message: `r${r} j${j} payload` })),
      );
    }
    const before = await all(s);
    await s.settled();
    const stats = await s.stats();
    expect(stats.segments).toBeGreaterThan(1);
    // 300 blocks uncompacted; a closed segment now holds one block per agent (each agent's lines fit in one).
    expect(stats.blocks).toBeLessThan(300 - 100);
    const after = await all(s);
    expect(after.map((l) => l.record.message)).toEqual(before.map((l) => l.record.message));
    expect(after).toHaveLength(1500);
    expect((await all(s, 'r17 j3')).map((l) => l.record.message)).toEqual(['r17 j3 payload']);
    for (const a of [0, 1, 2]) expect(await s.lastSeq(`a${a}`)).toBe(100);
    expect((await s.appendReport('a1', 'host-1', 40, [rec(1)])).duplicate).toBe(true);
    await s.close();
    const again = await openStore(dir);
    for (const a of [0, 1, 2]) expect(await again.lastSeq(`a${a}`)).toBe(100);
    expect((await all(again)).map((l) => l.record.message)).toEqual(before.map((l) => l.record.message));
  });
});
