/** Probes the server assigns: taken whole or refused whole with one log line, merged beside the config's probes. */
import { probesSchema } from '@falconet/protocol/probes';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AssignedProbes } from '../src/probes/assigned.ts';

function logged() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

const probe = (id: string, extra: Record<string, unknown> = {}) => ({ id, kind: 'tcp', target: '127.0.0.1:9', interval: '10s', ...extra });
const assignment = (version: number, probes: unknown) => ({
  version,
  probesJson: typeof probes === 'string' ? probes : JSON.stringify(probes),
});

describe('assigned probes', () => {
  it('takes a valid set whole and replaces it with the next one', async () => {
    const { log } = logged();
    const a = new AssignedProbes(log);
    expect(await a.take(assignment(5, [probe('monitor.a'), probe('monitor.b')]))).toBe(true);
    expect(a.list.map((p) => p.id)).toEqual(['monitor.a', 'monitor.b']);
    expect(a.list[0]?.interval).toBe(10_000);
    expect(await a.take(assignment(6, [probe('monitor.b')]))).toBe(true);
    expect(a.list.map((p) => p.id)).toEqual(['monitor.b']);
    // The same set again changes nothing; an older one is ignored.
    expect(await a.take(assignment(7, [probe('monitor.b')]))).toBe(false);
    expect(await a.take(assignment(3, [probe('monitor.z')]))).toBe(false);
    expect(a.list.map((p) => p.id)).toEqual(['monitor.b']);
    expect(a.version).toBe(7);
  });

  it('refuses a bad set whole with one line naming the probe and field, keeping the set before it', async () => {
    const { log, lines } = logged();
    const a = new AssignedProbes(log);
    await a.take(assignment(1, [probe('monitor.a')]));
    const cases: [unknown, RegExp][] = [
      ['[{"id": ', /not JSON/],
      [[probe('monitor.a'), probe('monitor.b', { target: 'no-port' })], /probes\.1\.target/],
      [[probe('monitor.a'), probe('monitor.a')], /probes\.1\.id: probe id "monitor\.a" is used twice/],
      [[probe('monitor.x', { kind: 'smtp' })], /kind must be one of/],
      [{ id: 'not-a-list' }, /probes: /],
    ];
    let v = 1;
    for (const [body, message] of cases) {
      const before = lines.length;
      expect(await a.take(assignment(++v, body))).toBe(false);
      const errors = lines.slice(before).filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.msg).toMatch(message);
      expect(errors[0]?.msg).toMatch(/the 1 assigned probe\(s\) before it keep running/);
      expect(a.list.map((p) => p.id)).toEqual(['monitor.a']);
    }
  });

  it("runs the config's probe where both have one id, and says so once", async () => {
    const { log, lines } = logged();
    const a = new AssignedProbes(log);
    await a.take(assignment(1, [probe('shared', { target: '10.0.0.1:1' }), probe('monitor.m')]));
    const own = probesSchema.parse([probe('shared'), probe('mine')]);
    const merged = a.merge(own);
    expect(merged.map((p) => [p.id, p.target])).toEqual([
      ['shared', '127.0.0.1:9'],
      ['mine', '127.0.0.1:9'],
      ['monitor.m', '127.0.0.1:9'],
    ]);
    a.merge(own);
    expect(lines.filter((l) => /share an id/.test(l.msg))).toHaveLength(1);
  });

  it('drops its set when a new connection brings no assignment within the grace period, and keeps it when one comes', async () => {
    const { log } = logged();
    const a = new AssignedProbes(log);
    await a.take(assignment(1, [probe('monitor.a')]));
    let dropped = 0;
    a.registered(() => dropped++, 50);
    await a.take(assignment(2, [probe('monitor.a')]));
    await new Promise((r) => setTimeout(r, 120));
    expect([dropped, a.list.length]).toEqual([0, 1]);
    a.registered(() => dropped++, 50);
    await new Promise((r) => setTimeout(r, 120));
    expect([dropped, a.list.length]).toEqual([1, 0]);
    // With nothing assigned there is nothing to drop.
    a.registered(() => dropped++, 10);
    await new Promise((r) => setTimeout(r, 50));
    expect(dropped).toBe(1);
    a.stop();
  });
});
