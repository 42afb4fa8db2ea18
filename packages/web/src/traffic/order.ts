import type { TrafficFleet } from '@falconet/protocol/api';

export type FleetRow = TrafficFleet['hosts'][number];
export type FleetSortKey = 'host' | 'used' | 'percent' | 'in' | 'out' | 'end';
export interface FleetSort {
  key: FleetSortKey;
  desc: boolean;
}

const value: Record<FleetSortKey, (r: FleetRow) => number | string> = {
  host: (r) => r.hostname.toLowerCase(),
  used: (r) => r.usedBytes,
  // Hosts without a quota sort below every percentage, whichever way.
  percent: (r) => r.usedPercent ?? Number.NEGATIVE_INFINITY,
  in: (r) => r.rxBytes,
  out: (r) => r.txBytes,
  end: (r) => r.endMs,
};

/** The rows in the order asked for; ties by host name, then agent id, so the order is stable. */
export function orderFleet(rows: readonly FleetRow[], sort: FleetSort): FleetRow[] {
  const get = value[sort.key];
  const sign = sort.desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return c * sign || a.hostname.localeCompare(b.hostname) || a.agent.localeCompare(b.agent);
  });
}
