import { describe, expect, it } from 'vitest';
import { bareIdentity } from '../../../testing/agent-channel.ts';
import { capturedLog } from '../../../testing/log-capture.ts';
import { freePort } from '../../../testing/processes.ts';
import { MemoryBacklog } from '../src/transport/backlog.ts';
import { Backoff } from '../src/transport/backoff.ts';
import { ReportStream } from '../src/transport/stream.ts';

describe('reconnect backoff', () => {
  it('starts at 0.1 s, doubles with jitter, and stays at 30 s', () => {
    const lo = new Backoff(100, 30_000, () => 0);
    const hi = new Backoff(100, 30_000, () => 1);
    const low = Array.from({ length: 14 }, () => lo.next());
    const high = Array.from({ length: 14 }, () => hi.next());
    expect(high.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    expect(low.slice(0, 3)).toEqual([50, 100, 200]);
    expect(high.at(-1)).toBe(30_000);
    expect(low.at(-1)).toBe(15_000);
    hi.reset();
    expect(hi.next()).toBe(100);
  });
});

describe('ReportStream against a server that is not there', () => {
  it('opens the circuit after consecutive failures and keeps reports in the backlog', async () => {
    const port = await freePort();
    const { log, lines } = capturedLog<{ msg: string; attempt?: number; retryInMs?: number }>();
    let n = 0;
    const backlog = new MemoryBacklog(3);
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port, tls: false },
      identity: bareIdentity('a'),
      labels: {},
      token: '',
      intervalMs: 1000,
      log,
      sequence: { next: () => ++n, advancePast: () => undefined },
      backlog,
      circuitFailures: 3,
      circuitOpenMs: 60_000,
    });
    stream.start();
    for (let i = 0; i < 5; i++) await stream.enqueue([{ name: 'x', labels: {}, value: i, timestampMs: Date.now() }]);
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (stream.stats.circuit === 'open') {
          clearInterval(t);
          resolve();
        }
      }, 50);
    });
    expect(lines.some((l) => l.msg === 'server keeps failing: circuit open, connection attempts paused')).toBe(true);
    // One story: attempts counted up, and the line after the circuit opens waits as long as it stays open.
    const retries = lines.filter((l) => String(l.msg).startsWith('cannot reach server'));
    expect(retries.slice(0, 3).map((l) => l.attempt)).toEqual([2, 3, 4]);
    expect(retries[0]?.msg).toMatch(/; retrying in \d+(\.\d)? s \(attempt 2\)$/);
    expect(retries[2]?.retryInMs).toBeGreaterThanOrEqual(59_000);
    expect(retries[2]?.msg).toMatch(/; retrying in (59|60) s \(attempt 4\)$/);
    expect(stream.stats).toMatchObject({ connected: false, inFlight: 0, sent: 0 });
    // The memory backlog is bounded too: the oldest went, counted.
    expect(backlog.stats).toMatchObject({ pendingReports: 3, droppedReports: 2 });
    await stream.stop();
  });
});
