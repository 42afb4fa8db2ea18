import type { Agent } from '@falconet/protocol/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentStore, SPARK_POINTS } from '../src/overview/store.ts';
import { agent } from './agents.ts';
import { stubFetch } from './fetch-stub.ts';

const STEP = 15_000;
const T0 = 1_700_000_100_000 - (1_700_000_100_000 % STEP);

/** A live update: the agent as the server sent it after a report at `lastSeenMs` with this CPU. */
const report = (id: string, lastSeenMs: number, cpu: number, over: Partial<Agent> = {}) =>
  agent(id, { lastSeenMs, summary: { falconet_cpu_usage_percent: cpu }, ...over });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'requestAnimationFrame', 'cancelAnimationFrame', 'Date'], now: T0 });
});

afterEach(() => {
  Reflect.deleteProperty(document, 'hidden');
});

describe('AgentStore: hosts that share a name', () => {
  it('tells two namesakes apart, and stops once one of them is forgotten or renamed', () => {
    const store = new AgentStore();
    store.load([agent('a', { hostname: 'web' }), agent('b', { hostname: 'web' }), agent('c', { hostname: 'db' })]);
    expect(store.sharesName(store.get('a') as Agent)).toBe(true);
    store.remove('b');
    expect(store.sharesName(store.get('a') as Agent)).toBe(false);
    store.upsert(agent('d', { hostname: 'db' }));
    expect(store.sharesName(store.get('c') as Agent)).toBe(true);
    store.upsert(agent('d', { hostname: 'cache' }));
    expect(store.sharesName(store.get('c') as Agent)).toBe(false);
  });
});

