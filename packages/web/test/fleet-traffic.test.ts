import { describe, expect, it } from 'vitest';
import { type FleetRow, orderFleet } from '../src/traffic/order.ts';

const row = (agent: string, hostname: string, used: number, quota: number, end = 0): FleetRow => ({
  agent,
  hostname,
  startMs: 0,
  endMs: end,
  rxBytes: used / 4,
  txBytes: (used * 3) / 4,
  usedBytes: used,
  quotaBytes: quota,
  usedPercent: quota ? (used / quota) * 100 : null,
});

describe('orderFleet', () => {
  const rows = [row('a', 'web', 50, 100, 3), row('b', 'db', 10, 0, 1), row('c', 'Cache', 90, 100, 2), row('d', 'db', 10, 0, 1)];
  const ids = (r: FleetRow[]) => r.map((x) => x.agent);

  it('puts hosts without a quota below every percentage, either way', () => {
    expect(ids(orderFleet(rows, { key: 'percent', desc: true }))).toEqual(['c', 'a', 'b', 'd']);
    expect(ids(orderFleet(rows, { key: 'percent', desc: false }))).toEqual(['b', 'd', 'a', 'c']);
  });

  it('sorts names without regard to case and breaks ties by name, then agent id', () => {
    expect(ids(orderFleet(rows, { key: 'host', desc: false }))).toEqual(['c', 'b', 'd', 'a']);
    expect(ids(orderFleet(rows, { key: 'used', desc: true }))).toEqual(['c', 'a', 'b', 'd']);
    expect(ids(orderFleet(rows, { key: 'end', desc: false }))).toEqual(['b', 'd', 'c', 'a']);
  });

  it('leaves the list it was given as it was', () => {
    const before = ids(rows);
    orderFleet(rows, { key: 'out', desc: true });
    expect(ids(rows)).toEqual(before);
  });
});
