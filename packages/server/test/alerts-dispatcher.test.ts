/**
 * Grouping, waits, repeats, recoveries and silences on a fake clock. The channel here is an
 * in-memory sender that records what it is given: the delivery edge has its own tests against
 * real HTTP and SMTP servers (alerts-channels.test.ts).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ChannelSender } from '../src/alerts/channels/index.ts';
import { type ChannelRuntime, DeliveryQueue } from '../src/alerts/delivery.ts';
import { AlertDispatcher } from '../src/alerts/dispatcher.ts';
import { AlertEvaluator } from '../src/alerts/evaluator.ts';
import type { Notification } from '../src/alerts/notification.ts';
import { CompiledRule } from '../src/alerts/rule.ts';
import { Silence, SilenceSet } from '../src/alerts/silences.ts';
import { channelSpecSchema, type RuleSpecInput, ruleSpecSchema, silenceSpecSchema } from '../src/alerts/spec.ts';
import { SeriesWindows } from '../src/alerts/windows.ts';

const S = 1000;

function harness(rule: Partial<RuleSpecInput> = {}, opts: { sendResolved?: boolean; hosts?: number } = {}) {
  const clock = { now: 2_000_000_000 };
  const sent: Notification[] = [];
  const sender: ChannelSender = {
    async send(n) {
      sent.push(n);
    },
  };
  const channel: ChannelRuntime = {
    id: 'c1',
    name: 'ops',
    source: 'api',
    spec: channelSpecSchema.parse({ name: 'ops', type: 'webhook', url: 'http://127.0.0.1:1/x', send_resolved: opts.sendResolved ?? true }),
    sender,
    title: undefined,
    text: undefined,
    maxAlerts: 20,
    timeoutMs: 1000,
    retry: { maxAttempts: 1, initialMs: 1, maxMs: 1 },
  };
  let silences = new SilenceSet([]);
  const queue = new DeliveryQueue({ log: pino({ level: 'silent' }), now: () => clock.now });
  const dispatcher = new AlertDispatcher({
    channel: (name) => (name === 'ops' ? channel : undefined),
    queue,
    silences: () => silences,
    defaultChannels: () => ['ops'],
    externalUrl: () => 'http://falconet.example',
    log: pino({ level: 'silent' }),
    now: () => clock.now,
  });
  const windows = new SeriesWindows();
  const ev = new AlertEvaluator(windows, { intervalMs: 10 * S, staleMs: 3_600_000, startupGraceMs: 0, now: () => clock.now });
  const compiled = new CompiledRule(
    'r1',
    ruleSpecSchema.parse({
      name: 'High CPU',
      metric: 'cpu',
      aggregation: 'last',
      threshold: 90,
      group_wait: '10s',
      group_interval: '1m',
      repeat_interval: '1h',
      ...rule,
    }),
    'api',
    { groupWaitMs: 0, groupIntervalMs: 0, repeatIntervalMs: 0 },
  );
  ev.setRules([compiled]);
  const hosts = Array.from({ length: opts.hosts ?? 200 }, (_, i) => `host-${String(i).padStart(3, '0')}`);
  ev.updateAgents(hosts.map((id) => ({ id, hostname: id, labels: {}, status: 'online', lastSeenMs: clock.now })));
  return {
    clock,
    sent,
    channel,
    hosts,
    dispatcher,
    setSilences(list: Silence[]) {
      silences = new SilenceSet(list);
    },
    /** Every host reports a value (or its own), then one cycle, then the dispatcher's ticks over `ms`. */
    async step(value: number | ((host: string) => number), ms = 0) {
      for (const h of hosts) {
        windows.observe(
          h,
          [{ name: 'cpu', labels: {}, value: typeof value === 'number' ? value : value(h), timestampMs: clock.now }],
          clock.now,
        );
      }
      dispatcher.handle(await ev.runCycle());
      await this.wait(ms);
    },
    async wait(ms: number) {
      for (let t = 0; t <= ms; t += S) {
        dispatcher.tick();
        if (t < ms) clock.now += S;
      }
      await queue.idle();
    },
  };
}

