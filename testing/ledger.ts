/**
 * What agents generated versus what the store holds: a count and an order-independent checksum of
 * samples (sum of SHA-256 prefixes mod 2^64), so "every sample exactly once" is one comparison.
 */
import { createHash } from 'node:crypto';
import type { Labels } from '@falconet/protocol';

export function canonicalSample(name: string, labels: Labels, timestampMs: number, value: number | null): string {
  const keys = Object.keys(labels).sort();
  const v = value === null || Number.isNaN(value) ? 'NaN' : String(value);
  return `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}} ${timestampMs} ${v}`;
}

export class SampleLedger {
  count = 0;
  #sum = 0n;

  add(name: string, labels: Labels, timestampMs: number, value: number | null): void {
    const h = createHash('sha256')
      .update(canonicalSample(name, labels, timestampMs, value))
      .digest();
    this.#sum = (this.#sum + h.readBigUInt64BE(0)) & 0xffff_ffff_ffff_ffffn;
    this.count++;
  }

  merge(other: SampleLedger): void {
    this.#sum = (this.#sum + BigInt(`0x${other.checksum}`)) & 0xffff_ffff_ffff_ffffn;
    this.count += other.count;
  }

  get checksum(): string {
    return this.#sum.toString(16).padStart(16, '0');
  }

  toJSON() {
    return { count: this.count, checksum: this.checksum };
  }
}

interface MetricsResponse {
  series: { name: string; labels: Record<string, string>; points: [number, number | null][] }[];
}

/** Reads every raw point of `agentId` between `fromMs` and `toMs` back through the HTTP API (with `headers`, once sign-in is required). */
export async function storedLedger(
  baseUrl: string,
  agentId: string,
  fromMs: number,
  toMs: number,
  byTimestamp?: Map<number, SampleLedger>,
  headers: Record<string, string> = {},
): Promise<SampleLedger> {
  const ledger = new SampleLedger();
  const q = (path: string) =>
    fetch(`${baseUrl}${path}`, { headers }).then(async (r) => {
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      return r.json();
    });
  const { names } = (await q(`/api/metrics/names?agent=${encodeURIComponent(agentId)}`)) as { names: string[] };
  for (const name of names) {
    const res = (await q(
      `/api/metrics?agent=${encodeURIComponent(agentId)}&name=${name}&from=${fromMs}&to=${toMs}&step=0`,
    )) as MetricsResponse;
    for (const s of res.series) {
      for (const [t, v] of s.points) {
        ledger.add(s.name, s.labels, t, v);
        if (byTimestamp) {
          const l = byTimestamp.get(t) ?? new SampleLedger();
          byTimestamp.set(t, l);
          l.add(s.name, s.labels, t, v);
        }
      }
    }
  }
  return ledger;
}
