/**
 * A real etcd for a test: its own data directory and free loopback ports, stopped afterwards.
 * It can be stopped and started again on the same ports, with its data or without it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { etcdClient } from '@falconet/protocol/etcd';
import { Etcd3 } from 'etcd3';
import { eventually, freePort, stopChild, tempDir } from './processes.ts';

export const ETCD_BIN = process.env.FALCONET_ETCD ?? '/usr/bin/etcd';

export interface EtcdProc {
  endpoint: string;
  clientPort: number;
  dataDir: string;
  /** A client of the test's own, for looking at keys. */
  client: Etcd3;
  /** SIGTERM (or `signal`) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports, with its data or on a fresh data directory. */
  restart(opts?: { wipe?: boolean }): Promise<void>;
  output: string[];
  /** When the running etcd started serving clients, by its own log (ms since the epoch). */
  servingSinceMs(): number | undefined;
}

/** etcd 3.4 logs `2026-11-22 04:25:35.547839 N | embed: serving insecure client requests on …` in local time. */
function servingTime(output: string[]): number | undefined {
  const lines = output.join('').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\d* . \| embed: serving insecure client requests/.exec(lines[i] as string);
    if (m) return new Date(`${m[1]}T${m[2]}`).getTime();
  }
  return undefined;
}

export async function startEtcd(): Promise<EtcdProc> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const output: string[] = [];
  let child: ChildProcess | undefined;
  let dataDir = tempDir('falconet-etcd-');

  const launch = async () => {
    const c = spawn(
      ETCD_BIN,
      [
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${peerPort}`,
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    c.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    c.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const probe = new Etcd3({ hosts: endpoint, dialTimeout: 1000 });
    try {
      await eventually(async () => (await probe.get('/falconet-test-probe').string()) === null || true, 20_000, 100);
    } finally {
      probe.close();
    }
  };
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, signal);
  await launch();
  // The project's own client settings: etcd3's default circuit breaker would hide a restarted etcd for 5 s.
  const client = etcdClient([endpoint]);
  return {
    endpoint,
    clientPort,
    get dataDir() {
      return dataDir;
    },
    client,
    output,
    servingSinceMs: () => servingTime(output),
    async stop(signal) {
      await stop(signal);
    },
    async restart(opts = {}) {
      await stop();
      if (opts.wipe) dataDir = tempDir('falconet-etcd-');
      await launch();
    },
  } as EtcdProc;
}
