import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaLeafPaths } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { ROOT, runAgent, tempDir } from '../../../testing/processes.ts';
import { agentConfigSchema } from '../src/config.ts';

const configDoc = readFileSync(join(ROOT, 'docs/agent-config.md'), 'utf8');
const pluginsDoc = readFileSync(join(ROOT, 'docs/plugins.md'), 'utf8');

describe('docs/agent-config.md', { timeout: 30_000 }, () => {
  it('documents every key of the schema', () => {
    const missing = schemaLeafPaths(agentConfigSchema)
      .map((p) => p.join('.'))
      .filter((key) => !configDoc.includes(`\`${key}`));
    expect(missing).toEqual([]);
  });

  it('its sample file is a valid configuration', async () => {
    const sample = /## Sample file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(configDoc)?.[1];
    expect(sample).toBeDefined();
    const file = join(tempDir(), 'falconet-agent.yaml');
    writeFileSync(file, sample as string);
    const r = await runAgent(['check-config', '--config', file]);
    expect(r.out.filter((l) => l.startsWith('falconet-agent:'))).toEqual([]);
    expect(r.code).toBe(0);
  });
});

describe('docs/plugins.md', { timeout: 30_000 }, () => {
  it('every example plugin works as written', async () => {
    const dir = tempDir('falconet-plugins-');
    const files = [...pluginsDoc.matchAll(/File `([^`]+)`:\n\n```\w*\n([\s\S]*?)```/g)];
    expect(files.map((m) => m[1])).toEqual([
      'processes.sh',
      'disk_free.py',
      'tmp_files.sh',
      'check_load.sh',
      'fd_usage.mjs',
      'boot_count.ts',
    ]);
    for (const [, name, text] of files) {
      const target = join(dir, name as string);
      writeFileSync(target, text as string);
      chmodSync(target, 0o755);
    }
    // The two configuration blocks of the page, with the page's plugin directory replaced by ours.
    const yamlBlocks = [...pluginsDoc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) =>
      (m[1] as string).replaceAll('/etc/falconet/plugins', dir),
    );
    const exec = yamlBlocks[0] as string;
    const modules = (yamlBlocks[1] as string).replace(/^plugins:\n/, '');
    const config = join(dir, 'falconet-agent.yaml');
    writeFileSync(config, `${exec.trimEnd()}\n${modules}collectors:\n  filesystem: false\n`);

    const r = await runAgent(['once', '--config', config]);
    expect(r.code).toBe(0);
    const value = (re: RegExp) => {
      const line = r.out.find((l) => re.test(l));
      return line === undefined ? undefined : Number(line.trim().split(/\s+/).at(-1));
    };
    for (const c of ['exec:processes', 'exec:disk_free', 'exec:tmp_files', 'exec:load', 'fd_usage', 'boot_count']) {
      expect(value(new RegExp(`^node_scrape_collector_success\\s+collector=${c}\\s`)), c).toBe(1);
    }
    expect(value(/^host_processes\s+state=S\s/)).toBeGreaterThan(0);
    expect(value(/^disk_free_bytes\s+path=\/,role=db\s/)).toBeGreaterThan(0);
    expect(value(/^dir_usage_files\s+path=\/tmp\s/)).toBeGreaterThanOrEqual(0);
    expect(value(/^nagios_state\s+plugin=load\s/)).toBeGreaterThanOrEqual(0);
    expect(value(/^nagios_perfdata_value\s+perfdata=load1,unit=,plugin=load\s/)).toBeGreaterThanOrEqual(0);
    expect(value(/^nagios_perfdata_warning\s+perfdata=load1,unit=,plugin=load\s/)).toBe(4);
    expect(value(/^fd_usage_ratio\s/)).toBeGreaterThan(0);
    expect(value(/^host_uptime_seconds\s/)).toBeGreaterThan(0);
    expect(value(/^host_boots_seen_total\s/)).toBe(1);
  });
});
