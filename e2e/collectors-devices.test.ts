/**
 * The device collectors in a real agent process on this machine, a VM without GPUs or
 * SMART-capable disks and with systemd not PID 1 (Debian's smartctl installed, no nvidia-smi):
 * each collector turned on says why it has nothing in one log line, however many scrapes follow,
 * and /metrics reports it unsuccessful while everything else carries on. One GPU the agent does
 * see: an NVIDIA stand-in (a script printing recorded nvidia-smi output) named by the collector's
 * command flag.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProc, eventually, startAgent, tempDir } from '../testing/processes.ts';

let agent: AgentProc;
let fakeSmi = '';

beforeAll(async () => {
  const dir = tempDir('falconet-devices-e2e-');
  fakeSmi = join(dir, 'nvidia-smi');
  const fixture = join(import.meta.dirname, '..', 'packages', 'agent', 'test', 'fixtures', 'tools', 'nvidia-smi.csv');
  writeFileSync(fakeSmi, `#!/bin/sh\ngrep -v '^#' '${fixture}'\n`);
  chmodSync(fakeSmi, 0o755);
  agent = await startAgent({ args: ['--collector.systemd', '--collector.gpu_amd'] });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
});

const scrape = async () => await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();

describe('device collectors on a host without the devices', () => {
  it('say why once each, and report failure on /metrics without holding up the rest', async () => {
    for (let i = 0; i < 3; i++) await scrape();
    const text = await scrape();
    for (const c of ['smart', 'systemd', 'gpu_amd', 'gpu_nvidia']) {
      expect(text, c).toContain(`node_scrape_collector_success{collector="${c}"} 0`);
    }
    expect(text).toContain('node_scrape_collector_success{collector="loadavg"} 1');
    const said = await eventually(() => {
      const lines = agent.lines.filter((l) => l.includes('switched off'));
      return lines.length >= 4 ? lines : undefined;
    });
    const by = (c: string) => said.filter((l) => l.includes(`"collector":"${c}"`));
    expect(by('smart')).toHaveLength(1);
    expect(by('smart')[0]).toContain('no SMART-capable device');
    expect(by('systemd')).toHaveLength(1);
    expect(by('systemd')[0]).toContain('systemd is not the init system here');
    expect(by('gpu_amd')).toHaveLength(1);
    expect(by('gpu_nvidia')).toHaveLength(1);
    expect(by('gpu_nvidia')[0]).toContain('nvidia-smi is not installed');
    process.stderr.write(`${said.map((l) => (JSON.parse(l) as { msg: string }).msg).join('\n')}\n`);
  });
});

describe('an NVIDIA GPU the agent can see', () => {
  it('is on /metrics under nvidia_gpu_exporter names', async () => {
    const other = await startAgent({ args: [`--collector.gpu_nvidia.command=${fakeSmi}`] });
    try {
      const text = await (await fetch(`http://127.0.0.1:${other.metricsPort}/metrics`)).text();
      expect(text).toContain('node_scrape_collector_success{collector="gpu_nvidia"} 1');
      expect(text).toMatch(/^nvidia_smi_utilization_gpu_ratio\{uuid="GPU-a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"\} 0\.87$/m);
      expect(text).toMatch(/^# TYPE nvidia_smi_memory_used_bytes gauge$/m);
    } finally {
      await other.stop();
    }
  });
});
