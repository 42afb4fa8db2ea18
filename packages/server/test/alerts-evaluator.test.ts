/**
 * The evaluator on a fake clock: no sleeping, every timing exact. Samples go in through the same
 * windows the ingest hook feeds; cycles run as the timer would run them.
 */
import type { Sample } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { type AgentFacts, AlertEvaluator, type AlertTransition } from '../src/alerts/evaluator.ts';
import { CompiledRule } from '../src/alerts/rule.ts';
import { type RuleSpecInput, ruleSpecSchema } from '../src/alerts/spec.ts';
import { SeriesWindows } from '../src/alerts/windows.ts';

const INTERVAL = 10_000;

function harness(opts: { staleMs?: number; graceMs?: number } = {}) {
  const clock = { now: 1_000_000_000 };
  const windows = new SeriesWindows();
  const ev = new AlertEvaluator(windows, {
    intervalMs: INTERVAL,
    staleMs: opts.staleMs ?? 60_000,
    startupGraceMs: opts.graceMs ?? 0,
    now: () => clock.now,
  });
  const agents = new Map<string, AgentFacts>();
  const log: AlertTransition[] = [];
  const h = {
    clock,
    ev,
    windows,
    log,
    agent(id: string, labels: Record<string, string> = {}, status: 'online' | 'offline' = 'online') {
      agents.set(id, { id, hostname: `${id}.example`, labels, status, lastSeenMs: clock.now });
    },
    setStatus(id: string, status: 'online' | 'offline') {
      const a = agents.get(id);
      // Offline: silent since now (the registry's last report).
      if (a) agents.set(id, { ...a, status, lastSeenMs: clock.now });
    },
    rules(...specs: (RuleSpecInput & { id?: string })[]) {
      const made = specs.map(
        ({ id, ...s }, i) =>
          new CompiledRule(id ?? `r${i}`, ruleSpecSchema.parse(s), 'api', {
            groupWaitMs: 0,
            groupIntervalMs: 0,
            repeatIntervalMs: 3_600_000,
          }),
      );
      log.push(...ev.setRules(made));
      return made;
    },
    send(agentId: string, samples: Omit<Sample, 'timestampMs'>[]) {
      windows.observe(
        agentId,
        samples.map((s) => ({ ...s, timestampMs: clock.now })),
        clock.now,
      );
    },
    async cycle() {
      ev.updateAgents([...agents.values()]);
      const t = await ev.runCycle();
      log.push(...t);
      return t;
    },
    advance(ms: number) {
      clock.now += ms;
    },
    states(ruleIndex = 0) {
      const r = ev.rules[ruleIndex];
      return Object.fromEntries([...(r?.instances.values() ?? [])].map((a) => [a.labels.host, a.state]));
    },
  };
  return h;
}

const cpu = (value: number) => ({ name: 'falconet_cpu_usage_percent', labels: {}, value });

