/**
 * Alerting end to end on real processes: a falconet-server process with a rules file, simulated
 * agents on real gRPC streams whose CPU the test pushes over a threshold, a real HTTP receiver and
 * a real SMTP server taking the notifications. Fires, recovers, stays quiet under a silence,
 * groups 200 hosts into one message, and retries a failing channel where everyone can see it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, getJson, type ServerProc, startServer, tempDir } from '../testing/processes.ts';
import { type HttpReceiver, type SmtpReceiver, startHttpReceiver, startSmtpReceiver } from '../testing/receivers.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const INTERVAL_MS = 1000;
const FOR_MS = 3000;

let server: ServerProc;
let http: HttpReceiver;
let smtp: SmtpReceiver;
const sims: AgentSimulator[] = [];
/** The CPU each simulated host reports; the tests move it. */
const cpu = new Map<string, number>();

function simulate(prefix: string, count: number, role: string): AgentSimulator {
  const sim = new AgentSimulator({
    server: `127.0.0.1:${server.grpcPort}`,
    count,
    intervalMs: INTERVAL_MS,
    prefix,
    labels: () => ({ role }),
    series: (i, t): Sample[] => [
      { name: 'falconet_cpu_usage_percent', labels: {}, value: cpu.get(`${prefix}-${i}`) ?? 20, timestampMs: t },
      { name: 'falconet_memory_used_percent', labels: {}, value: 40, timestampMs: t },
    ],
  });
  sim.start();
  sims.push(sim);
  return sim;
}

interface AlertItem {
  rule: string;
  host: string;
  state: string;
  activeSinceMs: number;
  firedAtMs: number;
  silencedBy: string[];
}
const alerts = (q = '') => getJson<{ items: AlertItem[]; total: number }>(`${server.url}/api/alerts${q}`);
const hooks = (path: string) => http.requests.filter((r) => r.url === path);
type Payload = { status: string; alerts: { status: string; labels: Record<string, string> }[] };

beforeAll(async () => {
  http = await startHttpReceiver();
  smtp = await startSmtpReceiver();
  http.respond((r) => (r.url === '/broken' ? { status: 500, body: 'receiver down' } : { status: 200 }));
  const dir = tempDir('falconet-alerts-e2e-');
  const rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    `channels:
  - name: ops-hook
    type: webhook
    url: ${http.url}/ops
  - name: ops-mail
    type: email
    smtp: { host: 127.0.0.1, port: ${smtp.port} }
    from: falconet@example.com
    to: [ops@example.com]
  - name: fleet-hook
    type: webhook
    url: ${http.url}/fleet
  - name: broken
    type: webhook
    url: ${http.url}/broken
rules:
  - name: High CPU
    metric: falconet_cpu_usage_percent
    aggregation: last
    op: ">"
    threshold: 90
    for: ${FOR_MS / 1000}s
    severity: critical
    host_labels: '{role="single"}'
    channels: [ops-hook, ops-mail]
    group_wait: 0s
    group_interval: 1s
  - name: Fleet CPU
    metric: falconet_cpu_usage_percent
    aggregation: last
    threshold: 90
    host_labels: { role: fleet }
    channels: [fleet-hook]
    group_wait: 5s
    group_interval: 5s
  - name: Memory in use
    metric: falconet_memory_used_percent
    threshold: 0
    host_labels: { role: single }
    channels: [broken]
    group_wait: 0s
`,
  );
  const config = join(dir, 'falconet-server.yaml');
  writeFileSync(
    config,
    `alerts:
  evaluation_interval: ${INTERVAL_MS}ms
  startup_grace: 2s
  rules_file: ${rules}
  delivery:
    max_attempts: 4
    initial_backoff: 200ms
    max_backoff: 2s
`,
  );
  server = await startServer({ args: ['--config', config] });
  await server.waitFor(/"alerting started"/);
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.stop()));
  await server?.stop();
  await http?.close();
  await smtp?.close();
});

