import { join } from 'node:path';
import { parseExposition } from '@falconet/protocol/exposition';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, freePort, type Proc, startProcess, tempDir } from '../../../testing/processes.ts';

/**
 * The agent on a host where its native helpers could not be built (no C compiler), as README
 * describes it: FALCONET_NATIVE=off leaves them unloaded. Everything but the timex collector
 * works; kernel files, statfs and interfaces go through Node's own calls.
 */
describe.runIf(process.platform === 'linux')('the agent without its native helpers', { timeout: 60_000 }, () => {
  const runs: { proc: Proc; port: number }[] = [];

  beforeAll(async () => {
    for (const env of [{ FALCONET_NATIVE: 'off' }, {}]) {
      const port = await freePort();
      const proc = startProcess(
        AGENT_CLI,
        ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tempDir(), 'data'), '--log.level', 'debug'],
        {
          ...env,
          FALCONET_RELEASE_STARTUP_PAGES: '500',
        },
      );
      runs.push({ proc, port });
      await proc.waitFor(/"exporter listening"/);
    }
  });

  afterAll(async () => {
    for (const r of runs) await r.proc.stop();
  });

  const scrape = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    return parseExposition(await res.text()).families;
  };

  it('serves /metrics with every collector but timex, and the same families as with them', async () => {
    const [without, withNative] = [await scrape((runs[0] as { port: number }).port), await scrape((runs[1] as { port: number }).port)];
    const succeeded = (fs: typeof without) =>
      (fs.find((f) => f.name === 'node_scrape_collector_success')?.metrics ?? [])
        .filter((m) => m.value === 1)
        .map((m) => m.labels.collector);
    // What this host lacks (a kernel without /proc/schedstat) fails on both sides alike.
    expect(succeeded(withNative)).toContain('timex');
    expect(succeeded(without)).toEqual(succeeded(withNative).filter((c) => c !== 'timex'));
    const names = (fs: typeof without) => fs.map((f) => f.name).filter((n) => !n.startsWith('node_timex_') && !n.startsWith('process_'));
    expect(names(without).sort()).toEqual(names(withNative).sort());
    const size = without.find((f) => f.name === 'node_filesystem_size_bytes')?.metrics.find((m) => m.labels.mountpoint === '/');
    expect(size?.value).toBeGreaterThan(0);
  });

  it('keeps the pages of its start, which only the helpers can give back', async () => {
    const [without, withNative] = runs as [(typeof runs)[number], (typeof runs)[number]];
    await withNative.proc.waitFor(/released the startup pages/, 20_000);
    expect(without.proc.lines.filter((l) => l.includes('released the startup pages'))).toEqual([]);
  });
});
