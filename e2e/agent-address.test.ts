/**
 * The address a host is listed by, on real processes in a network namespace of their own: with
 * nothing but loopback the agent says 127.0.0.1; once the host has a network (it came up after the
 * agent started), the agent registers by the host's own address at its next connection.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCommand } from '../testing/processes.ts';

const SCRIPT = join(import.meta.dirname, 'helpers/late-network.ts');

/** Whether this machine lets an unprivileged user make a network namespace with a veth pair in it. */
const canIsolate =
  spawnSync('unshare', ['-rn', 'ip', 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'], { stdio: 'ignore' }).status === 0;

describe("the host's own address, not the loopback", () => {
  if (canIsolate) {
    it('lists 127.0.0.1 while the host has nothing else, then its own address once its network is up', async () => {
      const p = startCommand('unshare', ['-rn', process.execPath, '--conditions=source', '--disable-warning=ExperimentalWarning', SCRIPT]);
      const before = JSON.parse((await p.waitFor(/^before /, 120_000)).slice('before '.length));
      const after = JSON.parse((await p.waitFor(/^after /, 180_000)).slice('after '.length));
      expect((await p.exited).code).toBe(0);
      expect(before).toMatchObject({ primaryIp: '127.0.0.1', ips: [] });
      expect(after).toMatchObject({ primaryIp: '10.1.2.3', ips: ['10.1.2.3'], status: 'online' });
    }, 300_000);
  }
});