describe('alerting end to end', () => {
  it('fires within the for-duration plus one interval, delivers to HTTP and SMTP, recovers, and stays quiet under a silence', async () => {
    simulate('single', 1, 'single');
    await eventually(
      async () => (await getJson<{ total: number }>(`${server.url}/api/agents?status=online&label=role=single`)).total === 1,
    );
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect((await alerts('?state=firing')).items.filter((a) => a.rule === 'High CPU')).toEqual([]);

    const pushedAt = Date.now();
    cpu.set('single-0', 97);
    const [mail] = await smtp.waitFor((m) => m.some((x) => x.subject.startsWith('[FIRING:1] High CPU')), 30_000);
    const fired = (await hooks('/ops').map((r) => r.json as Payload)).find((p) => p.status === 'firing');
    expect(fired?.alerts[0]?.labels).toMatchObject({
      alertname: 'High CPU',
      host: 'single-host-00000',
      severity: 'critical',
      role: 'single',
    });
    expect(mail?.text).toMatch(/\[critical\] single-host-00000: falconet_cpu_usage_percent > 90: value 97/);
    const alert = (await alerts('?state=firing')).items.find((a) => a.rule === 'High CPU') as AlertItem;
    const sinceBreach = alert.firedAtMs - alert.activeSinceMs;
    process.stderr.write(
      `High CPU: pending from ${alert.activeSinceMs - pushedAt} ms after the push, fired ${sinceBreach} ms after the breach arrived (for ${FOR_MS} ms, interval ${INTERVAL_MS} ms), notified ${Date.now() - pushedAt} ms after the push\n`,
    );
    expect(alert.activeSinceMs).toBeGreaterThanOrEqual(pushedAt);
    expect(sinceBreach).toBeGreaterThanOrEqual(FOR_MS);
    // It fired at the first evaluation cycle that could fire it: the cycle before started before
    // the for-duration was up. With cycles every interval that is within for + one interval of the
    // breach (exact on a fake clock in alerts-evaluator.test.ts); a timer late on a busy machine
    // moves the cycle, not the rule.
    const { recentCycleStartsMs: starts } = await getJson<{ recentCycleStartsMs: number[] }>(`${server.url}/api/alerts/status`);
    const firing = starts.filter((s) => s <= alert.firedAtMs);
    expect(firing.at(-2)).toBeLessThan(alert.activeSinceMs + FOR_MS);
    const gaps = firing.slice(1).map((s, i) => s - (firing[i] as number));
    process.stderr.write(`evaluation cycles started ${Math.min(...gaps)}..${Math.max(...gaps)} ms apart\n`);
    if (Math.max(...gaps) <= INTERVAL_MS * 1.2) expect(sinceBreach).toBeLessThanOrEqual(FOR_MS + INTERVAL_MS * 1.2);

    cpu.set('single-0', 15);
    await http.waitFor(() => hooks('/ops').some((r) => (r.json as Payload).status === 'resolved'));
    await smtp.waitFor((m) => m.some((x) => x.subject === '[RESOLVED] High CPU'));
    const history = await getJson<{ items: { from: string; to: string }[] }>(
      `${server.url}/api/alerts/history?host=single-host-00000&limit=10`,
    );
    expect(history.items.filter((h) => h.to !== 'inactive').map((h) => `${h.from}->${h.to}`)).toEqual(
      expect.arrayContaining(['inactive->pending', 'pending->firing', 'firing->resolved']),
    );

    // A silence for the host: the alert fires again but nothing is sent.
    const silence = await fetch(`${server.url}/api/alerts/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: '{host="single-host-00000", alertname="High CPU"}', duration: '10m', comment: 'e2e' }),
    }).then((r) => r.json() as Promise<{ id: string; active: boolean }>);
    expect(silence.active).toBe(true);
    const sentBefore = { hooks: hooks('/ops').length, mails: smtp.messages.length };
    cpu.set('single-0', 98);
    const muted = await eventually(
      async () => (await alerts('?state=firing&silenced=true')).items.find((a) => a.rule === 'High CPU'),
      30_000,
    );
    expect(muted.silencedBy).toEqual([silence.id]);
    // Several group intervals pass: still nothing for it.
    await new Promise((r) => setTimeout(r, 4000));
    expect({ hooks: hooks('/ops').length, mails: smtp.messages.length }).toEqual(sentBefore);
    // The silence is lifted while it still fires: now it is sent.
    expect((await fetch(`${server.url}/api/alerts/silences/${silence.id}`, { method: 'DELETE' })).status).toBe(204);
    await http.waitFor(() => hooks('/ops').length > sentBefore.hooks);
    cpu.set('single-0', 15);
  });

  it('groups 200 hosts breaching at once into one notification, not 200', async () => {
    simulate('fleet', 200, 'fleet');
    await eventually(
      async () => (await getJson<{ total: number }>(`${server.url}/api/agents?status=online&label=role=fleet`)).total === 200,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    for (let i = 0; i < 200; i++) cpu.set(`fleet-${i}`, 95);
    await eventually(
      async () => (await alerts('?state=firing&limit=1000')).items.filter((a) => a.rule === 'Fleet CPU').length === 200,
      60_000,
    );
    await http.waitFor(
      () => new Set(hooks('/fleet').flatMap((r) => (r.json as Payload).alerts.map((a) => a.labels.host))).size === 200,
      30_000,
    );
    const messages = hooks('/fleet').map((r) => r.json as Payload);
    process.stderr.write(
      `Fleet CPU: 200 hosts firing arrived in ${messages.length} notification(s) of ${messages.map((m) => m.alerts.length).join(', ')} alerts\n`,
    );
    // One message carries the group (here, every time so far); hosts whose reports came later than
    // the group wait on a loaded machine join in group-interval updates, never one message each.
    expect(messages.length).toBeLessThanOrEqual(4);
    expect(messages[0]?.alerts.length).toBeGreaterThanOrEqual(100);
    for (let i = 0; i < 200; i++) cpu.set(`fleet-${i}`, 10);
  });

  it('retries a failing channel with backoff and shows its failures over REST, /metrics and the log', async () => {
    // "Memory in use" fires for the single host from the start; its channel answers 500 every time.
    await http.waitFor(() => hooks('/broken').length >= 4, 30_000);
    const channel = await eventually(async () => {
      const c = await getJson<{ health: { failed: number; lastError: string; retries: number } }>(
        `${server.url}/api/alerts/channels/broken`,
      );
      return c.health.failed >= 1 ? c : undefined;
    });
    // REST names the failure in a fixed phrase; the receiver's answer is in the server log only.
    expect(channel.health.lastError).toBe('HTTP 500');
    expect(channel.health.retries).toBeGreaterThanOrEqual(3);
    const failed = await getJson<{ items: { status: string; attempts: number; error: string }[] }>(
      `${server.url}/api/alerts/notifications?channel=broken&status=failed`,
    );
    expect(failed.items[0]).toMatchObject({ status: 'failed', attempts: 4, error: 'HTTP 500' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/falconet_alert_notifications_total\{channel="broken",outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(/falconet_alert_notification_retries_total\{channel="broken"\} [3-9]/);
    const retries = server.lines
      .filter((l) => l.includes('alert notification to broken failed; retrying'))
      .map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    expect(retries.length).toBeGreaterThanOrEqual(3);
    // Backoff grows (half-jitter exponential from 200 ms, capped at 2 s).
    expect(retries[1]).toBeGreaterThanOrEqual(retries[0] as number);
    expect(retries[2]).toBeGreaterThanOrEqual(retries[1] as number);
    const gaveUp = server.lines.find((l) => l.includes('"alert notification to broken failed after 4 attempt(s)"'));
    expect(gaveUp).toMatch(/HTTP 500 receiver down/);
  });
});
