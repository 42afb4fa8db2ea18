import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProc, freePort, startAgent } from '../../../testing/processes.ts';
import { classify, ReportInterval, type ReportIntervalSettings } from '../src/runtime/report-interval.ts';

const settings: ReportIntervalSettings = {
  baseMs: 10_000,
  minMs: 5_000,
  maxMs: 60_000,
  dynamic: true,
  busy: { cpuPercent: 80, loadPerCpu: 1.5 },
  idle: { cpuPercent: 10, loadPerCpu: 0.3 },
  hold: 3,
};

const busy = { cpuPercent: 95, loadPerCpu: 2 };
const normal = { cpuPercent: 40, loadPerCpu: 0.8 };
const idle = { cpuPercent: 2, loadPerCpu: 0.05 };

describe('host load classes', () => {
  it('busy on either figure, idle only on both, normal between', () => {
    expect(classify({ cpuPercent: 80, loadPerCpu: 0 }, settings)).toBe('busy');
    expect(classify({ cpuPercent: 0, loadPerCpu: 1.5 }, settings)).toBe('busy');
    expect(classify({ cpuPercent: 5, loadPerCpu: 0.5 }, settings)).toBe('normal');
    expect(classify({ cpuPercent: 10, loadPerCpu: 0.3 }, settings)).toBe('idle');
    expect(classify({ cpuPercent: 11, loadPerCpu: 0.1 }, settings)).toBe('normal');
    // Only one figure known (the first report has no CPU rate yet): judged on that one.
    expect(classify({ loadPerCpu: 0.1 }, settings)).toBe('idle');
    expect(classify({}, settings)).toBe('normal');
  });
});

describe('the dynamic report interval', () => {
  it('starts at the base interval', () => {
    expect(new ReportInterval(settings).currentMs).toBe(10_000);
  });

  it('shortens at once when the host gets busy', () => {
    const r = new ReportInterval(settings);
    expect(r.observe(busy)).toBe(5_000);
    expect(r.load).toBe('busy');
  });

  it('lengthens only after `hold` consecutive observations asking for it', () => {
    const r = new ReportInterval(settings);
    expect(r.observe(idle)).toBe(10_000);
    expect(r.observe(idle)).toBe(10_000);
    expect(r.observe(idle)).toBe(60_000);
  });

  it('a single contrary observation restarts the count (hysteresis)', () => {
    const r = new ReportInterval(settings);
    r.observe(busy);
    const seen = [normal, normal, busy, normal, normal, normal].map((o) => r.observe(o));
    expect(seen).toEqual([5_000, 5_000, 5_000, 5_000, 5_000, 10_000]);
  });

  it('after a mixed streak it lengthens only as far as the least idle observation allows', () => {
    const r = new ReportInterval(settings);
    r.observe(busy);
    expect([idle, normal, idle].map((o) => r.observe(o))).toEqual([5_000, 5_000, 10_000]);
    expect([idle, idle, idle].map((o) => r.observe(o))).toEqual([10_000, 10_000, 60_000]);
  });

  it('leaving idle is immediate: normal load goes back to the base at the next report', () => {
    const r = new ReportInterval(settings);
    for (let i = 0; i < 3; i++) r.observe(idle);
    expect(r.currentMs).toBe(60_000);
    expect(r.observe(normal)).toBe(10_000);
    expect(r.observe(busy)).toBe(5_000);
  });

  it('a host hovering at a threshold does not flap', () => {
    const r = new ReportInterval(settings);
    const around = [79, 81, 79, 81, 79, 81, 79, 81].map((cpu) => r.observe({ cpuPercent: cpu, loadPerCpu: 0.5 }));
    expect(around).toEqual([10_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000, 5_000]);
  });

  it('the server hint replaces the base interval, clamped to the bounds; 0 withdraws it', () => {
    const r = new ReportInterval(settings);
    expect(r.hint(30_000)).toBe(30_000);
    expect(r.observe(busy)).toBe(5_000);
    for (let i = 0; i < 3; i++) r.observe(normal);
    expect(r.currentMs).toBe(30_000);
    expect(r.hint(1_000)).toBe(5_000);
    expect(r.hint(3_600_000)).toBe(60_000);
    expect(r.hint(0)).toBe(10_000);
  });

  it('bounds always include the base interval, and the presence interval is the longest gap', () => {
    const r = new ReportInterval({ ...settings, baseMs: 1_000 });
    expect(r.minMs).toBe(1_000);
    expect(r.maxMs).toBe(60_000);
    expect(r.longestMs).toBe(60_000);
    const wide = new ReportInterval({ ...settings, baseMs: 120_000 });
    expect(wide.maxMs).toBe(120_000);
  });

  it('with dynamic off the interval is the base whatever the load', () => {
    const r = new ReportInterval({ ...settings, dynamic: false });
    expect([busy, idle, idle, idle, normal].map((o) => r.observe(o))).toEqual([10_000, 10_000, 10_000, 10_000, 10_000]);
    expect(r.longestMs).toBe(10_000);
  });

  it('a new configuration applies at once', () => {
    const r = new ReportInterval(settings);
    for (let i = 0; i < 3; i++) r.observe(idle);
    expect(r.reconfigure({ ...settings, maxMs: 30_000 })).toBe(30_000);
    expect(r.reconfigure({ ...settings, baseMs: 2_000, dynamic: false })).toBe(2_000);
  });
});

describe('the log line of an interval change', () => {
  let agent: AgentProc | undefined;
  afterAll(async () => {
    await agent?.stop();
  });

  it('states the old and new interval and why, with rounded figures and no stale load class', async () => {
    // Every host is busy at 0 %: the first report shortens the interval.
    agent = await startAgent({
      server: `127.0.0.1:${await freePort()}`,
      interval: '2s',
      env: { FALCONET_REPORT_DYNAMIC: 'true', FALCONET_REPORT_BUSY_CPU_PERCENT: '0', FALCONET_REPORT_MIN_INTERVAL: '1s' },
    });
    const line = JSON.parse(await agent.waitFor(/"report interval 2 s -> 1 s: host busy"/)) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, intervalMs: 1000, previousMs: 2000, load: 'busy' });
    expect(line.was).toBeUndefined();
    // No CPU figure before the second collection; the load average decided it then.
    expect(line.cpuPercent === undefined || Number.isInteger(line.cpuPercent)).toBe(true);
    expect(String(line.load1)).toMatch(/^\d+(\.\d{1,2})?$/);
  });
});
