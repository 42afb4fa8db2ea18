import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseExposition } from '@falconet/protocol/exposition';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, freePort, type Proc, startCommand, tempDir } from '../testing/processes.ts';

// Five hung mounts: more than the four threads of libuv's pool, which Node's own statfs would use.
const HUNG = 5;

/**
 * Real hung mounts: FUSE file systems whose server never answers, in a private mount and PID
 * namespace so nothing else on the machine sees them, and so they vanish with the namespace.
 */
// Needs root (mount, namespaces) and FUSE, as on the CI machines.
describe.skipIf(process.getuid?.() !== 0 || !existsSync('/dev/fuse'))('a hung network mount never blocks a scrape', () => {
  let ns: Proc;
  let port = 0;
  let base = '';

  beforeAll(async () => {
    port = await freePort();
    base = tempDir('falconet-hung-');
    const helper = join(import.meta.dirname, 'helpers/hung-mounts.mjs');
    ns = startCommand('unshare', [
      // --kill-child: if unshare is killed, so is the namespace with everything in it.
      ...['-m', '-p', '-f', '--kill-child', '--mount-proc', '--propagation', 'private'],
      ...[process.execPath, helper, AGENT_CLI, String(port), tempDir(), base, String(HUNG)],
    ]);
    await ns.waitFor(/"exporter listening"/, 60_000);
  }, 90_000);

  afterAll(async () => {
    if (ns && ns.child.exitCode === null) ns.child.kill('SIGKILL');
  });

  async function scrape() {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(30_000) });
    expect(res.status).toBe(200);
    const families = parseExposition(await res.text()).families;
    const value = (name: string, labels: Record<string, string>) =>
      families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;
    return { families, value };
  }

  it('reports the hung mounts as device errors while the healthy one and every other collector keep working', async () => {
    for (let round = 0; round < 3; round++) {
      const { value } = await scrape();
      for (let i = 0; i < HUNG; i++)
        expect(value('node_filesystem_device_error', { mountpoint: join(base, `hung${i}`) }), `hung${i}`).toBe(1);
      expect(value('node_filesystem_device_error', { mountpoint: join(base, 'healthy') })).toBe(0);
      expect(value('node_filesystem_size_bytes', { mountpoint: join(base, 'healthy') })).toBe(1024 * 1024);
      // The filesystem collector finished inside its own timeout, and the collectors that use the
      // thread pool (textfile and os read files through it) were not starved by the hung calls.
      expect(value('node_scrape_collector_success', { collector: 'filesystem' })).toBe(1);
      expect(value('node_scrape_collector_success', { collector: 'textfile' })).toBe(1);
      expect(value('node_scrape_collector_success', { collector: 'os' })).toBe(1);
    }
    expect(ns.lines.filter((l) => l.includes('mount point marked stuck'))).toHaveLength(HUNG);
  }, 120_000);

  it('the agent still shuts down cleanly with statfs calls stuck in the kernel', async () => {
    // The helper runs as PID 1 inside; outside it is unshare's only child.
    const pid = ns.child.pid as number;
    const helper = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
    process.kill(helper, 'SIGTERM');
    const line = await ns.waitFor(/agent exited/, 30_000);
    expect(line).toBe('agent exited code=0 signal=null');
  }, 60_000);
});
