/**
 * A real NATS server for a test: Debian's nats-server on a free loopback port of its own, with
 * JetStream in a data directory of its own, stopped afterwards. It can be stopped and started
 * again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { eventually, freePort, stopChild, tempDir } from './processes.ts';

export const NATS_BIN = process.env.FALCONET_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsProc {
  url: string;
  port: number;
  /** The running nats-server's process id (benchmarks charge its CPU). */
  pid(): number | undefined;
  stop(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  output: string[];
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startNats(): Promise<NatsProc> {
  const port = await freePort();
  const dataDir = tempDir('falconet-nats-');
  const output: string[] = [];
  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn(NATS_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    c.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    await eventually(
      async () => {
        if (c.exitCode !== null) throw new Error(`nats-server exited with ${c.exitCode}: ${output.join('').slice(-500)}`);
        return accepts(port);
      },
      20_000,
      50,
    );
  };
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, signal);
  await launch();
  return { url: `nats://127.0.0.1:${port}`, port, pid: () => child?.pid, stop, restart: launch, output };
}
