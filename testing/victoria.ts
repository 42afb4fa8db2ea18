/**
 * Debian's victoria-metrics for a test or a benchmark: a free loopback port and a data directory
 * of its own, stopped by the caller. `-retentionPeriod=100y` keeps samples stamped in the past
 * (the store suite's are in early 2026); `flags` adds others (-search.disableCache, ...).
 */
import { eventually, freePort, type Proc, startCommand, tempDir } from './processes.ts';

export interface Victoria {
  url: string;
  dir: string;
  port: number;
  proc: Proc;
}

export async function startVictoria(opts: { dir?: string; port?: number; flags?: string[] } = {}): Promise<Victoria> {
  const dir = opts.dir ?? tempDir('falconet-vm-');
  const port = opts.port ?? (await freePort());
  const proc = startCommand('victoria-metrics', [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${dir}`,
    '-retentionPeriod=100y',
    ...(opts.flags ?? []),
  ]);
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/health`).catch(() => undefined))?.ok, 30_000, 100);
  return { url, dir, port, proc };
}
