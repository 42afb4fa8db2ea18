import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldPort, runAgent, tempDir } from '../../../testing/processes.ts';

/** Writes a config file and returns its path. */
function configFile(text: string): string {
  const file = join(tempDir(), 'falconet-agent.yaml');
  writeFileSync(file, text);
  return file;
}

describe('configuration errors name where they are, one class at a time', { timeout: 30_000 }, () => {
  it('bad YAML: file, line and column', async () => {
    const file = configFile('server:\n  url: 127.0.0.1:7071\ninterval: [oops\n');
    const r = await runAgent(['check-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out[0]).toMatch(new RegExp(`^falconet-agent: ${file}:4:1: invalid YAML: `));
  });

  it('unknown key: file, line, column, the key, and the key it was probably meant to be', async () => {
    const file = configFile('interval: 10s\nreport:\n  min_intervl: 2s\nlabelz: {}\n');
    const r = await runAgent(['check-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`falconet-agent: ${file}:3:3: unknown key "report.min_intervl" (did you mean "min_interval"?)`);
    expect(r.out).toContain(`falconet-agent: ${file}:4:1: unknown key "labelz" (did you mean "labels"?)`);
  });

  it('wrong type: file, line, column and the field path, also inside a list', async () => {
    const file = configFile(
      [
        'log:',
        '  level: info',
        'collection:',
        '  concurrency: many',
        'plugins:',
        '  exec:',
        '    - name: disk',
        '      command: 42',
        '',
      ].join('\n'),
    );
    const r = await runAgent(['check-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`falconet-agent: ${file}:4:16: collection.concurrency: must be a number, not "many"`);
    expect(r.out).toContain(`falconet-agent: ${file}:8:16: plugins.exec.0.command: expected a command string or a list of arguments`);
  });

  it('out of range: file, line, column, field and the allowed range', async () => {
    const file = configFile('interval: 50ms\nreport:\n  busy:\n    cpu_percent: 120\n');
    const r = await runAgent(['check-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`falconet-agent: ${file}:1:11: interval: must be between 100ms and 1h`);
    expect(r.out.some((l) => l.startsWith(`falconet-agent: ${file}:4:18: report.busy.cpu_percent: must be at most 100, not 120`))).toBe(
      true,
    );
  });

  it('bad flag: an unknown flag, a flag without its value, a flag with a wrong value', async () => {
    expect(await runAgent(['run', '--bogus'])).toEqual({ code: 2, out: ['falconet-agent: unknown flag --bogus'] });
    expect(await runAgent(['once', '--confg', 'x'])).toEqual({
      code: 2,
      out: ['falconet-agent: unknown flag --confg (did you mean "--config"?)'],
    });
    const typo = await runAgent(['chek-config']);
    expect(typo.out[0]).toMatch(/^falconet-agent: unknown command "chek-config" \(did you mean "check-config"\?\) \(commands: /);
    expect(await runAgent(['check-config', '--interval'])).toEqual({ code: 2, out: ['falconet-agent: flag --interval needs a value'] });
    const r = await runAgent(['check-config', '--interval', 'soon', '--data-dir', tempDir()]);
    expect(r).toEqual({ code: 2, out: ['falconet-agent: flag --interval: interval: "soon" is not a duration (e.g. 500ms, 10s, 5m, 1h)'] });
    const c = await runAgent(['check-config', '--collector.cpu=maybe']);
    expect(c).toEqual({ code: 2, out: ['falconet-agent: flag --collector.cpu: expected true or false, got "maybe"'] });
  });

  it('bad environment value: the variable and the field', async () => {
    const r = await runAgent(['check-config', '--data-dir', tempDir()], { FALCONET_INTERVAL: 'soon', FALCONET_REPORT_HOLD: '0' });
    expect(r.code).toBe(2);
    expect(r.out).toContain(
      'falconet-agent: environment variable FALCONET_INTERVAL: interval: "soon" is not a duration (e.g. 500ms, 10s, 5m, 1h)',
    );
    expect(r.out).toContain('falconet-agent: environment variable FALCONET_REPORT_HOLD: report.hold: must be at least 1, not 0');
  });

  it('precedence: flag over environment over file over default', async () => {
    const file = configFile('interval: 30s\nlisten: 127.0.0.1:1111\nreport:\n  hold: 7\n');
    const r = await runAgent(['check-config', '--config', file, '--interval', '20s'], {
      FALCONET_INTERVAL: '25s',
      FALCONET_LISTEN: '127.0.0.1:2222',
    });
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain('interval: 20000');
    expect(text).toContain('listen: 127.0.0.1:2222');
    expect(text).toContain('hold: 7');
    expect(text).toContain('max_interval: 60000');
  });
});

describe('falconet-agent bad input', { timeout: 30_000 }, () => {
  let busy: Awaited<ReturnType<typeof heldPort>>;
  let busyPort = 0;
  beforeAll(async () => {
    busy = await heldPort();
    busyPort = busy.port;
  });
  afterAll(() => busy.close());

  it('a malformed --server: one line naming it, exit 2', async () => {
    const { code, out } = await runAgent(['run', '--server', 'not a host::', '--data-dir', tempDir()]);
    expect(code).toBe(2);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^falconet-agent: flag --server: server\.url: server address "not a host::": expected HOST:PORT/);
  });

  it('a --listen port already in use: one line naming it, exit 2', async () => {
    const { code, out } = await runAgent(['run', '--listen', `127.0.0.1:${busyPort}`, '--data-dir', tempDir()]);
    expect(code).toBe(2);
    expect(out).toEqual([
      `falconet-agent: --listen 127.0.0.1:${busyPort}: address already in use; stop what holds it or pick another port`,
    ]);
  });

  it('an unknown command, and a bad --collector flag', async () => {
    expect(await runAgent(['frobnicate'])).toMatchObject({ code: 2, out: [expect.stringMatching(/unknown command "frobnicate"/)] });
    const r = await runAgent(['once', '--collector.nosuch']);
    expect(r.code).toBe(2);
    expect(r.out[0]).toMatch(/unknown collector "nosuch"/);
  });

  it('check-config prints the effective configuration with secrets masked', async () => {
    const r = await runAgent(['check-config', '--token', 's3cret', '--data-dir', '/tmp/x'], { FALCONET_SERVER_URL: '10.0.0.1:7071' });
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain('url: 10.0.0.1:7071');
    expect(text).toContain('token: "********"');
    expect(text).not.toContain('s3cret');
  });
});

describe('check-config shows the Docker socket the container collector will ask', { timeout: 30_000 }, () => {
  const socketLine = (out: string[]) => out.find((l) => l.trimStart().startsWith('docker_socket:'))?.trim();

  it("unset: DOCKER_HOST's socket, saying so; without it, the default", async () => {
    const fromHost = await runAgent(['check-config', '--data-dir', tempDir()], { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' });
    expect(fromHost.code).toBe(0);
    expect(socketLine(fromHost.out)).toBe('docker_socket: /run/user/1000/docker.sock');
    expect(fromHost.out).toContain('# containers.docker_socket from DOCKER_HOST=unix:///run/user/1000/docker.sock');
    const plain = await runAgent(['check-config', '--data-dir', tempDir()], { DOCKER_HOST: '' });
    expect(socketLine(plain.out)).toBe('docker_socket: /var/run/docker.sock');
    expect(plain.out.filter((l) => l.includes('DOCKER_HOST'))).toEqual([]);
  });

  it('set in the file or the environment, even empty, it wins over DOCKER_HOST', async () => {
    const env = { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' };
    const file = configFile('containers:\n  docker_socket: /srv/docker.sock\n');
    const fromFile = await runAgent(['check-config', '--config', file, '--data-dir', tempDir()], env);
    expect(socketLine(fromFile.out)).toBe('docker_socket: /srv/docker.sock');
    expect(fromFile.out.filter((l) => l.includes('DOCKER_HOST'))).toEqual([]);
    const fromEnv = await runAgent(['check-config', '--config', file, '--data-dir', tempDir()], {
      ...env,
      FALCONET_CONTAINERS_DOCKER_SOCKET: '',
    });
    expect(socketLine(fromEnv.out)).toBe('docker_socket: ""');
  });

  it('a DOCKER_HOST it cannot use: the default, and a note naming the variable and its value', async () => {
    const r = await runAgent(['check-config', '--data-dir', tempDir()], { DOCKER_HOST: 'tcp://10.0.0.5:2375' });
    expect(r.code).toBe(0);
    expect(socketLine(r.out)).toBe('docker_socket: /var/run/docker.sock');
    expect(r.out.filter((l) => l.includes('DOCKER_HOST'))).toEqual([
      expect.stringMatching(/^# DOCKER_HOST=tcp:\/\/10\.0\.0\.5:2375 uses tcp:\/\/, .*: using \/var\/run\/docker\.sock instead; /),
    ]);
  });
});

describe('falconet-agent commands', { timeout: 30_000 }, () => {
  it('version prints version, commit, build date and Node.js version', async () => {
    const r = await runAgent(['version']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^falconet-agent \d+\.\d+\.\d+$/);
    expect(r.out.find((l) => l.includes('commit:'))).toMatch(/commit:\s+[0-9a-f]{7,}/);
    expect(r.out.find((l) => l.includes('built:'))).toMatch(/built:\s+\S/);
    expect(r.out).toContain(`  node:       ${process.version}`);
  });

  it('once prints a table of samples', async () => {
    const r = await runAgent(['once', '--collector.filesystem=false']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^METRIC\s+LABELS\s+VALUE$/);
    expect(r.out.some((l) => /^node_load1\s+/.test(l))).toBe(true);
  });

  it('once fits 100 columns, and --wide prints the rows whole', async () => {
    const narrow = await runAgent(['once', '--collector.filesystem', '--collector.diskstats']);
    expect(narrow.code).toBe(0);
    expect(narrow.out.every((l) => l.length <= 100)).toBe(true);
    const wide = await runAgent(['once', '--wide', '--collector.filesystem', '--collector.diskstats']);
    expect(wide.code).toBe(0);
    expect(wide.out.filter((l) => l.startsWith('node_')).length).toBe(narrow.out.filter((l) => l.startsWith('node_')).length);
    expect(wide.out.some((l) => l.includes('…'))).toBe(false);
  });

  it('once runs TypeScript module plugins from a directory and exec plugins', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'doubled.ts'),
      [
        "import type { MetricWriter } from '@falconet/agent';",
        'interface Options { scale: number }',
        'const options: Options = { scale: 2 };',
        "export default { name: 'doubled', defaultEnabled: true, description: 'A TypeScript plugin.',",
        "  create: () => ({ update(out: MetricWriter) { out.gauge('doubled_value', 'Twice one.', 1 * options.scale); } }) };",
        '',
      ].join('\n'),
    );
    const file = configFile(
      [
        'plugins:',
        `  dir: ${dir}`,
        '  exec:',
        '    - name: queue',
        '      format: influx',
        `      command: ["${process.execPath}", "-e", "console.log('queue,name=mail depth=4i')"]`,
        'collectors:',
        '  filesystem: false',
        '',
      ].join('\n'),
    );
    const r = await runAgent(['once', '--config', file]);
    expect(r.code).toBe(0);
    expect(r.out.some((l) => /^doubled_value\s+2$/.test(l))).toBe(true);
    expect(r.out.some((l) => /^queue_depth\s+name=mail\s+4$/.test(l))).toBe(true);
    expect(r.out.some((l) => /^node_scrape_collector_success\s+collector=exec:queue\s+1$/.test(l))).toBe(true);
  });
});

describe('check-config looks past the schema', { timeout: 30_000 }, () => {
  it('an unknown collector name and a plugin file that does not load are errors', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.mjs'), 'export default {\n');
    const file = configFile(`collectors:\n  cpuu: false\n`);
    const unknown = await runAgent(['check-config', '--config', file]);
    expect(unknown.code).toBe(2);
    expect(unknown.out[0]).toMatch(/^falconet-agent: collectors\.cpuu: unknown collector "cpuu"; known collectors: .*\bcpu\b/);
    const plugins = await runAgent(['check-config', '--plugins.dir', dir]);
    expect(plugins.code).toBe(2);
    expect(plugins.out[0]).toMatch(new RegExp(`^falconet-agent: plugins\\.dir: ${join(dir, 'broken.mjs')}: `));
  });
});