describe('grouping', () => {
  it('sends one notification for 200 hosts breaching at once, not 200', async () => {
    const h = harness();
    await h.step(95, 9 * S);
    expect(h.sent).toHaveLength(0);
    await h.wait(1 * S);
    expect(h.sent).toHaveLength(1);
    const n = h.sent[0] as Notification;
    expect(n).toMatchObject({
      status: 'firing',
      firingCount: 200,
      moreFiring: 180,
      groupLabels: { alertname: 'High CPU' },
      title: '[FIRING:200] High CPU',
    });
    expect(n.shownFiring.map((a) => a.host).slice(0, 2)).toEqual(['host-000', 'host-001']);
    expect(n.text).toContain('- [warning] host-000: cpu > 90: value 95 (for 10s)\n');
    expect(n.text).toContain('- and 180 more firing');
    expect(n.alerts).toHaveLength(200);
    // Nothing new: nothing more until the repeat interval.
    await h.step(95, 30 * 60 * S);
    expect(h.sent).toHaveLength(1);
  });

  it('groups by what group_by names', async () => {
    const h = harness({ group_by: ['alertname', 'host'] }, { hosts: 3 });
    await h.step(95, 10 * S);
    expect(h.sent.map((n) => n.groupLabels)).toEqual([
      { alertname: 'High CPU', host: 'host-000' },
      { alertname: 'High CPU', host: 'host-001' },
      { alertname: 'High CPU', host: 'host-002' },
    ]);
  });

  it('adds latecomers after group_interval, repeats after repeat_interval, and sends recoveries', async () => {
    const h = harness({}, { hosts: 3 });
    await h.step((host) => (host === 'host-002' ? 10 : 95), 10 * S);
    expect(h.sent.map((n) => n.firingCount)).toEqual([2]);
    // host-002 joins 20 s later: it waits for the group interval (1 min after the first send).
    h.clock.now += 10 * S;
    await h.step(95, 30 * S);
    expect(h.sent).toHaveLength(1);
    await h.wait(30 * S);
    expect(h.sent.map((n) => [n.firingCount, n.repeat])).toEqual([
      [2, false],
      [3, false],
    ]);
    // Still firing an hour later: a reminder.
    await h.wait(3600 * S);
    expect(h.sent.at(-1)).toMatchObject({ firingCount: 3, repeat: true });
    // All clear: one recovery notice listing the three.
    await h.step(10, 60 * S);
    const last = h.sent.at(-1) as Notification;
    expect(last).toMatchObject({ status: 'resolved', firingCount: 0, resolvedCount: 3, title: '[RESOLVED] High CPU' });
    expect(last.text).toContain('- [resolved] host-000: cpu > 90: value 10 (after 1h 1m)');
    expect(last.resolved[0]?.endsAt).not.toBe('');
  });

  it('sends no recovery when the channel does not want them, or for an alert never announced', async () => {
    const h = harness({}, { hosts: 1, sendResolved: false });
    await h.step(95, 10 * S);
    await h.step(10, 120 * S);
    expect(h.sent.map((n) => n.status)).toEqual(['firing']);
    const quick = harness({}, { hosts: 1 });
    // Fires and clears inside the group wait: nobody heard of it, so no recovery either.
    await quick.step(95, 2 * S);
    await quick.step(10, 120 * S);
    expect(quick.sent).toEqual([]);
  });
});

describe('silences', () => {
  const silence = (spec: object, createdMs: number) =>
    new Silence('s1', silenceSpecSchema.parse(spec), { source: 'api', createdBy: 'test', createdMs });

  it('holds back silenced alerts and sends them if still firing when the silence ends', async () => {
    const h = harness({}, { hosts: 3 });
    h.setSilences([silence({ matchers: '{host="host-001"}', duration: '2m' }, h.clock.now)]);
    await h.step(95, 10 * S);
    expect(h.sent.map((n) => n.alerts.map((a) => a.host))).toEqual([['host-000', 'host-002']]);
    await h.wait(60 * S);
    expect(h.sent).toHaveLength(1);
    await h.wait(60 * S);
    expect(h.sent.map((n) => n.alerts.map((a) => a.host))).toEqual([
      ['host-000', 'host-002'],
      ['host-000', 'host-001', 'host-002'],
    ]);
  });

  it('says nothing at all for a fully silenced group, and nothing when it resolves', async () => {
    const h = harness({}, { hosts: 2 });
    h.setSilences([silence({ matchers: '{alertname="High CPU"}', duration: '1h' }, h.clock.now)]);
    await h.step(95, 120 * S);
    await h.step(10, 120 * S);
    expect(h.sent).toEqual([]);
  });

  it('mutes during a maintenance window on its schedule', async () => {
    const h = harness({}, { hosts: 1 });
    // Opens at every full minute for 30 s (seconds field first: croner's 6-field form).
    h.clock.now = Math.ceil(h.clock.now / 60_000) * 60_000 + 5 * S;
    h.setSilences([silence({ matchers: { host: 'host-000' }, schedule: '0 * * * * *', duration: '30s' }, 0)]);
    await h.step(95, 20 * S);
    expect(h.sent).toEqual([]);
    await h.wait(20 * S);
    expect(h.sent).toHaveLength(1);
  });
});
