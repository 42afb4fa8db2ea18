/**
 * The AlertService on a real metadata database and a real samples store: after a (re)start the
 * windows are filled from the store, so a rule is judged on the history it needs at once,
 * the disk-full fit included, before any agent reports again.
 */
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { alertsConfigSchema } from '../src/alerts/config.ts';
import { AlertService } from '../src/alerts/service.ts';
import { ruleSpecSchema } from '../src/alerts/spec.ts';
import { serverConfigSchema } from '../src/config.ts';
import { type MetaDb, migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import { openStore } from '../src/store/index.ts';
import type { Store } from '../src/store/types.ts';

const GiB = 2 ** 30;
let meta: MetaDb | undefined;
let store: Store | undefined;
let service: AlertService | undefined;
afterAll(async () => {
  await service?.stop();
  await store?.close();
  await meta?.close();
});

describe('warming from the store', () => {
  it('judges rules on stored history right after a start, disk-full prediction included', async () => {
    const dataDir = tempDir();
    meta = openMetaDb({ url: '', dataDir });
    await migrateMetaDb(meta);
    store = await openStore(serverConfigSchema.parse({ data_dir: dataDir }));
    const now = Date.now();
    // Three hours of a root filesystem losing 5 GiB an hour, 12 GiB left: full in under 3 h.
    let seq = 0;
    for (let m = 180; m >= 0; m -= 2) {
      const t = now - m * 60_000;
      const samples: Sample[] = [
        {
          name: 'node_filesystem_avail_bytes',
          labels: { mountpoint: '/', fstype: 'ext4' },
          value: 12 * GiB + (m / 60) * 5 * GiB,
          timestampMs: t,
        },
        { name: 'falconet_cpu_usage_percent', labels: {}, value: m <= 2 ? 97 : 20, timestampMs: t },
      ];
      await store.appendReport('a1', ++seq, samples);
    }
    service = new AlertService({
      config: alertsConfigSchema.parse({ startup_grace: 0, evaluation_interval: '1h' }),
      meta,
      store,
      agents: { list: () => [{ id: 'a1', hostname: 'db-1', labels: {}, status: 'online', lastSeenMs: now }] },
      log: pino({ level: 'silent' }),
      externalUrl: () => '',
    });
    await service.catalog.createRule(
      ruleSpecSchema.parse({ name: 'Disk full soon', kind: 'disk_full', within: '4h', lookback: '2h' }),
      'test',
    );
    await service.catalog.createRule(
      ruleSpecSchema.parse({ name: 'Hot', metric: 'falconet_cpu_usage_percent', aggregation: 'max', window: '3m', threshold: 90 }),
      'test',
    );
    await service.start();
    const alerts = service;
    await eventually(() => {
      const w = alerts.status().warming;
      return !w.running && w.done > 0;
    });
    const fired = await alerts.runCycle();
    expect(fired.map((t) => `${t.rule.name} ${t.alert.labels.host} ${t.alert.series} ${t.to}`).sort()).toEqual([
      'Disk full soon db-1 {fstype="ext4", mountpoint="/"} firing',
      'Hot db-1  firing',
    ]);
    const disk = fired.find((t) => t.rule.name === 'Disk full soon');
    expect(disk?.details?.hours_left).toBeGreaterThan(2);
    expect(disk?.details?.hours_left).toBeLessThan(3);
  });
});
