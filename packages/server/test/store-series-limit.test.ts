import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawStream, registerMessage, rejectedCount, reportMessage } from '../../../testing/agent-channel.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { AgentSimulator } from '../../../testing/simulator.ts';
import type { FalconetServer } from '../src/app.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import type { StoreLog } from '../src/store/types.ts';
import { startTestServer } from './support/auth.ts';

/** A StoreLog that keeps every line, for counting what the store said. */
function recordingLog(): StoreLog & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const gauge = (name: string, t: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value: t / 1000, timestampMs: t });

describe('store.max_series in the embedded store', () => {
  it('refuses samples of new series past the bound, keeps writing the old ones, counts them and logs once each way', async () => {
    const dir = tempDir('falconet-store-limit-');
    const log = recordingLog();
    const open = () => EmbeddedStore.open({ dir, maxSeries: 3, log });
    let store = await open();
    const t = Date.now() - 60_000;
    try {
      expect(await store.appendReport('a', 1, [gauge('up', t), gauge('load', t)])).toEqual({ duplicate: false });

      // The third series fits; the fourth (two samples) does not; the two old ones are written.
      const second = await store.appendReport('a', 2, [
        gauge('up', t + 1000),
        gauge('load', t + 1000),
        gauge('temp', t + 1000, { sensor: 'x' }),
        gauge('temp', t + 1000, { sensor: 'y' }),
        gauge('temp', t + 1001, { sensor: 'y' }),
      ]);
      expect(second.duplicate).toBe(false);
      expect(second.refusedSamples).toBe(2);
      expect(second.refusal).toMatch(/2 samples of new series refused: .*bound of 3 series \(store\.max_series\)/);

      // Still full: another agent's new series are refused too, and the log does not repeat.
      expect((await store.appendReport('b', 1, [gauge('up', t + 2000)])).refusedSamples).toBe(1);
      expect(await store.appendReport('a', 3, [gauge('up', t + 2000)])).toEqual({ duplicate: false });

      const up = await store.querySeries({ agentId: 'a', name: 'up', fromMs: t - 1, toMs: t + 3000 });
      expect(up[0]?.points.map(([ts]) => ts)).toEqual([t, t + 1000, t + 2000]);
      expect(await store.querySeries({ agentId: 'a', name: 'temp', labels: { sensor: 'y' }, fromMs: t - 1, toMs: t + 3000 })).toEqual([]);
      expect(await store.querySeries({ agentId: 'b', name: 'up', fromMs: t - 1, toMs: t + 3000 })).toEqual([]);

      const stats = await store.stats();
      expect({ series: stats.series, maxSeries: stats.maxSeries, refusedSamples: stats.refusedSamples }).toEqual({
        series: 3,
        maxSeries: 3,
        refusedSamples: 3,
      });
      const reached = log.lines.filter((l) => l.msg.includes('reached store.max_series'));
      expect(reached).toHaveLength(1);
      expect(reached[0]).toMatchObject({ level: 'warn', obj: { series: 3, maxSeries: 3 } });

      // Series kept across a restart still count; the bound holds from the first report.
      await store.close();
      store = await open();
      expect((await store.appendReport('b', 2, [gauge('up', t + 3000)])).refusedSamples).toBe(1);
      expect((await store.appendReport('a', 4, [gauge('up', t + 3000)])).refusedSamples).toBeUndefined();

      // Deleting series clears the bound (logged once), and a new series is taken.
      expect(await store.dropAgent('a')).toBe(3);
      const cleared = log.lines.filter((l) => l.msg.includes('below store.max_series again'));
      expect(cleared).toHaveLength(1);
      expect(cleared[0]).toMatchObject({ level: 'info', obj: { series: 0, maxSeries: 3 } });
      expect(await store.appendReport('b', 3, [gauge('up', t + 4000)])).toEqual({ duplicate: false });
      expect((await store.stats()).series).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('has no bound at 0', async () => {
    const store = await EmbeddedStore.open({ dir: tempDir('falconet-store-limit-'), maxSeries: 0 });
    try {
      const t = Date.now();
      const samples = Array.from({ length: 50 }, (_, i) => gauge('m', t, { i: String(i) }));
      expect(await store.appendReport('a', 1, samples)).toEqual({ duplicate: false });
      expect((await store.stats()).series).toBe(50);
    } finally {
      await store.close();
    }
  });
});

describe('store.max_series through the agent channel', () => {
  // hostSummarySeries has 9 series per agent: the first agent fits, the second gets 3 of its 9.
  const MAX = 12;
  let server: FalconetServer;
  let base = '';
  let grpc = '';
  const sims: AgentSimulator[] = [];

  beforeAll(async () => {
    const t = await startTestServer({ users: false, config: { store: { max_series: MAX } } });
    server = t.server;
    base = t.base;
    grpc = `127.0.0.1:${server.addresses?.grpc.port}`;
  });

  afterAll(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    await server?.stop();
  });

  const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

  it('refuses new series with a reason in the ack, keeps storing the agents it has, and says so on /metrics', async () => {
    const simulator = (prefix: string) => {
      // Ticks are driven by the test, not by the clock.
      const sim = new AgentSimulator({ server: grpc, count: 1, intervalMs: 3_600_000, prefix });
      sims.push(sim);
      return sim;
    };
    const fits = simulator('fits');
    await fits.start();
    fits.tick();
    await eventually(() => (fits.streams[0]?.stats.acked ?? 0) >= 1);
    expect(fits.streams[0]?.stats.rejected).toBe(0);

    const over = simulator('over');
    await over.start();
    over.tick();
    // Its report is acknowledged (nothing to resend) with an error: the agent counts it refused.
    await eventually(() => (over.streams[0]?.stats.acked ?? 0) >= 1);
    expect(over.streams[0]?.stats.rejected).toBe(1);

    // The first agent's series are still written.
    const t2 = Date.now();
    fits.tick(t2);
    await eventually(() => (fits.streams[0]?.stats.acked ?? 0) >= 2);
    expect(fits.streams[0]?.stats.rejected).toBe(0);
    const load = await server.store.querySeries({ agentId: 'fits-0', name: 'node_load1', fromMs: t2 - 1, toMs: t2 + 1 });
    expect(load[0]?.points).toHaveLength(1);

    // A scripted agent reads the reason itself.
    const raw = rawStream(grpc);
    try {
      raw.send(registerMessage('scripted'));
      expect((await raw.next()).body?.$case).toBe('registered');
      raw.send(reportMessage(1, [gauge('scripted_metric', Date.now())]));
      const ack = await raw.next();
      expect(ack.body?.$case === 'ack' && ack.body.value).toMatchObject({ seq: 1 });
      expect(ack.body?.$case === 'ack' ? ack.body.value.error : '').toMatch(
        /^1 samples of new series refused: the server holds its bound of 12 series \(store\.max_series\)/,
      );
    } finally {
      raw.close();
    }

    // The Open-Falcon push goes through the same store append: counted on its own channel.
    const pushed = await fetch(`${base}/api/v1/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          metric: 'disk.io.util',
          endpoint: 'pushed-host',
          tags: 'device=sda',
          value: 1,
          timestamp: Math.floor(Date.now() / 1000),
          step: 60,
          counterType: 'GAUGE',
        },
      ]),
    });
    expect(pushed.ok).toBe(true);

    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'falconet_store_series')).toBe(MAX);
    expect(metric(text, 'falconet_store_series_limit')).toBe(MAX);
    expect(metric(text, 'falconet_store_new_series_refused_samples_total')).toBe(6 + 1 + 1);
    expect(rejectedCount(text, 'grpc', 'too_many_series')).toBe(2);
    expect(rejectedCount(text, 'http', 'too_many_series')).toBe(1);
  });
});
