import { describe, expect, it } from 'vitest';
import { runAgent, tempDir } from '../../../testing/processes.ts';

describe('collector option flags, env and config, as node_exporter names them', () => {
  it('flags, environment and defaults reach collector_options', async () => {
    const { code, out } = await runAgent(
      [
        'check-config',
        '--data-dir',
        tempDir(),
        '--collector.textfile.directory',
        '/var/lib/falconet/textfile',
        '--collector.filesystem.mount-points-exclude=^/(dev|proc|sys)($|/)',
        '--collector.filesystem.mount-timeout=3s',
        '--collector.cpu.info',
        '--no-collector.cpu.guest',
      ],
      { FALCONET_COLLECTOR_OPTIONS_NETDEV_DEVICE_EXCLUDE: '^lo$' },
    );
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('directory: /var/lib/falconet/textfile');
    expect(text).toContain('mount_points_exclude: ^/(dev|proc|sys)($|/)');
    expect(text).toContain('mount_timeout: 3000');
    expect(text).toMatch(/cpu:\n\s+guest: false\n\s+info: true/);
    expect(text).toContain('device_exclude: ^lo$');
  }, 30_000);

  it('a bad option flag or value names the flag and exits 2', async () => {
    const unknown = await runAgent(['check-config', '--collector.filesystem.nope=1']);
    expect(unknown).toEqual({ code: 2, out: ['falconet-agent: unknown flag --collector.filesystem.nope'] });
    const badRe = await runAgent(['check-config', '--data-dir', tempDir(), '--collector.vmstat.fields=([']);
    expect(badRe.code).toBe(2);
    expect(badRe.out[0]).toMatch(
      /^falconet-agent: flag --collector.vmstat.fields: collector_options.vmstat.fields: not a valid regular expression/,
    );
  }, 30_000);
});
