import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProc,
  eventually,
  freePort,
  type Proc,
  type ServerProc,
  startAgent,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';

/**
 * remote_write out against the real receivers: Debian's Prometheus (--web.enable-remote-write-receiver)
 * and Debian's VictoriaMetrics. A Falconet server with one agent sends to both; their own query APIs
 * must return the agent's series with exactly the samples Falconet holds. Then both receivers go down
 * for two minutes, Falconet restarts in the middle of that, the receivers come back on the same ports
 * and data, and still every sample Falconet holds is in both.
 */

const METRICS = ['node_load1', 'node_memory_MemAvailable_bytes', 'node_cpu_seconds_total'];
const OUTAGE_MS = 120_000;

type Samples = Map<string, Map<number, number>>;

interface Matrix {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
}

const key = (m: Record<string, string>) =>
  Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join(',');

/** Raw samples of `name` in [fromMs, toMs] through a Prometheus-style instant query of a range selector. */
async function rawByQuery(base: string, name: string, fromMs: number, toMs: number): Promise<Samples> {
  const windowS = Math.ceil((toMs - fromMs) / 1000) + 1;
  const params = new URLSearchParams({ query: `${name}{job="falconet"}[${windowS}s]`, time: String(toMs / 1000) });
  const res = (await (await fetch(`${base}/api/v1/query?${params}`)).json()) as Matrix;
  if (res.status !== 'success') throw new Error(`${base}: ${res.error}`);
  const out: Samples = new Map();
  for (const s of res.data.result) {
    const m = new Map<number, number>();
    for (const [t, v] of s.values) if (t * 1000 >= fromMs) m.set(Math.round(t * 1000), Number(v));
    out.set(key(s.metric), m);
  }
  return out;
}

/** Raw samples from VictoriaMetrics' export API (no query-time lookback or latency offset in the way). */
async function rawFromVm(base: string, name: string, fromMs: number, toMs: number): Promise<Samples> {
  const params = new URLSearchParams({ 'match[]': `${name}{job="falconet"}`, start: String(fromMs / 1000), end: String(toMs / 1000) });
  const text = await (await fetch(`${base}/api/v1/export?${params}`)).text();
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    const m = out.get(key(s.metric)) ?? new Map<number, number>();
    s.timestamps.forEach((t, i) => {
      if (t >= fromMs && t <= toMs) m.set(t, s.values[i] as number);
    });
    out.set(key(s.metric), m);
  }
  return out;
}

/** Why `theirs` differs from `ours`, or undefined. */
function difference(ours: Samples, theirs: Samples): string | undefined {
  const a = [...ours.keys()].sort().join(' | ');
  const b = [...theirs.keys()].sort().join(' | ');
  if (a !== b) return `series differ: Falconet ${a}; receiver ${b}`;
  for (const [k, pts] of ours) {
    const other = theirs.get(k) as Map<number, number>;
    if (other.size !== pts.size) return `${k}: ${pts.size} samples in Falconet, ${other.size} in the receiver`;
    for (const [t, v] of pts) {
      const w = other.get(t);
      if (w === undefined) return `${k}: no sample at ${t} in the receiver`;
      if (Math.abs(w - v) > 1e-9 * Math.max(1, Math.abs(v))) return `${k} at ${t}: Falconet ${v}, receiver ${w}`;
    }
  }
  return undefined;
}

