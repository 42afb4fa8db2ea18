/**
 * dockerd SIGKILLed under the agent's container collector and started again (a real engine of
 * the test's own, e2e/containers-dockerd.ts). e2e/containers.test.ts covers an orderly restart
 * (one warning, one "available again", the stopped container seen exited); this one kills the
 * daemon outright and checks what comes after: the agent says why while the socket is dead
 * (log and falconet_docker_up 0 with the problem), a container with a restart policy is listed
 * and measured again, a container made after the restart is named and measured (the event
 * watch is opened again), and every container event is counted once, the replay after the
 * reconnect included.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapedSeries } from '../testing/exposition.ts';
import { type AgentProc, eventually, startAgent, tempDir } from '../testing/processes.ts';
import { type Dockerd, startDockerd, TEST_IMAGE } from './containers-dockerd.ts';

const progress = (msg: string) => process.stderr.write(`[dockerd-restart ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

describe('dockerd SIGKILLed under the container collector', () => {
  let dockerd: Dockerd;
  let agent: AgentProc;
  const metrics = async () => (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
  const value = (text: string, name: string, labels: Record<string, string>) => scrapedSeries(text, name, labels)[0]?.value;

  beforeAll(async () => {
    dockerd = await startDockerd();
    // `always`: the daemon starts it again when it comes back.
    await dockerd.docker(
      'run',
      '-d',
      '--name',
      'keeper',
      '--network',
      'none',
      '--restart',
      'always',
      TEST_IMAGE,
      'sh',
      '-c',
      'yes >/dev/null',
    );
    const dir = tempDir('falconet-dockerd-restart-');
    const config = join(dir, 'falconet-agent.yaml');
    writeFileSync(config, `containers:\n  docker_socket: ${dockerd.socket}\n`);
    agent = await startAgent({ interval: '1s', args: ['--config', config] });
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await dockerd?.stop();
  });

  it('says why while the socket is dead, then lists, names and measures containers again and counts each event once', {
    timeout: 180_000,
  }, async () => {
    await eventually(async () => value(await metrics(), 'falconet_container_state', { name: 'keeper', state: 'running' }) === 1, 30_000);
    const cpuBefore = value(await metrics(), 'container_cpu_usage_seconds_total', { name: 'keeper' }) ?? 0;
    const before = agent.lines.length;
    let downText = '';
    await dockerd.restart({
      signal: 'SIGKILL',
      whileDown: async () => {
        progress('dockerd SIGKILLed');
        // The collector notices on its next round (a scrape: this agent has no server) and says so once.
        downText = await eventually(async () => {
          const t = await metrics();
          return value(t, 'falconet_docker_up', {}) === 0 ? t : undefined;
        }, 20_000);
        const said = await agent.waitFor(
          (l) => agent.lines.indexOf(l) >= before && l.includes('containers are reported from cgroups only'),
          5_000,
        );
        progress(`agent said: ${said}`);
        expect(scrapedSeries(downText, 'falconet_docker_info', {})[0]?.labels.problem).toMatch(/^(refused|no_socket)$/);
        expect(agent.child.exitCode).toBeNull();
      },
    });
    progress('dockerd started again');
    // Events before the agent watches again (it asks the engine on its next collection, at the next
    // scrape here): keeper restarted, a new container started. They must be replayed, and counted once.
    await dockerd.docker('restart', '-t', '1', 'keeper');
    await dockerd.docker('run', '-d', '--name', 'newcomer', '--network', 'none', TEST_IMAGE, 'sleep', '1000000');
    await eventually(async () => value(await metrics(), 'falconet_docker_up', {}) === 1, 30_000, 500);
    await agent.waitFor((l) => agent.lines.indexOf(l) >= before && l.includes('Docker API available again'), 5_000);
    const said = agent.lines.slice(before).filter((l) => l.includes('Docker'));
    expect(said.filter((l) => l.includes('containers are reported from cgroups only'))).toHaveLength(1);
    expect(said.filter((l) => l.includes('available again'))).toHaveLength(1);

    // The container with a restart policy: running again, named, and its CPU counter moving again.
    await eventually(async () => value(await metrics(), 'falconet_container_state', { name: 'keeper', state: 'running' }) === 1, 60_000);
    const cpu1 = await eventually(async () => value(await metrics(), 'container_cpu_usage_seconds_total', { name: 'keeper' }), 20_000);
    const cpu2 = await eventually(async () => {
      const v = value(await metrics(), 'container_cpu_usage_seconds_total', { name: 'keeper' });
      return v !== undefined && v > cpu1 ? v : undefined;
    }, 20_000);
    // A container made after the restart (before the agent reconnected): named, measured, its start counted.
    const text = await eventually(async () => {
      const t = await metrics();
      return value(t, 'falconet_container_state', { name: 'newcomer', state: 'running' }) === 1 &&
        value(t, 'falconet_container_events_total', { name: 'newcomer', event: 'start' }) === 1
        ? t
        : undefined;
    }, 30_000);
    expect(value(text, 'falconet_docker_up', {})).toBe(1);
    expect(value(text, 'container_cpu_usage_seconds_total', { name: 'newcomer' })).toBeDefined();
    // Each event once: keeper's start after the restart is counted once more than before it, however the replay overlapped.
    const keeperStarts = value(text, 'falconet_container_events_total', { name: 'keeper', event: 'start' });
    const engineStarts = (
      await dockerd.docker(
        'events',
        '--since',
        '0',
        '--until',
        String(Math.ceil(Date.now() / 1000)),
        '--filter',
        'container=keeper',
        '--filter',
        'event=start',
        '--format',
        '{{.ID}}',
      )
    )
      .split('\n')
      .filter(Boolean).length;
    // This engine's containers only: other engines on the machine have cgroups of their own.
    const engine = new Map(
      (await dockerd.docker('ps', '--no-trunc', '--format', '{{.ID}} {{.Names}}'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
    const listed = [...engine.values()].sort();
    const seen = scrapedSeries(text, 'falconet_container_state', { state: 'running' })
      .filter((s) => s.value === 1 && [...engine.keys()].some((id) => s.labels.id?.endsWith(id)))
      .map((s) => s.labels.name)
      .sort();
    progress(
      `engine lists ${listed.length} running (${listed.join(', ')}), agent reports ${seen.length} (${seen.join(', ')}); ` +
        `keeper starts counted ${keeperStarts}, engine logged ${engineStarts}; keeper CPU ${cpuBefore.toFixed(2)} s before, ${cpu1.toFixed(2)} -> ${cpu2.toFixed(2)} s after`,
    );
    expect(seen).toEqual(listed);
    // A restarted engine's event log starts with it: everything in it came after the agent's last
    // watch broke, so the agent counted exactly those, through the replay (no keeper events before the kill).
    expect(keeperStarts).toBe(engineStarts);
    expect(engineStarts).toBeGreaterThanOrEqual(1);
    expect(agent.child.exitCode).toBeNull();
  });
});
