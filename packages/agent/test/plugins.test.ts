import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { type Collection, CollectorSet } from '../src/collection.ts';
import { agentConfigSchema, type ExecPluginConfig } from '../src/config.ts';
import { execPluginSource, runCommand } from '../src/plugins/exec.ts';
import { parseInfluxLines } from '../src/plugins/formats/influx.ts';
import { parseJsonSamples } from '../src/plugins/formats/json.ts';
import { parseNagiosOutput, parsePerfdata } from '../src/plugins/formats/nagios.ts';
import { parsePrometheusText } from '../src/plugins/formats/prometheus.ts';
import { loadModulePlugins } from '../src/plugins/modules.ts';

const log = pino({ level: 'silent' });
const roots = { proc: '/proc', sys: '/sys', rootfs: '/' };

function exec(over: Partial<ExecPluginConfig>): ExecPluginConfig {
  return {
    name: 'test',
    command: 'true',
    format: 'prometheus',
    interval: 0,
    timeout: 5_000,
    max_output: 1024 * 1024,
    labels: {},
    env: {},
    cwd: '',
    enabled: true,
    ...over,
  };
}

async function collectOne(cfg: ExecPluginConfig): Promise<Collection> {
  const source = execPluginSource(cfg);
  return await new CollectorSet([source], { roots, log, timeoutMs: cfg.timeout + 1000 }).collect();
}

const metric = (c: Collection, name: string, labels: Record<string, string> = {}) =>
  c.families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v));
const succeeded = (c: Collection, name: string) => metric(c, 'node_scrape_collector_success', { collector: name })?.value;

describe('plugin output formats', () => {
  it('Prometheus text: HELP, TYPE, labels with escapes, special values, timestamps ignored', () => {
    const s = parsePrometheusText(
      [
        '# HELP app_requests_total Requests served.',
        '# TYPE app_requests_total counter',
        'app_requests_total{path="/a",quote="say \\"hi\\""} 42 1700000000000',
        'app_temperature NaN',
        'app_limit{kind="upper"} +Inf',
        '# TYPE app_latency_seconds histogram',
        'app_latency_seconds_bucket{le="0.1"} 3',
        '',
      ].join('\n'),
    );
    expect(s).toHaveLength(4);
    expect(s[0]).toMatchObject({ name: 'app_requests_total', labels: { path: '/a', quote: 'say "hi"' }, value: 42, type: 'counter' });
    expect(s[0]?.help).toBe('Requests served.');
    expect(Number.isNaN(s[1]?.value)).toBe(true);
    expect(s[2]?.value).toBe(Number.POSITIVE_INFINITY);
    expect(s[3]).toMatchObject({ name: 'app_latency_seconds_bucket', type: 'untyped' });
    expect(() => parsePrometheusText('ok 1\nbad{x="1" 2\n')).toThrow(/^line 2: /);
    expect(() => parsePrometheusText('x one\n')).toThrow(/line 1: x: "one" is not a number/);
  });

  it('JSON samples, Falconet and Open-Falcon spellings', () => {
    expect(parseJsonSamples('[{"name":"a_b","value":1,"labels":{"x":"y"},"type":"gauge","help":"H"}]')).toEqual([
      { name: 'a_b', value: 1, labels: { x: 'y' }, type: 'gauge', help: 'H' },
    ]);
    expect(parseJsonSamples('{"samples":[{"metric":"c","value":"2.5","tags":"dc=x,rack=7"}]}')).toEqual([
      { name: 'c', value: 2.5, labels: { dc: 'x', rack: '7' }, type: undefined, help: undefined },
    ]);
    expect(() => parseJsonSamples('[{"name":"bad name","value":1}]')).toThrow(/sample 0: "name" must be a metric name/);
    expect(() => parseJsonSamples('[{"name":"a","value":"x"}]')).toThrow(/sample 0 \(a\): "value" must be a number/);
    expect(() => parseJsonSamples('{oops')).toThrow(/not JSON/);
  });

  it('Influx line protocol: fields, tags, escapes, integer and boolean values, strings skipped', () => {
    const s = parseInfluxLines(
      ['disk,host=web\\ 1,mount=/data used=12i,free=3.5,ok=true,note="x y" 1700000000000000000', 'queue value=7', '# comment'].join('\n'),
    );
    expect(s).toEqual([
      { name: 'disk_used', labels: { host: 'web 1', mount: '/data' }, value: 12 },
      { name: 'disk_free', labels: { host: 'web 1', mount: '/data' }, value: 3.5 },
      { name: 'disk_ok', labels: { host: 'web 1', mount: '/data' }, value: 1 },
      { name: 'queue', labels: {}, value: 7 },
    ]);
    expect(() => parseInfluxLines('cpu usage=abc')).toThrow(/line 1: "abc" is not a field value in field usage/);
    expect(() => parseInfluxLines('cpuonly')).toThrow(/line 1: expected/);
  });

  it('Nagios output: state from the exit status, perfdata with units and thresholds', () => {
    const s = parseNagiosOutput(
      "DISK WARNING - free space: / 3326 MB (56%) | '/ used'=2643MB;2000;3000;0;5000 load1=0.5;;;; time=U\nlong text\n",
      1,
    );
    expect(s[0]).toMatchObject({ name: 'nagios_state', value: 1 });
    const byName = (n: string) => s.filter((x) => x.name === n);
    expect(byName('nagios_perfdata_value')).toEqual([
      expect.objectContaining({ labels: { perfdata: '/ used', unit: 'MB' }, value: 2643 }),
      expect.objectContaining({ labels: { perfdata: 'load1', unit: '' }, value: 0.5 }),
    ]);
    expect(byName('nagios_perfdata_warning')[0]?.value).toBe(2000);
    expect(byName('nagios_perfdata_critical')[0]?.value).toBe(3000);
    expect(byName('nagios_perfdata_max')[0]?.value).toBe(5000);
    expect(parseNagiosOutput('weird', 9)[0]?.value).toBe(3);
    expect(parsePerfdata("a=1s;@10:20;~:30 'it''s'=2%")).toEqual([
      { label: 'a', value: 1, unit: 's', warn: 10, crit: 30 },
      { label: "it's", value: 2, unit: '%' },
    ]);
  });
});

