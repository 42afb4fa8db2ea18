import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, heldPort, runServer, SERVER_CLI, startProcess, tempDir } from '../../../testing/processes.ts';

// Each case starts a server process: on a loaded 2-core machine that can take longer than Vitest's 5 s default.
describe('falconet-server bad input', { timeout: 30_000 }, () => {
  let busy: Awaited<ReturnType<typeof heldPort>>;
  let busyPort = 0;
  beforeAll(async () => {
    busy = await heldPort();
    busyPort = busy.port;
  });
  afterAll(() => busy.close());

  it('an unknown flag: one line, exit 2', async () => {
    expect(await runServer(['run', '--colour'])).toEqual({ code: 2, out: ['falconet-server: unknown flag --colour'] });
    expect(await runServer(['run', '--lisen', 'x'])).toEqual({
      code: 2,
      out: ['falconet-server: unknown flag --lisen (did you mean "--listen"?)'],
    });
    const typo = await runServer(['migrat']);
    expect(typo.out[0]).toMatch(/^falconet-server: unknown command "migrat" \(did you mean "migrate"\?\)/);
  });

  it('check-config: every problem in file order, with file:line:column and a plain sentence', async () => {
    const file = join(tempDir(), 'falconet-server.yaml');
    writeFileSync(file, ['log:', '  level: loud', 'grpc_tls:', '  mode: maybe', 'listn: 127.0.0.1:7070', ''].join('\n'));
    expect(await runServer(['check-config', '--config', file, '--data-dir', tempDir()])).toEqual({
      code: 2,
      out: [
        `falconet-server: ${file}:2:10: log.level: must be one of trace, debug, info, warn, error, fatal, silent, not "loud"`,
        `falconet-server: ${file}:4:9: grpc_tls.mode: must be one of auto, on, off, not "maybe"`,
        `falconet-server: ${file}:5:1: unknown key "listn" (did you mean "listen"?)`,
      ],
    });
  });

  it('an HTTP port already in use: one line, exit 2', async () => {
    const r = await runServer([
      'run',
      '--data-dir',
      tempDir(),
      '--listen',
      `127.0.0.1:${busyPort}`,
      '--grpc-listen',
      `127.0.0.1:${await freePort()}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.out.filter((l) => l.startsWith('falconet-server:'))).toEqual([
      `falconet-server: --listen 127.0.0.1:${busyPort}: address already in use; stop what holds it or pick another port`,
    ]);
    expect(r.out.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('a gRPC port already in use: one line, exit 2', async () => {
    const r = await runServer([
      'run',
      '--data-dir',
      tempDir(),
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--grpc-listen',
      `127.0.0.1:${busyPort}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.out.filter((l) => l.startsWith('falconet-server:'))).toEqual([
      `falconet-server: --grpc-listen 127.0.0.1:${busyPort}: address already in use; stop what holds it or pick another port`,
    ]);
  });

  it('a malformed address and a non-loopback address before any user exists', async () => {
    const bad = await runServer(['run', '--listen', 'localhost']);
    expect(bad.code).toBe(2);
    expect(bad.out[0]).toMatch(/^falconet-server: flag --listen: listen: listen address "localhost": expected HOST:PORT/);
    const wide = await runServer(['run', '--data-dir', tempDir(), '--listen', '0.0.0.0:7070']);
    expect(wide.code).toBe(2);
    expect(wide.out.filter((l) => l.startsWith('falconet-server:'))).toEqual([
      expect.stringMatching(/only loopback addresses are allowed until a user exists/),
    ]);
  }, 20_000);

  it('bad store settings: the key and what is wrong, exit 2', async () => {
    const dir = tempDir();
    const size = startProcess(SERVER_CLI, ['check-config', '--data-dir', dir], { FALCONET_STORE_MAX_SIZE: 'lots' });
    expect((await size.exited).code).toBe(2);
    expect(size.lines).toEqual([
      'falconet-server: environment variable FALCONET_STORE_MAX_SIZE: store.max_size: "lots" is not a size: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 512MiB, 2GB, 65536)',
    ]);
    const pg = startProcess(SERVER_CLI, ['migrate', '--data-dir', dir], { FALCONET_STORE_ENGINE: 'postgres' });
    expect((await pg.exited).code).toBe(2);
    expect(pg.lines).toEqual([
      'falconet-server: store.engine is postgres but database.url is not a postgres:// URL; set database.url or store.engine: embedded',
    ]);
  }, 30_000);

  it('version and migrate', async () => {
    const v = await runServer(['version']);
    expect(v.code).toBe(0);
    expect(v.out[0]).toMatch(/^falconet-server \d+\.\d+\.\d+$/);
    expect(v.out).toContain(`  target:     ${process.platform}-${process.arch}`);
    expect(v.out.some((l) => /^ {2}commit: +\S+/.test(l))).toBe(true);
    const dir = tempDir();
    const m = await runServer(['migrate', '--data-dir', dir]);
    // Other modules add their own migrations; these are the ones this test knows.
    expect(m.code).toBe(0);
    expect(m.out[0]).toBe('falconet-server: samples store (embedded) is ready');
    expect(m.out).toContain('falconet-server: applied migration 0001_agents');
    expect(m.out).toContain('falconet-server: applied migration 0002_agent_tokens');
    expect(m.out.at(-1)).toBe(`falconet-server: store schema in ${dir} is up to date`);
  }, 30_000);
});
