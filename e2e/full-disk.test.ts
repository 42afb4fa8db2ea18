import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../testing/browser.ts';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

/**
 * Issue 24, "Full disk", the server's side: its data directory on a 64 MB tmpfs that a filler file
 * fills up. Ingest must stop acknowledging and say why (server log, /metrics, the fleet summary the
 * dashboard's banner reads), the real agent must keep spooling, and once the filler goes ingest must
 * resume by itself, with every sample the agent produced stored exactly once, across a restart too.
 */

const progress = (msg: string) => process.stderr.write(`[full-disk ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Writes `file` until the filesystem refuses (ENOSPC): big chunks first, then small ones for the last pages. */
function fillUp(file: string): number {
  const fd = openSync(file, 'a');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          const n = writeSync(fd, chunk);
          written += n;
          if (n < size) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function agentLedger(lines: readonly string[]): { all: SampleLedger; byTs: Map<number, SampleLedger> } {
  const all = new SampleLedger();
  const byTs = new Map<number, SampleLedger>();
  for (const line of lines) {
    if (!line.includes('"msg":"sample"')) continue;
    const s = JSON.parse(line) as { sample: string; labels: Record<string, string>; value: number | null; ts: number };
    all.add(s.sample, s.labels, s.ts, s.value);
    const l = byTs.get(s.ts) ?? new SampleLedger();
    byTs.set(s.ts, l);
    l.add(s.sample, s.labels, s.ts, s.value);
  }
  return { all, byTs };
}

const metricValue = (text: string, re: RegExp): number | undefined => {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
};

// Needs root to mount the tmpfs, as on the CI machines.
describe.skipIf(process.getuid?.() !== 0)('server data directory on a filesystem that fills', () => {
  const mnt = tempDir('falconet-full-disk-');
  let mounted = false;
  let server: ServerProc | undefined;
  let agent: AgentProc | undefined;
  afterAll(async () => {
    await agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    if (mounted) execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('stops acknowledging and says why, the agent spools, and ingest resumes by itself with every sample once', {
    timeout: 300_000,
  }, async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
    mounted = true;
    const dataDir = join(mnt, 'data');
    mkdirSync(dataDir);
    server = await startServer({ dataDir });
    const { httpPort, grpcPort, transferPort } = server;
    const metrics = async () => (await fetch(`${(server as ServerProc).url}/metrics`)).text();
    agent = await startAgent({ server: `127.0.0.1:${grpcPort}`, interval: '500ms', args: ['--debug', '--log.level', 'info'] });
    const a = agent;
    const agentMetrics = async () => (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics`)).text();
    const pending = async () => metricValue(await agentMetrics(), /^falconet_agent_spool_pending_reports (\d+)/m) ?? -1;
    await a.waitFor(/"connected to server"/);
    const t0 = Date.now();
    const agentId = readFileSync(join(a.dataDir, 'agent-id'), 'utf8').trim();
    await eventually(async () => (metricValue(await metrics(), /^falconet_server_reports_total (\d+)/m) ?? 0) >= 6, 60_000);
    expect(await metrics()).toMatch(/^falconet_store_writable 1$/m);

    // What was acknowledged before the disk filled: read back now, compared again at the end.
    const beforeByTs = new Map<number, SampleLedger>();
    const before = await storedLedger(server.url, agentId, t0 - 120_000, Date.now() + 1000, beforeByTs);
    expect(before.count).toBeGreaterThan(0);

    const filler = join(mnt, 'filler');
    const filled = fillUp(filler);
    progress(`filler of ${(filled / 1e6).toFixed(1)} MB written; the data directory's filesystem is full`);

    // 1. The server log says so once, with the free bytes and the path.
    const line = await server.waitFor(/store refuses writes/, 60_000);
    expect(line).toContain(join(dataDir, 'samples'));
    expect(line).toMatch(/"freeBytes":\d+/);
    // 2. /metrics: the store is not writable, and agents are refused with the reason.
    await eventually(async () => {
      const m = await metrics();
      return (
        /^falconet_store_writable 0$/m.test(m) &&
        /falconet_server_ingest_rejected_total\{channel="grpc",reason="store_full"\} [1-9]/.test(m)
      );
    }, 60_000);
    // 3. The fleet summary the dashboard's banner reads.
    const summary = await getJson<{ storeUnwritable?: string }>(`${server.url}/api/fleet/summary`);
    expect(summary.storeUnwritable).toMatch(new RegExp(`^server data directory is full: \\d+ bytes free on ${join(dataDir, 'samples')}$`));
    const seen = summary.storeUnwritable as string;
    // One line when it starts, none per refused agent, and no error.
    expect(server.lines.filter((l) => l.includes('store refuses writes')).length).toBe(1);
    expect(server.lines.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);

    // A script pushing over HTTP hears it too, and nothing of its request is taken.
    const pushed = await fetch(`${server.url}/api/v1/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ name: 'full_disk_push', labels: { host: 'pusher' }, value: 1 }]),
    });
    expect(pushed.status).toBe(503);
    expect(((await pushed.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'store_full',
      message: expect.stringMatching(/^server data directory is full: \d+ bytes free on .*; nothing of this request was acknowledged/),
    });

    // 4. The dashboard's banner, in English and in Simplified Chinese (the browser's language).
    const banners: string[] = [];
    const browser = await launchChromium();
    try {
      for (const locale of ['en-US', 'zh-CN']) {
        const context = await browser.newContext({ locale });
        const page = await context.newPage();
        await page.goto(server.url);
        const banner = page.getByTestId('store-full');
        await banner.waitFor({ timeout: 30_000 });
        banners.push(await banner.innerText());
        await context.close();
      }
    } finally {
      await browser.close();
    }
    expect(banners[0]).toBe(
      `The server is not storing reports (${seen}). Agents keep them in their spools and send them once there is room: free space on the server.`,
    );
    expect(banners[1]).toMatch(/^服务器暂停存储上报数据（server data directory is full: \d+ bytes free on .+）。/);

    // The agent keeps running and spooling, says why once, and backs off rather than redialling.
    const spooledAt = await pending();
    await eventually(async () => (await pending()) >= spooledAt + 8, 60_000, 250);
    expect(a.child.exitCode).toBeNull();
    const agentSaid = a.lines.filter((l) => l.includes('server cannot store reports now'));
    expect(agentSaid.length).toBe(1);
    expect(agentSaid[0]).toContain('server data directory is full');
    const refusedRegisters = metricValue(await metrics(), /reason="store_full"\} (\d+)/) ?? 0;
    // Reports every 0.5 s for several seconds; a redial per report (the old behaviour) would be one refusal each.
    const spooled = await pending();
    progress(`agent spooled ${spooled} reports; the server refused ${refusedRegisters} streams with store_full`);
    expect(refusedRegisters).toBeLessThan(spooled);

    // Room again: ingest resumes without a restart and the spool drains.
    rmSync(filler);
    const resumed = await server.waitFor(/store takes writes again/, 60_000);
    expect(resumed).toMatch(/"freeBytes":\d+/);
    await eventually(async () => /^falconet_store_writable 1$/m.test(await metrics()), 30_000);
    await eventually(async () => (await pending()) === 0, 120_000, 250);
    await a.stop('SIGTERM');
    expect(a.lines.some((l) => l.includes('reports the server has not acknowledged stay in the spool'))).toBe(false);
    expect(a.lines.some((l) => l.includes('server stores reports again'))).toBe(true);
    expect((await getJson<{ storeUnwritable?: string }>(`${server.url}/api/fleet/summary`)).storeUnwritable).toBeUndefined();

    // Every sample the agent produced, stored exactly once; what was acknowledged before the fill unchanged.
    const produced = agentLedger(a.lines);
    const check = async (when: string) => {
      const byTs = new Map<number, SampleLedger>();
      const stored = await storedLedger((server as ServerProc).url, agentId, t0 - 120_000, Date.now() + 1000, byTs);
      expect(stored.toJSON(), `${when}: every sample once`).toEqual(produced.all.toJSON());
      // A timestamp may be shared by reports on both sides of the snapshot (each collector stamps its
      // run's start): those whole at the snapshot must be unchanged, the others only grown.
      let whole = 0;
      for (const [t, l] of beforeByTs) {
        const now = byTs.get(t);
        if (l.checksum === produced.byTs.get(t)?.checksum) {
          whole++;
          expect(now?.toJSON(), `${when}: acknowledged before the fill, at ${t}`).toEqual(l.toJSON());
        } else expect(now?.count, `${when}: acknowledged before the fill, at ${t}`).toBeGreaterThan(l.count);
      }
      expect(whole).toBeGreaterThan(0);
      return stored;
    };
    const stored = await check('after resuming');
    expect(await metrics()).toMatch(/^falconet_server_reports_duplicate_total 0$/m);

    // And after a restart: nothing acknowledged was lost or damaged on the way.
    await server.stop('SIGTERM');
    server = await startServer({ dataDir, httpPort, grpcPort, transferPort });
    await check('after a restart');
    progress(
      `before the fill: ${before.count} samples (checksum ${before.checksum}); produced ${produced.all.count} (checksum ${produced.all.checksum}); ` +
        `stored ${stored.count} (checksum ${stored.checksum}), the same after a restart; the user saw: "${banners[0]}" / "${banners[1]}"`,
    );
  });
});