describe('remote_write out to Prometheus 2.42 and VictoriaMetrics 1.79', () => {
  let server: ServerProc;
  let agent: AgentProc;
  let prometheus: Proc;
  let vm: Proc;
  const promDir = tempDir('falconet-rwout-prom-');
  const vmDir = tempDir('falconet-rwout-vm-');
  let promUrl = '';
  let vmUrl = '';
  let promPort = 0;
  let vmPort = 0;
  let serverArgs: { dataDir: string; httpPort: number; grpcPort: number; transferPort: number; args: string[] };
  const startedAt = Date.now();

  const startPrometheus = async () => {
    prometheus = startCommand('prometheus', [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      `--storage.tsdb.path=${join(promDir, 'tsdb')}`,
      '--web.enable-remote-write-receiver',
    ]);
    await eventually(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 60_000);
  };
  const startVm = async () => {
    vm = startCommand('victoria-metrics', [
      `-httpListenAddr=127.0.0.1:${vmPort}`,
      `-storageDataPath=${vmDir}`,
      // A batch re-sent after a crash between send and cursor write would otherwise be stored twice.
      '-dedup.minScrapeInterval=1ms',
    ]);
    await eventually(async () => (await fetch(`${vmUrl}/health`).catch(() => undefined))?.ok, 60_000);
  };

  /** The destination's gauge from Falconet's /metrics. */
  const selfMetric = async (name: string, destination: string): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{destination="${destination}"`));
    return line ? Number(line.split(' ').at(-1)) : Number.NaN;
  };

  /** Waits until both receivers hold everything Falconet holds of METRICS in [startedAt, toMs]. */
  const expectAllDelivered = async (toMs: number) => {
    await eventually(
      async () => {
        for (const d of ['prometheus', 'vm'])
          if (!((await selfMetric('falconet_remote_write_out_highest_sent_timestamp_seconds', d)) * 1000 >= toMs)) return false;
        return true;
      },
      120_000,
      500,
    );
    let last = '';
    await eventually(
      async () => {
        for (const name of METRICS) {
          const ours = await rawByQuery(server.url, name, startedAt, toMs);
          if (ours.size === 0) return false;
          const diffs = [
            difference(ours, await rawByQuery(promUrl, name, startedAt, toMs)),
            difference(ours, await rawFromVm(vmUrl, name, startedAt, toMs)),
          ];
          const d = diffs.find(Boolean);
          if (d) {
            last = `${name}: ${d}`;
            return false;
          }
        }
        return true;
      },
      60_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last difference: ${last}`);
    });
  };

  beforeAll(async () => {
    promPort = await freePort();
    vmPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    vmUrl = `http://127.0.0.1:${vmPort}`;
    writeFileSync(join(promDir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\n');
    await Promise.all([startPrometheus(), startVm()]);
    const dataDir = tempDir('falconet-rwout-server-');
    const config = join(dataDir, '..', `falconet-rwout-${process.pid}.yaml`);
    writeFileSync(
      config,
      [
        'remote_write:',
        `  - url: ${promUrl}/api/v1/write`,
        '    name: prometheus',
        '    queue: {batch_send_deadline: 1s, max_backoff: 2s}',
        `  - url: ${vmUrl}/api/v1/write`,
        '    name: vm',
        '    queue: {batch_send_deadline: 1s, max_backoff: 2s, shards: 2}',
        '',
      ].join('\n'),
    );
    serverArgs = {
      dataDir,
      httpPort: await freePort(),
      grpcPort: await freePort(),
      transferPort: await freePort(),
      args: ['--config', config],
    };
    server = await startServer(serverArgs);
    agent = await startAgent({ server: `http://127.0.0.1:${serverArgs.grpcPort}`, interval: '1s' });
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await prometheus?.stop();
    await vm?.stop();
    for (const dir of [promDir, vmDir, serverArgs?.dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    if (serverArgs) rmSync(serverArgs.args[1] as string, { force: true });
  });

  it('both receivers return the agent series with the samples Falconet holds', async () => {
    await eventually(async () => (await rawByQuery(server.url, 'node_load1', startedAt, Date.now())).size > 0, 60_000);
    await expectAllDelivered(Date.now());
    expect(await selfMetric('falconet_remote_write_out_sent_samples_total', 'prometheus')).toBeGreaterThan(0);
  }, 240_000);

  it('loses nothing while both receivers are down for two minutes and Falconet restarts in between', async () => {
    const downAt = Date.now();
    await Promise.all([prometheus.stop(), vm.stop()]);
    // The outage itself is what is tested: it lasts its length, whatever the machine's speed.
    await eventually(async () => (await selfMetric('falconet_remote_write_out_failed_requests_total', 'prometheus')) > 0, 60_000);
    await new Promise((r) => setTimeout(r, OUTAGE_MS / 3));
    const pendingBefore = await selfMetric('falconet_remote_write_out_pending_samples', 'prometheus');
    expect(pendingBefore).toBeGreaterThan(0);
    await server.stop();
    server = await startServer(serverArgs);
    // What waited survived the restart (on disk), and more keeps coming from the agent.
    expect(await selfMetric('falconet_remote_write_out_pending_samples', 'prometheus')).toBeGreaterThanOrEqual(pendingBefore);
    await new Promise((r) => setTimeout(r, Math.max(0, downAt + OUTAGE_MS - Date.now())));
    const backAt = Date.now();
    await Promise.all([startPrometheus(), startVm()]);
    await expectAllDelivered(backAt + 5000);
    for (const d of ['prometheus', 'vm']) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(new RegExp(`falconet_remote_write_out_retried_samples_total\\{destination="${d}"\\} [1-9]`));
      expect(text).not.toMatch(new RegExp(`falconet_remote_write_out_dropped_samples_total\\{destination="${d}",reason="[^"]+"\\} [1-9]`));
    }
  }, 300_000);
});
