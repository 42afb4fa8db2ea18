import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_CLI, freePort, type Proc, startProcess, tempDir } from '../../../testing/processes.ts';
import { releasableMappings } from '../src/runtime/startup-pages.ts';

// Recorded from an agent (addresses and sizes as Linux prints them; fields trimmed to those read),
// with two mappings added: one whose copied page was swapped out, one from a kernel without Swap:.
const EXE = '/opt/node/bin/node';
const SMAPS = `00400000-0074d000 r--p 00000000 fd:01 123 ${EXE}
Rss:                3380 kB
Anonymous:             0 kB
Swap:                  0 kB
SwapPss:               0 kB
0074d000-03081000 r-xp 0034d000 fd:01 123 ${EXE}
Rss:               20616 kB
Anonymous:             0 kB
Swap:                  0 kB
03200000-03201000 r--p 02e00000 fd:01 123 ${EXE}
Rss:                   4 kB
Anonymous:             4 kB
Swap:                  0 kB
03201000-06b83000 r--p 02e01000 fd:01 123 ${EXE}
Rss:               13820 kB
Anonymous:             0 kB
Swap:                  0 kB
06b83000-06b9a000 rw-p 06783000 fd:01 123 ${EXE}
Rss:                  92 kB
Anonymous:            60 kB
Swap:                  0 kB
06b9a000-06c00000 r--p 0679a000 fd:01 123 ${EXE}
Rss:                 400 kB
Anonymous:             0 kB
Swap:                  8 kB
SwapPss:               8 kB
06c00000-06d00000 r--p 06800000 fd:01 123 ${EXE}
Rss:                 120 kB
Anonymous:             0 kB
13faa000-143b8000 rw-p 00000000 00:00 0                                  [heap]
Rss:                3880 kB
Anonymous:          3880 kB
Swap:                  0 kB
7f655a044000-7f655a19a000 r-xp 00028000 fd:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1304 kB
Anonymous:             0 kB
Swap:                  0 kB
7f651b000000-7f653ad80000 rwxp 00000000 00:00 0
Rss:                 596 kB
Anonymous:           596 kB
Swap:                  0 kB
`;

describe('the startup pages of the node binary', () => {
  it('releases only read-only mappings of the executable without a private page, resident or swapped out', () => {
    expect(releasableMappings(SMAPS, EXE)).toEqual([
      { start: 0x400000, end: 0x74d000, residentKb: 3380 },
      { start: 0x74d000, end: 0x3081000, residentKb: 20616 },
      { start: 0x3201000, end: 0x6b83000, residentKb: 13820 },
    ]);
    expect(releasableMappings(SMAPS, '/usr/bin/other')).toEqual([]);
  });

  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
  });

  const fileKb = (pid: number) => Number(/^RssFile:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

  it.skipIf(process.platform !== 'linux')(
    'a running agent gives them back after its start, and keeps serving /metrics',
    { timeout: 60_000 },
    async () => {
      const port = await freePort();
      const agent = startProcess(
        AGENT_CLI,
        ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tempDir(), 'data'), '--log.level', 'debug'],
        {
          FALCONET_RELEASE_STARTUP_PAGES: '3000',
        },
      );
      procs.push(agent);
      await agent.waitFor(/"agent started"/);
      const pid = agent.child.pid as number;
      const first = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const before = fileKb(pid);
      const line = await agent.waitFor(/released the startup pages/, 20_000);
      const record = JSON.parse(line) as { mappings: number; releasedMb: number };
      expect(record.mappings).toBeGreaterThan(0);
      expect(record.releasedMb).toBeGreaterThan(10);
      expect(fileKb(pid)).toBeLessThan(before - 10 * 1024);
      // The code behind the pages comes back as it runs: the next scrape has the same families.
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const families = (t: string) => t.split('\n').filter((l) => l.startsWith('# TYPE '));
      expect(families(after)).toEqual(families(first));
    },
  );

  it('warns about a setting it cannot read and keeps the default', async () => {
    const port = await freePort();
    const agent = startProcess(AGENT_CLI, ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tempDir(), 'data')], {
      FALCONET_RELEASE_STARTUP_PAGES: 'soon',
    });
    procs.push(agent);
    const line = await agent.waitFor(/FALCONET_RELEASE_STARTUP_PAGES/);
    expect(line).toContain('expected \\"off\\" or a delay in milliseconds');
  });
});
