/**
 * The Alertmanager channel against Debian's prometheus-alertmanager, on loopback ports of its own
 * with its own config and storage and gossip off: a Falconet alert fires and appears in
 * Alertmanager's /api/v2/alerts with its labels; it resolves and Alertmanager drops it from the
 * active alerts and, through its own webhook receiver, reports it resolved. The channel's "send
 * test" goes the same way.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postableAlert } from '../packages/server/src/alerts/channels/alertmanager.ts';
import { eventually, freePort, getJson, type Proc, type ServerProc, startCommand, startServer, tempDir } from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const INTERVAL_MS = 1000;

let server: ServerProc;
let am: Proc;
let amUrl: string;
let hook: HttpReceiver;
let sim: AgentSimulator;
let dir: string;
let cpu = 20;

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  status: { state: string };
}
type AmWebhook = { status: string; alerts: { status: string; labels: Record<string, string>; endsAt: string }[] };

const amAlerts = (name: string) => getJson<AmAlert[]>(`${amUrl}/api/v2/alerts?filter=${encodeURIComponent(`alertname="${name}"`)}`);

beforeAll(async () => {
  dir = tempDir('falconet-alertmanager-e2e-');
  hook = await startHttpReceiver();
  const amPort = await freePort();
  amUrl = `http://127.0.0.1:${amPort}`;
  // Alertmanager routes what Falconet sends to a webhook of the test's: how it reports a resolution.
  writeFileSync(
    join(dir, 'alertmanager.yml'),
    `route:
  receiver: test-hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test-hook
    webhook_configs:
      - url: ${hook.url}/am
        send_resolved: true
`,
  );
  am = startCommand(
    'prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am-data')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
      `--web.external-url=${amUrl}`,
    ],
    {},
    'alertmanager',
  );
  await eventually(async () => (await fetch(`${amUrl}/-/ready`).catch(() => undefined))?.ok, 60_000);

  writeFileSync(
    join(dir, 'rules.yaml'),
    `channels:
  - name: am
    type: alertmanager
    url: ${amUrl}
    labels: { source: falconet }
rules:
  - name: High CPU
    metric: falconet_cpu_usage_percent
    aggregation: last
    op: ">"
    threshold: 90
    severity: critical
    channels: [am]
    group_wait: 0s
    group_interval: 1s
`,
  );
  writeFileSync(
    join(dir, 'falconet-server.yaml'),
    `alerts:
  evaluation_interval: ${INTERVAL_MS}ms
  startup_grace: 1s
  rules_file: ${join(dir, 'rules.yaml')}
`,
  );
  server = await startServer({ args: ['--config', join(dir, 'falconet-server.yaml')] });
  await server.waitFor(/"alerting started"/);
  sim = new AgentSimulator({
    server: `127.0.0.1:${server.grpcPort}`,
    count: 1,
    intervalMs: INTERVAL_MS,
    prefix: 'am',
    labels: () => ({ role: 'db' }),
    series: (_i, t): Sample[] => [{ name: 'falconet_cpu_usage_percent', labels: {}, value: cpu, timestampMs: t }],
  });
  sim.start();
}, 180_000);

afterAll(async () => {
  await sim?.stop();
  await server?.stop();
  await am?.stop();
  await hook?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Alertmanager channel', () => {
  it('a firing alert appears in Alertmanager with its labels; resolved, it leaves the active alerts and Alertmanager says resolved', async () => {
    await eventually(async () => (await getJson<{ total: number }>(`${server.url}/api/agents?status=online`)).total === 1, 60_000);
    const breachAt = Date.now();
    cpu = 97;
    const [fired] = await eventually(async () => {
      const a = await amAlerts('High CPU');
      return a.length > 0 ? a : undefined;
    }, 60_000);
    expect(fired?.labels).toMatchObject({
      alertname: 'High CPU',
      host: 'am-host-00000',
      severity: 'critical',
      role: 'db',
      source: 'falconet',
    });
    expect(fired?.status.state).toBe('active');
    expect(fired?.annotations.summary).toMatch(/^falconet_cpu_usage_percent > 90: value 97/);
    expect(fired?.generatorURL).toMatch(/\/alerts$/);
    // The endsAt Falconet set (now + firing_ends_after, 5h) keeps it active between reminders.
    expect(Date.parse(fired?.endsAt ?? '') - Date.now()).toBeGreaterThan(4 * 3_600_000);
    const firingHook = await hook.waitFor((r) => r.some((x) => (x.json as AmWebhook).status === 'firing'), 60_000);
    const firingBody = firingHook.find((x) => (x.json as AmWebhook).status === 'firing')?.json as AmWebhook | undefined;
    expect(firingBody?.alerts[0]?.labels.host).toBe('am-host-00000');
    process.stderr.write(
      `Alertmanager holds ${JSON.stringify(fired?.labels)} state=${fired?.status.state}, ${Date.now() - breachAt} ms after the breach\n`,
    );

    const recoverAt = Date.now();
    cpu = 15;
    await eventually(async () => (await amAlerts('High CPU')).length === 0, 60_000);
    process.stderr.write(`gone from Alertmanager's active alerts ${Date.now() - recoverAt} ms after the recovery\n`);
    const resolved = await hook.waitFor((r) => r.some((x) => (x.json as AmWebhook).status === 'resolved'), 60_000);
    const body = resolved.find((x) => (x.json as AmWebhook).status === 'resolved')?.json as AmWebhook;
    expect(body.alerts[0]).toMatchObject({ status: 'resolved', labels: { alertname: 'High CPU', host: 'am-host-00000' } });
    expect(Date.parse(body.alerts[0]?.endsAt ?? '')).toBeLessThanOrEqual(Date.now());
    process.stderr.write(`Alertmanager reported resolved at endsAt=${body.alerts[0]?.endsAt}\n`);
  });

  it('"send test" through the REST API puts the test alert in Alertmanager', async () => {
    const channels = await getJson<{ items: { id: string; name: string; url: string }[] }>(`${server.url}/api/alerts/channels`);
    const channel = channels.items.find((c) => c.name === 'am');
    // The URL has no token in it: REST shows it whole.
    expect(channel?.url).toBe(amUrl);
    const id = channel?.id;
    const res = await fetch(`${server.url}/api/alerts/channels/${id}/test`, { method: 'POST' });
    expect(await res.json()).toMatchObject({ status: 'delivered' });
    const [test] = await eventually(async () => {
      const a = await amAlerts('Falconet test notification');
      return a.length > 0 ? a : undefined;
    }, 30_000);
    expect(test?.labels).toMatchObject({ severity: 'info', source: 'falconet' });
    // It resolves by itself within five minutes, where a real alert is held for firing_ends_after.
    expect(Date.parse(test?.endsAt ?? '') - Date.now()).toBeLessThanOrEqual(5 * 60_000);
  });

  it('labels Alertmanager 0.25 cannot take are rewritten, empty ones left out: it accepts the alert', async () => {
    const a = postableAlert(
      {
        status: 'firing',
        fingerprint: 'f',
        ruleId: 'r',
        rule: 'Odd labels',
        severity: 'warning',
        host: 'h',
        agent: 'h',
        labels: { alertname: 'Odd labels', 'team.name': 'ops', '9lives': 'cat', empty: '' },
        annotations: { 'runbook.url': 'http://runbooks/x' },
        value: 1,
        summary: 's',
        activeSinceMs: Date.now(),
        firedAtMs: Date.now(),
        resolvedAtMs: 0,
        startsAt: new Date().toISOString(),
        endsAt: '',
        duration: '0s',
      },
      {},
      '',
      Date.now(),
      600_000,
    );
    const res = await fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([a]),
    });
    expect(res.status).toBe(200);
    const [held] = await eventually(async () => {
      const got = await amAlerts('Odd labels');
      return got.length > 0 ? got : undefined;
    }, 30_000);
    expect(held?.labels).toEqual({ alertname: 'Odd labels', team_name: 'ops', _9lives: 'cat' });
    // The same alert with its labels as they were is refused: the rewriting is needed.
    const raw = await fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ ...a, labels: { alertname: 'Odd labels', 'team.name': 'ops' } }]),
    });
    expect(raw.status).toBe(400);
  });
});