describe('AgentStore: the list', () => {
  it('takes a fetched snapshot whole and tells the list at once', () => {
    const store = new AgentStore();
    const list = vi.fn();
    store.subscribeList(list);
    expect(store.loaded).toBe(false);
    store.load([agent('a'), agent('b')]);
    expect(store.loaded).toBe(true);
    expect([...store.agents.keys()]).toEqual(['a', 'b']);
    expect(list).toHaveBeenCalledTimes(1);
    expect(store.getVersion()).toBe(1);
  });

  it('re-renders the list at once for a new agent, once a second for status changes, and never for new values', () => {
    const store = new AgentStore();
    store.load([agent('a'), agent('b')]);
    const list = vi.fn();
    store.subscribeList(list);

    store.upsert(agent('c'));
    expect(list).toHaveBeenCalledTimes(1);

    store.upsert(report('a', T0, 50));
    store.upsert(report('a', T0 + 10_000, 60));
    expect(list).toHaveBeenCalledTimes(1);

    store.upsert(agent('a', { status: 'offline' }));
    store.upsert(agent('b', { status: 'offline' }));
    vi.advanceTimersByTime(999);
    expect(list).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(list).toHaveBeenCalledTimes(2);
    expect(store.get('a')?.status).toBe('offline');
    vi.advanceTimersByTime(5_000);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('stops telling a list listener that unsubscribed', () => {
    const store = new AgentStore();
    const list = vi.fn();
    const off = store.subscribeList(list);
    off();
    store.load([agent('a')]);
    store.upsert(agent('b'));
    expect(list).not.toHaveBeenCalled();
  });
});

describe('AgentStore: rows', () => {
  it("paints a row once per animation frame with the agent's newest state, however many updates came", () => {
    const store = new AgentStore();
    store.load([agent('a'), agent('b')]);
    const rowA = vi.fn();
    const rowB = vi.fn();
    store.watch('a', rowA);
    store.watch('b', rowB);
    vi.advanceTimersToNextFrame();
    rowA.mockClear();
    rowB.mockClear();

    store.upsert(report('a', T0, 10));
    store.upsert(report('a', T0 + 10_000, 20));
    store.upsert(report('a', T0 + 20_000, 30));
    expect(rowA).not.toHaveBeenCalled();
    vi.advanceTimersToNextFrame();
    expect(rowA).toHaveBeenCalledTimes(1);
    expect(rowA.mock.calls[0]?.[0].summary.falconet_cpu_usage_percent).toBe(30);
    expect(rowB).not.toHaveBeenCalled();
    vi.advanceTimersToNextFrame();
    expect(rowA).toHaveBeenCalledTimes(1);
  });

  it('keeps a hidden tab current with a timer, since it gets no animation frames', () => {
    Object.defineProperty(document, 'hidden', { value: true, configurable: true });
    const store = new AgentStore();
    const row = vi.fn();
    store.watch('a', row);
    store.upsert(report('a', T0, 10));
    vi.advanceTimersByTime(249);
    expect(row).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(row).toHaveBeenCalledTimes(1);
  });

  it('stops painting a row whose listener unsubscribed, and keeps painting its other listeners', () => {
    const store = new AgentStore();
    const gone = vi.fn();
    const kept = vi.fn();
    const off = store.watch('a', gone);
    store.watch('a', kept);
    off();
    store.upsert(report('a', T0, 10));
    vi.advanceTimersToNextFrame();
    expect(gone).not.toHaveBeenCalled();
    expect(kept).toHaveBeenCalledTimes(1);
  });

  it('repaints the rows on screen with a snapshot fetched again (after a reconnect)', () => {
    const store = new AgentStore();
    store.load([report('a', T0, 10)]);
    const row = vi.fn();
    store.watch('a', row);
    vi.advanceTimersToNextFrame();
    row.mockClear();

    store.load([report('a', T0 + 60_000, 80, { status: 'offline' })]);
    vi.advanceTimersToNextFrame();
    expect(row).toHaveBeenCalledTimes(1);
    expect(row.mock.calls[0]?.[0]).toMatchObject({ status: 'offline', summary: { falconet_cpu_usage_percent: 80 } });
  });

  it('keeps a live update newer than a snapshot that was read before it', () => {
    const store = new AgentStore();
    store.load([report('a', T0, 10)]);
    store.upsert(report('a', T0 + 20_000, 30));
    store.load([report('a', T0 + 10_000, 20)]);
    expect(store.get('a')?.summary.falconet_cpu_usage_percent).toBe(30);
  });
});

describe('AgentStore: sparklines', () => {
  it('keeps one CPU point per 15 s bucket, the newest value of each', () => {
    const store = new AgentStore();
    store.upsert(report('a', T0 + 1_000, 10));
    store.upsert(report('a', T0 + 11_000, 20));
    store.upsert(report('a', T0 + 16_000, 30));
    expect(store.spark.get('a')).toEqual([
      { t: T0, v: 20 },
      { t: T0 + STEP, v: 30 },
    ]);
  });

  it('adds no point for an update without a new report or without a finite CPU value', () => {
    const store = new AgentStore();
    store.upsert(report('a', T0, 10));
    store.upsert(report('a', T0, 99, { status: 'offline' }));
    store.upsert(report('a', T0 + STEP, Number.NaN));
    store.upsert(agent('a', { lastSeenMs: T0 + 2 * STEP, summary: {} }));
    expect(store.spark.get('a')).toEqual([{ t: T0, v: 10 }]);
    store.upsert(agent('b', { lastSeenMs: T0, summary: {} }));
    expect(store.spark.has('b')).toBe(false);
  });

  it(`keeps the last ${SPARK_POINTS} points (15 minutes)`, () => {
    const store = new AgentStore();
    for (let i = 0; i < SPARK_POINTS + 5; i++) store.upsert(report('a', T0 + i * STEP, i));
    const line = store.spark.get('a') ?? [];
    expect(line).toHaveLength(SPARK_POINTS);
    expect(line[0]).toEqual({ t: T0 + 5 * STEP, v: 5 });
    expect(line.at(-1)).toEqual({ t: T0 + (SPARK_POINTS + 4) * STEP, v: SPARK_POINTS + 4 });
  });

  it('seeds the lines from one fleet-wide query, older points before the live ones, gaps and other groups left out', async () => {
    const server = stubFetch({
      'GET /api/metrics/aggregate': {
        body: {
          groups: [
            {
              group: { agent: 'a' },
              points: [
                [T0 - 2 * STEP, 5],
                [T0 - STEP, null],
                [T0, 7],
                [T0 + STEP, 8],
              ],
            },
            { group: {}, points: [[T0, 1]] },
            { group: { agent: 'b' }, points: [[T0 - STEP, 3]] },
          ],
        },
      },
    });
    const store = new AgentStore();
    store.upsert(report('a', T0 + 1_000, 40));
    const rowB = vi.fn();
    store.watch('b', rowB);
    store.upsert(agent('b'));

    await store.loadSparklines();

    const [call] = server.calls;
    expect(call?.query.get('name')).toBe('falconet_cpu_usage_percent');
    expect(call?.query.get('by')).toBe('agent');
    expect(call?.query.get('step')).toBe(String(STEP));
    expect(Number(call?.query.get('to')) - Number(call?.query.get('from'))).toBe(SPARK_POINTS * STEP);
    // The history's own point at T0 and after is older news than the live one: the live point stays.
    expect(store.spark.get('a')).toEqual([
      { t: T0 - 2 * STEP, v: 5 },
      { t: T0, v: 40 },
    ]);
    expect(store.spark.get('b')).toEqual([{ t: T0 - STEP, v: 3 }]);
    expect([...store.spark.keys()].sort()).toEqual(['a', 'b']);
    vi.advanceTimersToNextFrame();
    expect(rowB).toHaveBeenCalledTimes(1);
  });
});