describe('threshold rules: pending -> firing -> resolved', () => {
  it('fires within the for-duration plus one interval of the breach arriving, and resolves when it clears', async () => {
    const h = harness();
    h.agent('a');
    h.rules({ name: 'High CPU', metric: 'falconet_cpu_usage_percent', aggregation: 'last', op: '>', threshold: 90, for: '30s' });
    h.send('a', [cpu(20)]);
    await h.cycle();
    expect(h.states()).toEqual({});
    // The breach arrives 3 s after a cycle; cycles keep their 10 s beat.
    h.advance(3000);
    const breachAt = h.clock.now;
    h.send('a', [cpu(95)]);
    let firedAt = 0;
    for (let i = 0; i < 10 && !firedAt; i++) {
      h.advance(i === 0 ? 7000 : INTERVAL);
      h.send('a', [cpu(96)]);
      const t = await h.cycle();
      if (i === 0) expect(t.map((x) => `${x.from}->${x.to}`)).toEqual(['inactive->pending']);
      if (t.some((x) => x.to === 'firing')) firedAt = h.clock.now;
    }
    const alert = h.ev.rules[0]?.instances.values().next().value;
    // Pending from the arrival of the first sample after the last quiet cycle.
    expect(alert?.activeSinceMs).toBe(breachAt);
    expect(firedAt - breachAt).toBeGreaterThanOrEqual(30_000);
    expect(firedAt - breachAt).toBeLessThanOrEqual(30_000 + INTERVAL);
    expect(alert).toMatchObject({
      state: 'firing',
      value: 96,
      labels: { alertname: 'High CPU', host: 'a.example', agent: 'a', severity: 'warning' },
    });

    h.advance(INTERVAL);
    h.send('a', [cpu(10)]);
    const t = await h.cycle();
    expect(t.map((x) => [x.from, x.to, x.reason])).toEqual([['firing', 'resolved', 'cleared']]);
    expect(h.states()).toEqual({});
  });

  it('fires at once with no for-duration, and drops a pending alert that clears', async () => {
    const h = harness();
    h.agent('a');
    h.agent('b');
    h.rules({ name: 'r', metric: 'falconet_cpu_usage_percent', aggregation: 'avg', window: '30s', threshold: 50, for: '1m' });
    h.send('a', [cpu(60)]);
    h.send('b', [cpu(60)]);
    await h.cycle();
    expect(h.states()).toEqual({ 'a.example': 'pending', 'b.example': 'pending' });
    h.advance(INTERVAL);
    h.send('a', [cpu(0)]);
    h.send('b', [cpu(60)]);
    // a's average over 30 s is now 30: below the threshold, so its pending alert goes.
    const t = await h.cycle();
    expect(t.map((x) => `${x.alert.labels.host} ${x.from}->${x.to}`)).toEqual(['a.example pending->inactive']);

    const now = harness();
    now.agent('a');
    now.rules({ name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    now.send('a', [cpu(60)]);
    expect((await now.cycle()).map((x) => `${x.from}->${x.to}`)).toEqual(['inactive->firing']);
  });

  it('selects by host, by agent labels and by series labels, and follows label changes', async () => {
    const h = harness();
    h.agent('a', { env: 'prod' });
    h.agent('b', { env: 'dev' });
    h.agent('c', { env: 'prod' });
    h.rules(
      { name: 'by host', metric: 'node_filesystem_avail_bytes', op: '<', threshold: 100, hosts: ['b.example'] },
      {
        name: 'prod root',
        metric: 'node_filesystem_avail_bytes',
        op: '<',
        threshold: 100,
        host_labels: { env: 'prod' },
        series_labels: '{mountpoint="/"}',
      },
    );
    for (const id of ['a', 'b', 'c']) {
      h.send(id, [
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/' }, value: 1 },
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/boot' }, value: 1 },
      ]);
    }
    await h.cycle();
    expect(h.states(0)).toEqual({ 'b.example': 'firing' });
    expect(Object.keys(h.states(1)).sort()).toEqual(['a.example', 'c.example']);
    expect(h.ev.rules[1]?.instances.values().next().value?.series).toBe('{mountpoint="/"}');
    // c moves to dev: its alert has no data under the rule any more and resolves.
    h.agent('c', { env: 'dev' });
    h.advance(INTERVAL);
    for (const id of ['a', 'b', 'c']) h.send(id, [{ name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/' }, value: 1 }]);
    const t = await h.cycle();
    expect(t.map((x) => `${x.rule.name} ${x.alert.labels.host} ${x.to} ${x.reason}`)).toEqual(['prod root c.example resolved no_data']);
  });

  it('resolves an alert whose series went stale', async () => {
    const h = harness({ staleMs: 30_000 });
    h.agent('a');
    h.rules({ name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    h.send('a', [cpu(60)]);
    await h.cycle();
    h.advance(INTERVAL * 3);
    expect(await h.cycle()).toEqual([]);
    h.advance(INTERVAL);
    expect((await h.cycle()).map((x) => `${x.to} ${x.reason}`)).toEqual(['resolved no_data']);
  });

  it('keeps alerts it cannot judge yet during the startup grace', async () => {
    const h = harness({ graceMs: 60_000 });
    const [r] = h.rules({ id: 'keep', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    h.ev.restore([
      {
        ruleId: 'keep',
        key: 'gone',
        fingerprint: 'f',
        state: 'firing',
        labels: { host: 'gone' },
        series: '',
        agentId: 'gone',
        value: 99,
        activeSinceMs: 1,
        firedAtMs: 1,
        notifiedMs: 1,
        lastEvalMs: 1,
        cycle: 0,
      },
    ]);
    expect(await h.cycle()).toEqual([]);
    expect(r?.instances.size).toBe(1);
    h.advance(60_000);
    expect((await h.cycle()).map((x) => `${x.to} ${x.reason}`)).toEqual(['resolved no_data']);
  });

  it('resolves the alerts of a rule that is removed', async () => {
    const h = harness();
    h.agent('a');
    h.rules({ id: 'x', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    h.send('a', [cpu(60)]);
    await h.cycle();
    expect(h.ev.setRules([]).map((x) => `${x.to} ${x.reason}`)).toEqual(['resolved rule_removed']);
  });

  it('resolves the alerts of a rule that is switched off', async () => {
    const h = harness();
    h.agent('a');
    h.rules({ id: 'x', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    h.send('a', [cpu(60)]);
    await h.cycle();
    h.log.length = 0;
    h.rules({ id: 'x', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50, enabled: false });
    expect(h.log.map((x) => `${x.to} ${x.reason}`)).toEqual(['resolved rule_disabled']);
    h.advance(INTERVAL);
    h.send('a', [cpu(60)]);
    expect(await h.cycle()).toEqual([]);
  });

  it('carries alerts over when a rule is edited', async () => {
    const h = harness();
    h.agent('a');
    h.rules({ id: 'x', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 50 });
    h.send('a', [cpu(60)]);
    await h.cycle();
    h.rules({ id: 'x', name: 'r', metric: 'falconet_cpu_usage_percent', threshold: 55 });
    h.advance(INTERVAL);
    h.send('a', [cpu(60)]);
    expect(await h.cycle()).toEqual([]);
    expect(h.states()).toEqual({ 'a.example': 'firing' });
  });
});

describe('agent and container rules', () => {
  it('fires for an agent offline past its for-duration, after the startup grace', async () => {
    const h = harness({ graceMs: 20_000 });
    h.agent('a');
    h.agent('b', {}, 'offline');
    h.rules({ name: 'down', kind: 'agent_offline', for: '20s' });
    expect(await h.cycle()).toEqual([]);
    h.advance(20_000);
    expect((await h.cycle()).map((x) => `${x.alert.labels.host} ${x.to}`)).toEqual(['b.example firing']);
    h.setStatus('a', 'offline');
    h.advance(INTERVAL);
    expect((await h.cycle()).map((x) => `${x.alert.labels.host} ${x.to}`)).toEqual(['a.example pending']);
    h.setStatus('b', 'online');
    h.advance(INTERVAL);
    // a has been silent for 20 s now: it fires as b, back, resolves.
    expect((await h.cycle()).map((x) => `${x.alert.labels.host} ${x.to}`)).toEqual(['a.example firing', 'b.example resolved']);
  });

  it('fires when an online agent stops sending a metric (a plugin that died)', async () => {
    const h = harness();
    h.agent('a');
    h.rules({ name: 'no backup metric', kind: 'no_data', metric: 'backup_last_success_timestamp', window: '1m' });
    await h.cycle();
    h.send('a', [{ name: 'backup_last_success_timestamp', labels: { job: 'db' }, value: 1 }]);
    h.advance(50_000);
    expect(await h.cycle()).toEqual([]);
    h.advance(20_000);
    expect((await h.cycle()).map((x) => x.to)).toEqual(['firing']);
    h.send('a', [{ name: 'backup_last_success_timestamp', labels: { job: 'db' }, value: 2 }]);
    h.advance(INTERVAL);
    expect((await h.cycle()).map((x) => x.to)).toEqual(['resolved']);
  });

  it('fires for a container that stopped and one that keeps restarting', async () => {
    const h = harness();
    h.agent('a');
    h.rules(
      { name: 'container down', kind: 'container_down', series_labels: '{name=~"web|db"}' },
      { name: 'restart loop', kind: 'container_restarting', restarts: 2, window: '10m' },
    );
    const state = (name: string, running: number) =>
      ['running', 'exited'].map((s) => ({
        name: 'falconet_container_state',
        labels: { id: `/docker/${name}`, name, state: s },
        value: s === 'running' ? running : 1 - running,
      }));
    const restarts = (name: string, n: number) => ({
      name: 'falconet_container_restarts_total',
      labels: { id: `/docker/${name}`, name },
      value: n,
    });
    h.send('a', [...state('web', 1), ...state('db', 1), ...state('batch', 0), restarts('web', 0)]);
    await h.cycle();
    expect(h.states(0)).toEqual({});
    h.advance(INTERVAL);
    h.send('a', [...state('web', 1), ...state('db', 0), restarts('web', 1)]);
    await h.cycle();
    h.advance(INTERVAL);
    h.send('a', [...state('web', 1), ...state('db', 0), restarts('web', 3)]);
    await h.cycle();
    const fired = h.log.filter((x) => x.to === 'firing').map((x) => `${x.rule.name} ${x.alert.labels.name}`);
    expect(fired).toEqual(['container down db', 'restart loop web']);
  });

  it('predicts a disk filling up within the horizon by a linear fit', async () => {
    const h = harness({ staleMs: 3_600_000 });
    h.agent('a');
    h.rules({ name: 'disk full soon', kind: 'disk_full', within: '4h', lookback: '1h' });
    const GiB = 2 ** 30;
    // "/" loses 10 GiB an hour with 30 GiB left: full in 3 h. "/data" is steady.
    for (let m = 0; m <= 60; m++) {
      h.send('a', [
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/', fstype: 'ext4' }, value: 40 * GiB - (m / 60) * 10 * GiB },
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/data', fstype: 'xfs' }, value: 5 * GiB },
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/run', fstype: 'tmpfs' }, value: 1 },
      ]);
      if (m === 10) expect(await h.cycle()).toEqual([]);
      h.advance(60_000);
    }
    const t = await h.cycle();
    expect(t.map((x) => `${x.alert.series} ${x.to}`)).toEqual(['{fstype="ext4", mountpoint="/"} firing']);
    expect(t[0]?.details?.hours_left).toBeCloseTo(3, 1);
    // Within 2 h instead: not yet.
    const h2 = harness({ staleMs: 3_600_000 });
    h2.agent('a');
    h2.rules({ name: 'x', kind: 'disk_full', within: '2h', lookback: '1h' });
    for (let m = 0; m <= 60; m++) {
      h2.send('a', [
        { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/', fstype: 'ext4' }, value: 40 * GiB - (m / 60) * 10 * GiB },
      ]);
      h2.advance(60_000);
    }
    expect(await h2.cycle()).toEqual([]);
  });
});

describe('scale', () => {
  it('evaluates each (series, rule) pair once per cycle and fires a fleet at once', async () => {
    const h = harness();
    for (let i = 0; i < 200; i++) h.agent(`h${i}`, { group: `g${i % 4}` });
    h.rules(
      { name: 'fleet cpu', metric: 'falconet_cpu_usage_percent', aggregation: 'last', threshold: 90 },
      { name: 'g1 cpu', metric: 'falconet_cpu_usage_percent', aggregation: 'last', threshold: 95, host_labels: { group: 'g1' } },
      { name: 'h7 only', metric: 'falconet_cpu_usage_percent', threshold: 0, hosts: ['h7'] },
    );
    for (let i = 0; i < 200; i++) h.send(`h${i}`, [cpu(50), { name: 'node_load1', labels: {}, value: 1 }]);
    await h.cycle();
    expect(h.ev.last).toMatchObject({ series: 200, pairs: 200 + 50 + 1, transitions: 1 });
    h.advance(INTERVAL);
    for (let i = 0; i < 200; i++) h.send(`h${i}`, [cpu(99)]);
    const t = await h.cycle();
    expect(t.filter((x) => x.rule.name === 'fleet cpu' && x.to === 'firing')).toHaveLength(200);
    expect(t.filter((x) => x.rule.name === 'g1 cpu' && x.to === 'firing')).toHaveLength(50);
    // node_load1 is read by no rule: not kept.
    expect(h.windows.seriesCount).toBe(200);
  });
});
