import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scrapedValue } from '../../../testing/exposition.ts';
import {
  AGENT_CLI,
  eventually,
  freePort,
  type Proc,
  type ServerProc,
  startProcess,
  startServer,
  tempDir,
} from '../../../testing/processes.ts';

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return await res.text();
}

function logRecords(p: Proc, msg: string): Record<string, unknown>[] {
  return p.lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.msg === msg || String(r.msg).startsWith(msg));
}

const procs: Proc[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop();
});

describe('hot reload of a running agent', { timeout: 90_000 }, () => {
  it('adds a label, changes intervals, survives a broken file, takes the fix; each seen on /metrics and in the log', async () => {
    const dir = tempDir();
    const file = join(dir, 'falconet-agent.yaml');
    const port = await freePort();
    const grpc = await freePort(); // nothing listens there: the stream exists and keeps retrying
    const base = [
      `listen: 127.0.0.1:${port}`,
      `data_dir: ${join(dir, 'data')}`,
      'server:',
      `  url: 127.0.0.1:${grpc}`,
      'report:',
      '  dynamic: false',
    ];
    writeFileSync(file, [...base, 'interval: 10s', 'labels:', '  env: staging', ''].join('\n'));
    const agent = startProcess(AGENT_CLI, ['run', '--config', file]);
    procs.push(agent);
    await agent.waitFor(/"agent started"/);
    let text = await scrape(port);
    expect(text).toContain('falconet_agent_labels{env="staging"} 1');
    expect(scrapedValue(text, 'falconet_agent_report_interval_seconds')).toBe(10);
    expect(scrapedValue(text, 'falconet_agent_config_last_reload_successful')).toBe(1);

    // 1. Add a label.
    writeFileSync(file, [...base, 'interval: 10s', 'labels:', '  env: staging', '  team: storage', ''].join('\n'));
    text = await eventually(async () => {
      const t = await scrape(port);
      return t.includes('falconet_agent_labels{env="staging",team="storage"} 1') && t;
    });
    const added = logRecords(agent, 'config reloaded').at(-1);
    expect(added).toMatchObject({ reason: 'file changed', file, changed: ['labels.team'] });

    // 2. Change the report interval and one collector's interval.
    writeFileSync(
      file,
      [...base, 'interval: 2s', 'labels:', '  env: staging', '  team: storage', 'collectors:', '  cpu:', '    interval: 30s', ''].join(
        '\n',
      ),
    );
    text = await eventually(async () => {
      const t = await scrape(port);
      return scrapedValue(t, 'falconet_agent_report_interval_seconds') === 2 && t;
    });
    expect(scrapedValue(text, 'falconet_agent_collector_interval_seconds', { collector: 'cpu' })).toBe(30);
    expect(scrapedValue(text, 'falconet_agent_collector_interval_seconds', { collector: 'meminfo' })).toBe(0);
    expect(logRecords(agent, 'config reloaded').at(-1)).toMatchObject({ changed: ['interval', 'collectors.cpu'] });

    // 3. Break the file: the running configuration stays, the log says where the file is wrong.
    writeFileSync(file, [...base, 'interval: 2s', 'labels:', '  env: [staging', ''].join('\n'));
    const failed = await eventually(() => logRecords(agent, 'config reload failed').at(-1));
    expect((failed.problems as string[])[0]).toMatch(new RegExp(`^${file}:\\d+:\\d+: invalid YAML`));
    expect(String(failed.msg)).toContain('keeping the running configuration');
    text = await scrape(port);
    expect(scrapedValue(text, 'falconet_agent_config_last_reload_successful')).toBe(0);
    expect(text).toContain('falconet_agent_config_reloads_total{result="failure"} 1');
    expect(text).toContain('falconet_agent_labels{env="staging",team="storage"} 1');
    expect(scrapedValue(text, 'falconet_agent_report_interval_seconds')).toBe(2);

    // A file that parses but does not validate is refused the same way, naming the field.
    writeFileSync(file, [...base, 'interval: 2s', 'collection:', '  concurrency: 0', ''].join('\n'));
    const invalid = await eventually(
      () => logRecords(agent, 'config reload failed').length === 2 && logRecords(agent, 'config reload failed')[1],
    );
    expect((invalid.problems as string[])[0]).toMatch(
      new RegExp(`^${file}:\\d+:\\d+: collection\\.concurrency: must be at least 1, not 0`),
    );

    // 4. Fix it, and switch file watching off: the next change comes with SIGHUP.
    writeFileSync(
      file,
      [...base, 'interval: 2s', 'labels:', '  env: production', 'reload:', '  watch: false', 'log:', '  level: debug', ''].join('\n'),
    );
    text = await eventually(async () => {
      const t = await scrape(port);
      return scrapedValue(t, 'falconet_agent_config_last_reload_successful') === 1 && t;
    });
    expect(text).toContain('falconet_agent_labels{env="production"} 1');
    expect(scrapedValue(text, 'falconet_agent_collector_interval_seconds', { collector: 'cpu' })).toBe(0);
    expect(logRecords(agent, 'config reloaded').at(-1)?.changed).toEqual(
      expect.arrayContaining(['labels.env', 'labels.team', 'log.level', 'reload.watch', 'collectors.cpu']),
    );

    writeFileSync(file, [...base, 'interval: 3s', 'labels:', '  env: production', 'reload:', '  watch: false', ''].join('\n'));
    agent.child.kill('SIGHUP');
    await eventually(async () => scrapedValue(await scrape(port), 'falconet_agent_report_interval_seconds') === 3);
    expect(logRecords(agent, 'config reloaded').at(-1)).toMatchObject({ reason: 'SIGHUP', changed: ['interval', 'log.level'] });

    // Keys that name the agent's files are reported as needing a restart, not silently ignored.
    writeFileSync(
      file,
      [...base.map((l) => l.replace(join(dir, 'data'), join(dir, 'other'))), 'interval: 3s', 'reload:', '  watch: false', ''].join('\n'),
    );
    agent.child.kill('SIGHUP');
    const warn = await eventually(() => logRecords(agent, 'these changes take effect after a restart').at(-1));
    expect(warn.keys).toEqual(['data_dir']);
  });

  it('a reload that re-registers with the server keeps every queued report', async () => {
    const dir = tempDir();
    const file = join(dir, 'falconet-agent.yaml');
    const port = await freePort();
    const grpcPort = await freePort();
    const base = [
      `listen: 127.0.0.1:${port}`,
      `data_dir: ${join(dir, 'data')}`,
      `server: {url: "127.0.0.1:${grpcPort}"}`,
      'interval: 200ms',
      'report: {dynamic: false}',
    ];
    writeFileSync(file, [...base, 'labels: {env: a}', ''].join('\n'));
    const agent = startProcess(AGENT_CLI, ['run', '--config', file]);
    procs.push(agent);
    await agent.waitFor(/"agent started"/);
    // The server is not there yet: reports queue up.
    const queued = await eventually(async () => {
      const q = scrapedValue(await scrape(port), 'falconet_agent_report_queue_depth') ?? 0;
      return q >= 5 && q;
    });
    writeFileSync(file, [...base, 'labels: {env: b}', ''].join('\n'));
    await agent.waitFor(/"reconnecting to the server with the new configuration"/);
    const after = scrapedValue(await scrape(port), 'falconet_agent_report_queue_depth') ?? 0;
    expect(after).toBeGreaterThanOrEqual(queued);

    let server: ServerProc | undefined;
    try {
      server = await startServer({ grpcPort });
      await eventually(async () => {
        const t = await scrape(port);
        return (
          scrapedValue(t, 'falconet_agent_report_queue_depth') === 0 &&
          (scrapedValue(t, 'falconet_agent_transport_acked_reports_total') ?? 0) >= after
        );
      }, 40_000);
      const final = await scrape(port);
      expect(scrapedValue(final, 'falconet_agent_spool_dropped_reports_total', { reason: 'size' })).toBe(0);
      expect(scrapedValue(final, 'falconet_agent_spool_dropped_reports_total', { reason: 'age' })).toBe(0);
      // The server saw the agent register with the new label.
      const body = (await (await fetch(`${server.url}/api/agents`)).json()) as { items: { labels: Record<string, string> }[] };
      expect(body.items[0]?.labels).toEqual({ env: 'b' });
    } finally {
      await server?.stop();
    }
  });
});
