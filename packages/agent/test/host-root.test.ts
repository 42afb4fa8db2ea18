import { cpSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '@falconet/protocol/cli';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesValue } from '../../../testing/exposition.ts';
import { tempDir } from '../../../testing/processes.ts';
import { FIXTURES } from '../../../testing/procfs-fixtures.ts';
import { CollectorSet } from '../src/collection.ts';
import { loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { agentConfigSchema } from '../src/config.ts';
import { loadAgentConfig, parseAgentArgs } from '../src/runtime/options.ts';

// An agent in a container reads the host through bind mounts, node_exporter's way:
// `-v /:/host:ro,rslave --path.rootfs=/host` (and /host/proc, /host/sys).

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('--path.procfs, --path.sysfs, --path.rootfs', () => {
  const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig(parseAgentArgs(argv, env), env).config;

  it("set the collectors' roots, as node_exporter's flags of the same names", () => {
    const c = config(['run', '--path.procfs', '/host/proc', '--path.sysfs=/host/sys', '--path.rootfs', '/host']);
    expect(c.procfs).toEqual({ proc: '/host/proc', sys: '/host/sys', rootfs: '/host' });
    expect(config(['run']).procfs).toEqual({ proc: '/proc', sys: '/sys', rootfs: '/' });
  });

  it('beat FALCONET_PROCFS_* from the environment, which beats the default', () => {
    const env = { FALCONET_PROCFS_ROOTFS: '/from-env', FALCONET_PROCFS_PROC: '/env/proc' };
    expect(config(['run', '--path.rootfs', '/host'], env).procfs).toEqual({ proc: '/env/proc', sys: '/sys', rootfs: '/host' });
  });

  it('without a value: a usage error naming the flag', () => {
    expect(() => parseAgentArgs(['run', '--path.rootfs'], {})).toThrow(UsageError);
    expect(() => parseAgentArgs(['run', '--path.rootfs'], {})).toThrow(/--path\.rootfs/);
  });
});

describe('collectors over a host root mounted at another path', () => {
  /**
   * A host tree as a container sees it under /host: the `basic` fixture's proc and sys, and a
   * root whose pid 1 mount table names `/` and `/data` as the host knows them.
   */
  function hostTree(): { host: string; roots: { proc: string; sys: string; rootfs: string } } {
    const host = join(tempDir('falconet-host-root-'), 'host');
    scratch.push(host);
    cpSync(join(FIXTURES, 'basic', 'proc'), join(host, 'proc'), { recursive: true });
    cpSync(join(FIXTURES, 'basic', 'sys'), join(host, 'sys'), { recursive: true });
    mkdirSync(join(host, 'proc', '1'), { recursive: true });
    writeFileSync(
      join(host, 'proc', '1', 'mounts'),
      ['/dev/sda1 / ext4 rw,relatime 0 0', '/dev/sdb1 /data xfs ro,noatime 0 0', 'proc /proc proc rw 0 0', ''].join('\n'),
    );
    mkdirSync(join(host, 'data'));
    mkdirSync(join(host, 'etc'));
    writeFileSync(
      join(host, 'etc', 'os-release'),
      'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    );
    return { host, roots: { proc: join(host, 'proc'), sys: join(host, 'sys'), rootfs: host } };
  }

  async function collect(names: string[], roots: { proc: string; sys: string; rootfs: string }) {
    const defs = (await loadCollectorDefinitions('linux')).filter((d) => names.includes(d.name));
    const config = agentConfigSchema.parse({});
    return await new CollectorSet(defs, { roots, log: pino({ level: 'silent' }), timeoutMs: 5000, config }).collect();
  }

  it('filesystem: statfs under the root, mount points reported as the host names them (no /host prefix)', async () => {
    const { host, roots } = hostTree();
    const c = await collect(['filesystem'], roots);
    const sizes = c.families.find((f) => f.name === 'node_filesystem_size_bytes')?.metrics ?? [];
    expect(sizes.map((m) => m.labels)).toEqual([
      { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' },
      { device: '/dev/sdb1', fstype: 'xfs', mountpoint: '/data' },
    ]);
    // Both are the temporary directory's file system, statted through the prefix.
    const st = statfsSync(host);
    expect(sizes[0]?.value).toBe(st.blocks * st.bsize);
    expect(seriesValue(c.families, 'node_filesystem_readonly', { mountpoint: '/data' })).toBe(1);
    expect(seriesValue(c.families, 'node_filesystem_device_error', { mountpoint: '/' })).toBe(0);
  });

  it("os: the host's os-release, not the image's", async () => {
    const { roots } = hostTree();
    const c = await collect(['os'], roots);
    expect(c.families.find((f) => f.name === 'node_os_info')?.metrics[0]?.labels).toMatchObject({ id: 'debian', version_id: '12' });
  });

  it('meminfo and stat: the figures of the proc tree named, not /proc', async () => {
    const { roots } = hostTree();
    const c = await collect(['meminfo', 'stat'], roots);
    const fixture = await collect(['meminfo', 'stat'], {
      proc: join(FIXTURES, 'basic', 'proc'),
      sys: join(FIXTURES, 'basic', 'sys'),
      rootfs: join(FIXTURES, 'basic', 'rootfs'),
    });
    for (const name of ['node_memory_MemTotal_bytes', 'node_boot_time_seconds']) {
      expect(seriesValue(fixture.families, name, {}), name).toBeGreaterThan(0);
      expect(seriesValue(c.families, name, {}), name).toBe(seriesValue(fixture.families, name, {}));
    }
  });
});
