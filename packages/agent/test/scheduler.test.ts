import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Collection, CollectorSet, type CollectorSource } from '../src/collection.ts';
import type { Collector } from '../src/collectors/registry.ts';

const log = pino({ level: 'silent' });
const roots = { proc: '/proc', sys: '/sys', rootfs: '/' };

function success(c: Collection, name: string): number | undefined {
  return c.families.find((f) => f.name === 'node_scrape_collector_success')?.metrics.find((m) => m.labels.collector === name)?.value;
}

function value(c: Collection, name: string): number | undefined {
  return c.families.find((f) => f.name === name)?.metrics[0]?.value;
}

/** A collector whose runs are counted and which writes its run number. */
function counting(name: string, work?: () => Promise<void>): CollectorSource & { runs: number; running: number; maxRunning: number } {
  const s = {
    name,
    runs: 0,
    running: 0,
    maxRunning: 0,
    create: (): Collector => ({
      async update(out) {
        s.runs++;
        s.running++;
        s.maxRunning = Math.max(s.maxRunning, s.running);
        try {
          await work?.();
          out.gauge(`${name}_run`, 'Run number.', s.runs);
        } finally {
          s.running--;
        }
      },
    }),
  };
  return s;
}

// A collector that never returns: its update is a promise nothing resolves.
const hung: CollectorSource = { name: 'hung', create: () => ({ update: () => new Promise<void>(() => {}) }) };

