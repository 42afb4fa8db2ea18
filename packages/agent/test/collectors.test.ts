import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { seriesValue } from '../../../testing/exposition.ts';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import { CollectorSet, selectCollectors } from '../src/collection.ts';
import { defineCollector, loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { agentConfigSchema } from '../src/config.ts';
import type { MetricFamily } from '../src/metrics.ts';
import { HostSummary } from '../src/summary.ts';

const roots = fixtureRoots('basic');
const log = pino({ level: 'silent' });

async function collectFixture(names: string[]) {
  const defs = (await loadCollectorDefinitions('linux')).filter((d) => names.includes(d.name));
  return new CollectorSet(defs, { roots, log, timeoutMs: 2000, config: agentConfigSchema.parse({}) }).collect();
}

describe('collector registry', () => {
  it('finds every collector file for the platform by its name', async () => {
    const names = (await loadCollectorDefinitions('linux')).map((d) => d.name);
    expect(names).toEqual(
      expect.arrayContaining(['cpu', 'diskstats', 'filesystem', 'loadavg', 'meminfo', 'netdev', 'stat', 'time', 'uname']),
    );
  });

  it('applies --collector / --no-collector overrides and rejects unknown names', async () => {
    const defs = await loadCollectorDefinitions('linux');
    const chosen = selectCollectors(defs, { cpu: false }).map((d) => d.name);
    expect(chosen).not.toContain('cpu');
    expect(chosen).toContain('meminfo');
    expect(() => selectCollectors(defs, { nope: true })).toThrow(/unknown collector "nope"/);
  });
});

describe('collectors on a fixture tree', () => {
  it('cpu: seconds per cpu and mode, guest apart', async () => {
    const c = await collectFixture(['cpu']);
    expect(seriesValue(c.families, 'node_cpu_seconds_total', { cpu: '1', mode: 'user' })).toBeCloseTo(13352.23);
    expect(seriesValue(c.families, 'node_cpu_seconds_total', { cpu: '0', mode: 'idle' })).toBeCloseTo(133432.92);
    expect(seriesValue(c.families, 'node_cpu_guest_seconds_total', { cpu: '1', mode: 'user' })).toBeCloseTo(1516.95);
  });

  it('meminfo: node_exporter names', async () => {
    const c = await collectFixture(['meminfo']);
    expect(seriesValue(c.families, 'node_memory_MemTotal_bytes')).toBe(15666184 * 1024);
    expect(seriesValue(c.families, 'node_memory_Active_anon_bytes')).toBe(267256 * 1024);
    expect(seriesValue(c.families, 'node_memory_HugePages_Total')).toBe(0);
  });

  it('diskstats: leaves partitions and ram/loop devices out, converts sectors and ms', async () => {
    const c = await collectFixture(['diskstats']);
    const devices = c.families.find((f) => f.name === 'node_disk_reads_completed_total')?.metrics.map((m) => m.labels.device);
    expect(devices).toEqual(['sda', 'nvme0n1', 'dm-0']);
    expect(seriesValue(c.families, 'node_disk_read_bytes_total', { device: 'sda' })).toBe(1003346126 * 512);
    expect(seriesValue(c.families, 'node_disk_write_time_seconds_total', { device: 'sda' })).toBe(63877.96);
    expect(seriesValue(c.families, 'node_disk_flush_requests_total', { device: 'dm-0' })).toBe(16);
    expect(seriesValue(c.families, 'node_disk_flush_requests_total', { device: 'sda' })).toBeUndefined();
  });

  it('netdev: one series per device and direction', async () => {
    const c = await collectFixture(['netdev']);
    expect(seriesValue(c.families, 'node_network_receive_bytes_total', { device: 'eth0' })).toBe(68210035552);
    expect(seriesValue(c.families, 'node_network_transmit_colls_total', { device: 'veth4b09a1f@if7' })).toBe(0);
  });

  it('loadavg and stat', async () => {
    const c = await collectFixture(['loadavg', 'stat']);
    expect(seriesValue(c.families, 'node_load15')).toBe(0.39);
    expect(seriesValue(c.families, 'node_boot_time_seconds')).toBe(1418183276);
    expect(seriesValue(c.families, 'node_context_switches_total')).toBe(38014093);
    expect(seriesValue(c.families, 'node_procs_blocked')).toBe(1);
  });

  it('filesystem: default exclusions, duplicates dropped, escaped mount points, unreadable mount is a device error', async () => {
    const c = await collectFixture(['filesystem']);
    const errs = c.families.find((f) => f.name === 'node_filesystem_device_error')?.metrics ?? [];
    // rootfs on / is a different device and type from /dev/vda on /; the second /dev/vda line is a duplicate.
    expect(errs.map((m) => `${m.labels.device} ${m.labels.mountpoint}`)).toEqual([
      'rootfs /',
      '/dev/vda /',
      'tmpfs /run',
      '/dev/sdb1 /mnt/with space',
    ]);
    expect(errs.find((m) => m.labels.device === '/dev/vda')?.value).toBe(0);
    expect(errs.find((m) => m.labels.mountpoint === '/mnt/with space')?.value).toBe(1);
    expect(seriesValue(c.families, 'node_filesystem_readonly', { mountpoint: '/mnt/with space' })).toBe(1);
    expect(seriesValue(c.families, 'node_filesystem_size_bytes', { mountpoint: '/' })).toBeGreaterThan(0);
  });

  it('reports success and duration per collector', async () => {
    const c = await collectFixture(['loadavg']);
    expect(seriesValue(c.families, 'node_scrape_collector_success', { collector: 'loadavg' })).toBe(1);
    expect(seriesValue(c.families, 'node_scrape_collector_duration_seconds', { collector: 'loadavg' })).toBeGreaterThanOrEqual(0);
  });
});

describe('CollectorSet', () => {
  const hung = defineCollector({
    name: 'hung',
    defaultEnabled: true,
    description: 'never returns',
    create: () => ({ update: () => new Promise(() => {}) }),
  });
  const broken = defineCollector({
    name: 'broken',
    defaultEnabled: true,
    description: 'always throws',
    create: () => ({
      update() {
        throw new Error('boom');
      },
    }),
  });
  const fine = defineCollector({
    name: 'fine',
    defaultEnabled: true,
    description: 'works',
    create: () => ({ update: (out) => out.gauge('fine_value', 'A value.', 7) }),
  });

  it('a hung or failing collector reports 0 and never holds up the others', async () => {
    const set = new CollectorSet([hung, broken, fine], { roots, log, timeoutMs: 50 });
    const started = Date.now();
    const c = await set.collect();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(seriesValue(c.families, 'fine_value')).toBe(7);
    expect(seriesValue(c.families, 'node_scrape_collector_success', { collector: 'hung' })).toBe(0);
    expect(seriesValue(c.families, 'node_scrape_collector_success', { collector: 'broken' })).toBe(0);
    expect(seriesValue(c.families, 'node_scrape_collector_success', { collector: 'fine' })).toBe(1);
    // The hung update is still running: the next collection does not start a second one.
    const again = await set.collect();
    expect(seriesValue(again.families, 'node_scrape_collector_success', { collector: 'hung' })).toBe(0);
  });
});

describe('HostSummary', () => {
  it('derives usage percentages and rates from two collections', async () => {
    const s = new HostSummary();
    const fam = (name: string, metrics: { labels: Record<string, string>; value: number }[]): MetricFamily => ({
      name,
      help: '',
      type: 'counter',
      metrics,
    });
    const first = s.derive({
      timestampMs: 0,
      families: [
        fam('node_cpu_seconds_total', [
          { labels: { cpu: '0', mode: 'idle' }, value: 100 },
          { labels: { cpu: '0', mode: 'user' }, value: 100 },
        ]),
        fam('node_memory_MemTotal_bytes', [{ labels: {}, value: 1000 }]),
        fam('node_memory_MemAvailable_bytes', [{ labels: {}, value: 250 }]),
        fam('node_network_receive_bytes_total', [
          { labels: { device: 'eth0' }, value: 0 },
          { labels: { device: 'lo' }, value: 0 },
        ]),
      ],
    });
    expect(first.find((x) => x.name === 'falconet_memory_used_percent')?.value).toBe(75);
    expect(first.find((x) => x.name === 'falconet_cpu_usage_percent')).toBeUndefined();
    const second = s.derive({
      timestampMs: 10_000,
      families: [
        fam('node_cpu_seconds_total', [
          { labels: { cpu: '0', mode: 'idle' }, value: 107.5 },
          { labels: { cpu: '0', mode: 'user' }, value: 102.5 },
        ]),
        fam('node_network_receive_bytes_total', [
          { labels: { device: 'eth0' }, value: 5000 },
          { labels: { device: 'lo' }, value: 99999 },
        ]),
      ],
    });
    expect(second.find((x) => x.name === 'falconet_cpu_usage_percent')?.value).toBe(25);
    expect(second.find((x) => x.name === 'falconet_network_receive_bytes_per_second')?.value).toBe(500);
  });
});
