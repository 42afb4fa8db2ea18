import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_GLIBC_TUNABLES, startServer } from '../../../testing/processes.ts';
import { MMAP_THRESHOLD, tunedGlibcTunables } from '../src/malloc.ts';

/** A process' arguments as the kernel holds them (after any execve). */
const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

/**
 * The GLIBC_TUNABLES the server saw, from its log line. Not /proc/PID/environ: glibc cuts the
 * variable there in place while it parses it (a C probe printed the whole value from getenv and
 * only the first tunable from /proc/self/environ, with both in effect).
 */
const tunablesSeen = (lines: string[]) =>
  lines
    .filter((l) => l.includes('C allocator tunables in effect'))
    .map((l) => (JSON.parse(l) as { GLIBC_TUNABLES: string }).GLIBC_TUNABLES);

describe('the C allocator under falconet-server run', () => {
  it('adds a fixed mmap threshold to GLIBC_TUNABLES unless one is set', () => {
    expect(MMAP_THRESHOLD).toBe(131072);
    expect(tunedGlibcTunables(undefined)).toBe('glibc.malloc.mmap_threshold=131072');
    expect(tunedGlibcTunables('')).toBe('glibc.malloc.mmap_threshold=131072');
    expect(tunedGlibcTunables('glibc.malloc.arena_max=2')).toBe('glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072');
    expect(tunedGlibcTunables('glibc.malloc.mmap_threshold=65536')).toBeUndefined();
    expect(tunedGlibcTunables('glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576')).toBeUndefined();
    // A different tunable whose name merely starts alike is not the threshold.
    expect(tunedGlibcTunables('glibc.malloc.mmap_max=0')).toBe('glibc.malloc.mmap_max=0:glibc.malloc.mmap_threshold=131072');
    expect(SERVER_GLIBC_TUNABLES).toBe(tunedGlibcTunables(undefined));
  });

  it('starts itself again in place with the threshold, keeping its process id and arguments', async () => {
    const server = await startServer({ env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' } });
    try {
      const pid = server.child.pid as number;
      // One process, started twice: the id vitest spawned serves, with the threshold added.
      expect(tunablesSeen(server.lines)).toEqual(['glibc.malloc.arena_max=4:glibc.malloc.mmap_threshold=131072']);
      const argv = argvOf(pid);
      expect(argv.slice(-9)).toEqual([
        'run',
        '--data-dir',
        server.dataDir,
        '--listen',
        `127.0.0.1:${server.httpPort}`,
        '--grpc-listen',
        `127.0.0.1:${server.grpcPort}`,
        '--transfer-listen',
        `127.0.0.1:${server.transferPort}`,
      ]);
      expect(argv).toContain('--conditions=source');
      expect(server.lines.join('\n')).not.toMatch(/Warning/);
      // It serves as any server does.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("leaves an operator's own threshold as it is, and starts once", async () => {
    const server = await startServer({ env: { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' } });
    try {
      expect(tunablesSeen(server.lines)).toEqual(['glibc.malloc.mmap_threshold=1048576']);
    } finally {
      await server.stop();
    }
  });
});
