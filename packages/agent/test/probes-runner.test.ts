/**
 * The probe runner's worker thread, with real probes against real sockets: results reach the main
 * thread, a changed list reaches the worker, a main loop kept busy does not lengthen what a probe
 * measures, and a worker that dies is logged, counted and started again.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ProbeConfig, probesSchema } from '@falconet/protocol/probes';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../testing/processes.ts';
import type { MetricFamily } from '../src/metrics.ts';
import { optionalNativeHelpers } from '../src/native.ts';
import { ProbeRunner } from '../src/probes/runner.ts';
import { offsetMs } from '../src/probes/schedule.ts';

const INTERVAL_MS = 10_000;
/** An id whose first run comes within the first `withinMs` of the interval, so the test need not wait for it. */
const quickId = (prefix: string, withinMs = 300) => {
  for (let i = 0; ; i++) if (offsetMs(`${prefix}${i}`, INTERVAL_MS) < withinMs) return `${prefix}${i}`;
};
const closedPortProbe = async (id: string): Promise<ProbeConfig> =>
  probesSchema.parse([{ id, kind: 'tcp', target: `127.0.0.1:${await freePort()}`, interval: '10s', timeout: '2s' }])[0] as ProbeConfig;
const val = (fs: MetricFamily[], name: string, labels: Record<string, string> = {}) =>
  fs.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;

async function until<T>(what: () => T | undefined, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let runner: ProbeRunner | undefined;
afterEach(() => runner?.stop());

describe('probe runner', () => {
  it('runs the probes in a worker thread and applies a changed list there', async () => {
    const lines: Record<string, unknown>[] = [];
    runner = new ProbeRunner(pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) }));
    const a = await closedPortProbe(quickId('a'));
    runner.update([a]);
    expect(runner.worker?.threadId).toBeGreaterThan(0);
    expect(await until(() => val(runner?.families() ?? [], 'probe_success', { probe: a.id }))).toBe(0);
    const b = await closedPortProbe(quickId('b'));
    runner.update([b]);
    // The removed probe's series go at once; the new one's come from the worker.
    expect(val(runner.families(), 'probe_success', { probe: a.id })).toBeUndefined();
    expect(await until(() => val(runner?.families() ?? [], 'probe_duration_seconds', { probe: b.id }))).toBeGreaterThan(0);
    expect(val(runner.families(), 'falconet_agent_probe_worker_restarts_total')).toBe(0);
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });

  it('times a probe apart from a main loop kept busy', async () => {
    runner = new ProbeRunner(pino({ level: 'silent' }));
    const id = quickId('busy', 200);
    runner.update([await closedPortProbe(id)]);
    // The main thread spins through the probe's first run: a refused connection on loopback takes
    // well under a millisecond, and on the main loop its answer would wait for the spin to end.
    const spinUntil = Date.now() + 800;
    while (Date.now() < spinUntil) {}
    const duration = await until(() => val(runner?.families() ?? [], 'probe_duration_seconds', { probe: id }));
    // Not a speed check: on the main loop the duration would include the 0.8 s spin; the bound
    // leaves a loaded machine room to schedule the worker.
    expect(duration).toBeLessThan(0.5);
  });

  it('starts a worker that died again, logged and counted, with the current list', async () => {
    const lines: Record<string, unknown>[] = [];
    runner = new ProbeRunner(pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) }));
    const p = await closedPortProbe(quickId('c'));
    runner.update([p]);
    await until(() => val(runner?.families() ?? [], 'probe_success', { probe: p.id }));
    const first = runner.worker;
    // terminate() ends the thread from outside, as a fatal error in it would.
    await first?.terminate();
    expect(runner.restarts).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'probe worker exited; starting it again', restarts: 1 }));
    const second = await until(() => (runner?.worker && runner.worker !== first ? runner.worker : undefined), 5000);
    expect(second.threadId).not.toBe(first?.threadId);
    expect(val(runner.families(), 'falconet_agent_probe_worker_restarts_total')).toBe(1);
    // The new worker has the list: a changed probe shows up from it.
    const q = await closedPortProbe(quickId('d'));
    runner.update([q]);
    expect(await until(() => val(runner?.families() ?? [], 'probe_success', { probe: q.id }))).toBe(0);
  });

  it('stops a worker in the middle of an ICMP echo without harm to the process', async () => {
    const native = optionalNativeHelpers();
    if (!native) throw new Error('the native helpers are not built (npm rebuild -w @falconet/agent)');
    runner = new ProbeRunner(pino({ level: 'silent' }));
    const id = quickId('echo', 100);
    // No host answers at this address here: the echo waits on its own thread for its whole timeout.
    runner.update(probesSchema.parse([{ id, kind: 'icmp', target: '10.255.255.1', interval: '10s', timeout: '1s' }]) as ProbeConfig[]);
    await new Promise((r) => setTimeout(r, 400));
    runner.stop();
    // Past the echo's timeout, its thread has finished with a worker that is gone; the process still echoes.
    await new Promise((r) => setTimeout(r, 1200));
    expect((await native.icmpEcho('127.0.0.1', 4, 1000)).error).toBe(0);
  });

  it('does not hold the process open: an agent that is done exits with its worker running', () => {
    const runnerUrl = new URL('../src/probes/runner.ts', import.meta.url).href;
    const script = `
      const { ProbeRunner } = await import(${JSON.stringify(runnerUrl)});
      const { pino } = await import('pino');
      const r = new ProbeRunner(pino({ level: 'silent' }));
      r.update([{ id: 'x', kind: 'tcp', target: '127.0.0.1:9', interval: 10000, timeout: 1000, labels: {}, options: { tls: false, tls_config: { ca_file: '', server_name: '', insecure_skip_verify: false } } }]);
      console.log(r.worker ? 'started' : 'none');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect([r.status, r.stdout.trim(), r.signal]).toEqual([0, 'started', null]);
  });
});