describe('CollectorSet scheduling', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a hung collector holds up one collection by its timeout at most, and later ones not at all', async () => {
    const fine = counting('fine');
    // Concurrency 1 and the hung collector first: its permit must come back at the timeout.
    const set = new CollectorSet([hung, fine], { roots, log, timeoutMs: 1_000, concurrency: 1 });
    let first: Collection | undefined;
    void set.collect().then((c) => {
      first = c;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(first).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(first).toBeDefined();
    expect(success(first as Collection, 'hung')).toBe(0);
    expect(success(first as Collection, 'fine')).toBe(1);
    expect(value(first as Collection, 'fine_run')).toBe(1);

    // The hung update is still pending: the next collections skip it without waiting at all.
    for (let i = 2; i <= 4; i++) {
      let next: Collection | undefined;
      void set.collect().then((c) => {
        next = c;
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(next).toBeDefined();
      expect(success(next as Collection, 'hung')).toBe(0);
      expect(value(next as Collection, 'fine_run')).toBe(i);
    }
    // One failed run: the skipped collections did not start it again.
    expect(set.errorCounts().get('hung')).toBe(1);
    expect(set.errorCounts().get('fine')).toBe(0);
  });

  it('each collector keeps its own timeout', async () => {
    let release: () => void = () => {};
    const slow = counting('slow', () => new Promise<void>((r) => (release = r)));
    const set = new CollectorSet([slow], {
      roots,
      log,
      timeoutMs: 100,
      schedule: (name) => (name === 'slow' ? { timeoutMs: 5_000 } : undefined),
    });
    let c: Collection | undefined;
    void set.collect().then((x) => {
      c = x;
    });
    await vi.advanceTimersByTimeAsync(4_000);
    expect(c).toBeUndefined();
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(success(c as Collection, 'slow')).toBe(1);
  });

  it('a collector on an interval runs at most once per interval; between runs its samples are served again', async () => {
    const every = counting('every');
    const slow = counting('minutely');
    const set = new CollectorSet([every, slow], {
      roots,
      log,
      timeoutMs: 1_000,
      schedule: (name) => (name === 'minutely' ? { intervalMs: 60_000 } : undefined),
    });
    const runs: number[] = [];
    for (let t = 0; t < 6; t++) {
      const c = await set.collect();
      runs.push(c.results?.find((r) => r.name === 'minutely')?.run as number);
      expect(value(c, 'minutely_run')).toBe(slow.runs);
      await vi.advanceTimersByTimeAsync(15_000);
    }
    // Collections at 0, 15, 30, 45, 60, 75 s: the minutely collector ran at 0 and 60 s.
    expect(every.runs).toBe(6);
    expect(slow.runs).toBe(2);
    expect(runs).toEqual([1, 1, 1, 1, 2, 2]);
  });

  it('collections that arrive while a collector runs share its run (concurrent scrapes coalesce)', async () => {
    let release: () => void = () => {};
    const c1 = counting('c1', () => new Promise<void>((r) => (release = r)));
    const set = new CollectorSet([c1], { roots, log, timeoutMs: 10_000 });
    const all = Promise.all([set.collect(), set.collect(), set.collect()]);
    await vi.advanceTimersByTimeAsync(10);
    release();
    const [a, b, c] = await all;
    expect(c1.runs).toBe(1);
    expect(value(a, 'c1_run')).toBe(1);
    expect(value(b, 'c1_run')).toBe(1);
    expect(value(c, 'c1_run')).toBe(1);
    // maxAgeMs lets a scrape reuse a recent run; without it the next collection runs afresh.
    await set.collect({ maxAgeMs: 5_000 });
    expect(c1.runs).toBe(1);
    const again = set.collect();
    await vi.advanceTimersByTimeAsync(0);
    release();
    await again;
    expect(c1.runs).toBe(2);
  });

  it('runs at most `concurrency` collectors at once', async () => {
    const sources = Array.from({ length: 8 }, (_, i) => counting(`c${i}`, () => new Promise<void>((r) => setTimeout(r, 100))));
    let running = 0;
    let peak = 0;
    const wrapped: CollectorSource[] = sources.map((s) => ({
      name: s.name,
      create: (config) => {
        const inner = s.create(config);
        return {
          async update(out, ctx) {
            running++;
            peak = Math.max(peak, running);
            try {
              await inner.update(out, ctx);
            } finally {
              running--;
            }
          },
        };
      },
    }));
    const set = new CollectorSet(wrapped, { roots, log, timeoutMs: 10_000, concurrency: 3 });
    const done = set.collect();
    await vi.advanceTimersByTimeAsync(1_000);
    const c = await done;
    expect(peak).toBe(3);
    expect(sources.every((s) => s.runs === 1)).toBe(true);
    expect(c.results?.every((r) => r.ok)).toBe(true);
  });

  it('replace() keeps the state of collectors that stay and applies new schedules', async () => {
    const a = counting('a');
    const b = counting('b');
    const set = new CollectorSet([a], { roots, log, timeoutMs: 1_000 });
    await set.collect();
    set.replace([a, b], { schedule: (name) => (name === 'a' ? { intervalMs: 30_000 } : undefined) });
    const c = await set.collect();
    // a ran at t=0 and its new 30 s interval has not passed: served from its last run.
    expect(a.runs).toBe(1);
    expect(b.runs).toBe(1);
    expect(set.schedules().get('a')?.intervalMs).toBe(30_000);
    expect(c.results?.map((r) => r.name)).toEqual(['a', 'b']);
    set.replace([b]);
    expect(set.names).toEqual(['b']);
  });
});

describe('a collector this host cannot serve', () => {
  it('is switched off after its first run with one info line, and reported as failed from then on', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logged = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    /** A collector that throws `error` at every run, counting its runs. */
    const throwing = (name: string, error: Error) => {
      const s = {
        name,
        runs: 0,
        create: (): Collector => ({
          update() {
            s.runs++;
            throw error;
          },
        }),
      };
      return s;
    };
    const lacking = throwing('schedstat', Object.assign(new Error('/proc/schedstat does not exist'), { name: 'NoDataError' }));
    // One that fails for a reason that may pass is still retried at every collection.
    const flaky = throwing('flaky', new Error('busy'));
    const set = new CollectorSet([lacking, flaky], { roots, log: logged, timeoutMs: 1_000, concurrency: 2 });
    for (let i = 0; i < 3; i++) {
      const c = await set.collect();
      expect(success(c, 'schedstat')).toBe(0);
    }
    expect(lacking.runs).toBe(1);
    expect(flaky.runs).toBe(3);
    const off = lines.filter((l) => l.msg.startsWith('collector schedstat'));
    expect(off).toEqual([
      expect.objectContaining({ level: 30, msg: 'collector schedstat switched off: /proc/schedstat does not exist on this host' }),
    ]);
  });
});
