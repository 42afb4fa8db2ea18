import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_CLI, freePort, type Proc, startProcess, tempDir } from '../../../testing/processes.ts';
import { AGENT_NODE_FLAGS, missingNodeFlags, unappliedNodeFlags } from '../src/runtime/node-flags.ts';

describe("the agent's V8 flags", () => {
  it('names TurboFan by its own flag, not the --no-opt alias', () => {
    expect(AGENT_NODE_FLAGS).toContain('--no-turbofan');
    expect(AGENT_NODE_FLAGS).not.toContain('--no-opt');
  });

  it('counts a flag as given on the command line or in NODE_OPTIONS, whatever its value', () => {
    expect(missingNodeFlags([], '')).toEqual(AGENT_NODE_FLAGS);
    expect(
      missingNodeFlags(
        ['--max-semi-space-size=4', '--no-turbofan', '--no-maglev'],
        '--optimize-for-size --no-allocation-site-pretenuring --single-threaded',
      ),
    ).toEqual([]);
  });

  it('says which flags a process runs without, unless told to keep the defaults', () => {
    expect(unappliedNodeFlags({}, [])).toEqual(AGENT_NODE_FLAGS);
    expect(unappliedNodeFlags({ FALCONET_NODE_FLAGS: 'off' }, [])).toEqual([]);
    expect(unappliedNodeFlags({}, AGENT_NODE_FLAGS)).toEqual([]);
  });

  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
  });

  /** The flags the running agent reports in its start line (its title hides its command line). */
  const startedFlags = async (agent: Proc) => {
    const started = JSON.parse(await agent.waitFor(/"agent started"/)) as { pid: number; nodeFlags: string };
    expect(started.pid).toBe(agent.child.pid);
    return started.nodeFlags.split(' ');
  };

  it.runIf(process.platform === 'linux')('`run` restarts itself under them, in the same process, and says nothing of it', async () => {
    const port = await freePort();
    const agent = startProcess(AGENT_CLI, ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tempDir(), 'data')]);
    procs.push(agent);
    expect(await startedFlags(agent)).toEqual(expect.arrayContaining(AGENT_NODE_FLAGS));
    expect(agent.lines.filter((l) => l.includes('running with Node.js defaults'))).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('FALCONET_NODE_FLAGS=off keeps Node defaults without a warning', async () => {
    const port = await freePort();
    const agent = startProcess(AGENT_CLI, ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', join(tempDir(), 'data')], {
      FALCONET_NODE_FLAGS: 'off',
    });
    procs.push(agent);
    expect(await startedFlags(agent)).not.toContain('--no-turbofan');
    expect(agent.lines.filter((l) => l.includes('running with Node.js defaults'))).toEqual([]);
  });
});