describe('exec plugins, running real commands', () => {
  it('prometheus output through a shell, with the plugin labels added', async () => {
    const c = await collectOne(exec({ command: 'printf \'app_up 1\\napp_jobs{queue="a"} 4\\n\'', labels: { team: 'ops' } }));
    expect(succeeded(c, 'exec:test')).toBe(1);
    expect(metric(c, 'app_jobs', { queue: 'a', team: 'ops' })?.value).toBe(4);
  });

  it('json output from a program run without a shell, with its own environment', async () => {
    const c = await collectOne(
      exec({
        command: [process.execPath, '-e', 'console.log(JSON.stringify([{name:"env_value",value:Number(process.env.V)}]))'],
        format: 'json',
        env: { V: '17' },
      }),
    );
    expect(metric(c, 'env_value')?.value).toBe(17);
  });

  it('influx output', async () => {
    const c = await collectOne(exec({ command: "echo 'mem,kind=heap used=5i'", format: 'influx' }));
    expect(metric(c, 'mem_used', { kind: 'heap' })?.value).toBe(5);
  });

  it('nagios output: a CRITICAL exit status is data, not a failure', async () => {
    const c = await collectOne(exec({ name: 'disk', command: "echo 'DISK CRITICAL | used=97%;80;90'; exit 2", format: 'nagios' }));
    expect(succeeded(c, 'exec:disk')).toBe(1);
    expect(metric(c, 'nagios_state', { plugin: 'disk' })?.value).toBe(2);
    expect(metric(c, 'nagios_perfdata_value', { plugin: 'disk', perfdata: 'used', unit: '%' })?.value).toBe(97);
  });

  it('a command that runs past its timeout is killed, with the children it started', async () => {
    const pidFile = join(tempDir(), 'child.pid');
    // The shell starts a grandchild; killing only the shell would leave it running.
    await expect(runCommand({ ...exec({}), command: `sleep 60 & echo $! > ${pidFile}; wait`, timeout: 300 })).rejects.toThrow(
      /timed out after 300 ms \(killed\)/,
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await eventually(() => {
      try {
        return /^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie is dead
      } catch {
        return true;
      }
    }, 5_000);
  });

  it('output past max_output is an error and the command is killed', async () => {
    await expect(runCommand({ ...exec({}), command: 'yes app_up 1', max_output: 64 * 1024 })).rejects.toThrow(
      /output exceeded max_output \(65536 bytes\)/,
    );
  });

  it('a failing command, an unparsable output and a missing program are reported with their reason', async () => {
    const failing = await collectOne(exec({ command: 'echo nope >&2; exit 3' }));
    expect(succeeded(failing, 'exec:test')).toBe(0);
    await expect(runCommand({ ...exec({}), command: ['/nonexistent/program'] })).rejects.toThrow(/cannot run \/nonexistent\/program/);
    const src = execPluginSource(exec({ command: 'echo "not prometheus {"' }));
    const writer = { add: () => undefined } as never;
    await expect(
      src.create(agentConfigSchema.parse({})).update(writer, { roots, log, signal: new AbortController().signal }),
    ).rejects.toThrow(/prometheus output: line 1/);
    const bad = execPluginSource(exec({ command: 'echo nope >&2; exit 3' }));
    await expect(
      bad.create(agentConfigSchema.parse({})).update(writer, { roots, log, signal: new AbortController().signal }),
    ).rejects.toThrow(/exited with status 3: nope/);
  });
});

describe('module plugins from a directory', () => {
  it('loads the modules implementing the collector interface; reports broken ones and keeps the rest', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'queue.mjs'),
      `export default { name: 'queue', defaultEnabled: true, description: 'Queue depth.',
        create: () => ({ update(out) { out.gauge('queue_depth', 'Items waiting.', 3); } }) };\n`,
    );
    writeFileSync(
      join(dir, 'doubled.js'),
      `export default { name: 'doubled', description: 'A plain .js plugin; defaultEnabled defaults to true.',
        create: () => ({ update(out) { out.gauge('doubled_value', 'Twice one.', 2); } }) };\n`,
    );
    writeFileSync(join(dir, 'broken.mjs'), 'export default { name: "Bad Name" };\n');
    writeFileSync(join(dir, 'clash.mjs'), `export default { name: 'cpu', create: () => ({ update() {} }) };\n`);
    writeFileSync(join(dir, 'syntax.mjs'), 'export default {\n');
    writeFileSync(join(dir, 'README.md'), 'not a plugin\n');

    const loaded = await loadModulePlugins(dir, new Set(['cpu']));
    expect(loaded.definitions.map((d) => d.name).sort()).toEqual(['doubled', 'queue']);
    expect(loaded.errors).toHaveLength(3);
    expect(loaded.errors.find((e) => e.includes('broken.mjs'))).toMatch(/name must be lower-case/);
    expect(loaded.errors.find((e) => e.includes('clash.mjs'))).toMatch(/already a built-in collector/);
    expect(loaded.errors.find((e) => e.includes('syntax.mjs'))).toBeDefined();

    const c = await new CollectorSet(loaded.definitions, { roots, log, timeoutMs: 1_000 }).collect();
    expect(metric(c, 'queue_depth')?.value).toBe(3);
    expect(metric(c, 'doubled_value')?.value).toBe(2);

    // An edited file is imported again; an unchanged one keeps its definition.
    const queueBefore = loaded.definitions.find((d) => d.name === 'queue');
    const again = await loadModulePlugins(dir, new Set(['cpu']));
    expect(again.definitions.find((d) => d.name === 'queue')).toBe(queueBefore);
  });

  it('a missing directory is one clear error', async () => {
    const r = await loadModulePlugins('/nonexistent/plugins', new Set());
    expect(r.errors).toEqual(['/nonexistent/plugins: cannot read the plugin directory (ENOENT)']);
  });
});
