import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { parseExposition } from '@falconet/protocol/exposition';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricFamily } from '../packages/agent/src/metrics.ts';
import { equalWork, NODE_EXPORTER, UPSTREAM_FILTERS } from '../testing/node-exporter.ts';
import { type AgentProc, freePort, type Proc, startAgent, startCommand } from '../testing/processes.ts';

/**
 * Debian's node_exporter 1.5 and the agent on the same host, scraped within the same second:
 * node_exporter, the agent, node_exporter again. Every family both expose must agree.
 */

// Families that describe the exporter process or the collector set rather than the host.
const NOT_HOST = /^(node_scrape_collector_|node_exporter_build_info$|process_|go_|promhttp_)/;
// Families node_exporter exposes here that the agent has no collector for (SELinux is off here).
const AGENT_LACKS = new Set(['node_selinux_enabled']);
// Counts of live kernel objects that the scrapes themselves move: each exporter holds its own
// sockets, files and threads while it answers (node_exporter's collectors open netlink sockets
// and files in parallel). On a quiet host these counts are small, so 1 % is less than one object;
// they get a few objects of slack besides.
const SCRAPE_SENSITIVE = /^node_(sockstat_|filefd_allocated$|netstat_Tcp_CurrEstab$|procs_|processes_threads$|processes_pids$)/;
const SCRAPE_SLACK = 3;
// cAdvisor's own name, kept for its dashboards though promtool lints it; seen when the host runs containers.
const CADVISOR_LINT = /^container_memory_failcnt counter metrics should have "_total" suffix$/;

interface Scrape {
  at: number;
  families: Map<string, MetricFamily>;
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { at: Date.now(), families: new Map(parseExposition(text).families.map((f) => [f.name, f])) };
}

const key = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');

/** Why agent's family disagrees with node_exporter's before and after it, or undefined when it agrees. */
function disagreement(before: MetricFamily, agent: MetricFamily, after: MetricFamily): string | undefined {
  const slackObjects = SCRAPE_SENSITIVE.test(agent.name) ? SCRAPE_SLACK : 0;
  if (agent.type !== before.type) return `type ${agent.type}, node_exporter says ${before.type}`;
  const ours = new Map(agent.metrics.map((m) => [key(m.labels), m.value]));
  const a = new Map(before.metrics.map((m) => [key(m.labels), m.value]));
  const b = new Map(after.metrics.map((m) => [key(m.labels), m.value]));
  const theirs = [...a.keys()].sort().join(' | ');
  if ([...ours.keys()].sort().join(' | ') !== theirs) {
    return `label sets differ:\n  agent:         ${[...ours.keys()].sort().join(' | ')}\n  node_exporter: ${theirs}`;
  }
  for (const [labels, v] of ours) {
    const v1 = a.get(labels) as number;
    const v2 = b.get(labels) ?? v1;
    const lo = Math.min(v1, v2);
    const hi = Math.max(v1, v2);
    if (Number.isNaN(v) && Number.isNaN(v1)) continue;
    if (agent.type === 'counter') {
      // Read between node_exporter's two reads, a counter must lie between them: the agent's
      // value is what the rate over the gap predicts for the moment it read.
      const slack = Math.max(Math.abs(hi) * 1e-9, 1e-9);
      if (v < lo - slack || v > hi + slack) return `{${labels}} counter ${v} not within node_exporter's ${v1} .. ${v2}`;
    } else {
      const tol = Math.max(Math.max(Math.abs(lo), Math.abs(hi)) * 0.01, slackObjects);
      if (v < lo - tol || v > hi + tol) {
        return `{${labels}} ${agent.type} ${v} is more than ${slackObjects ? `max(1 %, ${slackObjects})` : '1 %'} from node_exporter's ${v1} .. ${v2}`;
      }
    }
  }
  return undefined;
}

describe('the agent next to Debian node_exporter 1.5', () => {
  let ne: Proc;
  let agent: AgentProc;
  let nePort = 0;

  beforeAll(async () => {
    nePort = await freePort();
    // Debian patches some defaults; these put node_exporter back on upstream 1.5's, which the agent follows.
    ne = startCommand(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${nePort}`, ...UPSTREAM_FILTERS]);
    agent = await startAgent();
    await ne.waitFor(/Listening on/, 20_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await ne?.stop();
  });

  it('exposes every host family node_exporter does, with the same types, label sets and values', async () => {
    const ours = `http://127.0.0.1:${agent.metricsPort}/metrics`;
    const theirs = `http://127.0.0.1:${nePort}/metrics`;
    await scrape(ours);
    // Other work on the machine changes live values (a mount appears, memory moves); a family must
    // agree in one of three rounds, each taken within one second.
    const pending = new Map<string, string>();
    let compared: string[] = [];
    for (let round = 0; round < 3; round++) {
      const before = await scrape(theirs);
      const mine = await scrape(ours);
      const after = await scrape(theirs);
      expect(after.at - before.at).toBeLessThan(1000);
      const common = [...before.families.keys()].filter((n) => !NOT_HOST.test(n) && mine.families.has(n) && after.families.has(n));
      if (round === 0) {
        compared = common;
        const missing = [...before.families.keys()].filter((n) => !NOT_HOST.test(n) && !mine.families.has(n) && !AGENT_LACKS.has(n));
        expect(missing, 'families node_exporter exposes and the agent does not').toEqual([]);
        for (const n of common) pending.set(n, 'not compared');
      }
      for (const name of [...pending.keys()]) {
        const why = disagreement(
          before.families.get(name) as MetricFamily,
          mine.families.get(name) as MetricFamily,
          after.families.get(name) as MetricFamily,
        );
        if (why === undefined) pending.delete(name);
        else pending.set(name, why);
      }
      if (pending.size === 0) break;
    }
    const report = [...pending].map(([n, why]) => `${n}: ${why}`).join('\n');
    expect(report, report).toBe('');
    expect(compared.length).toBeGreaterThan(150);
  }, 60_000);

  it('promtool finds no parse error in the agent output, and no lint finding node_exporter does not share', async () => {
    const check = async (url: string) => {
      const text = await (await fetch(url)).text();
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      return { status: r.status, findings: (r.stdout + r.stderr).split('\n').filter(Boolean) };
    };
    const ours = await check(`http://127.0.0.1:${agent.metricsPort}/metrics`);
    const theirs = await check(`http://127.0.0.1:${nePort}/metrics`);
    // Exit 1 is a parse error; 3 is lint findings only.
    expect(ours.status, ours.findings.join('\n')).not.toBe(1);
    expect([0, 3]).toContain(ours.status);
    const shared = new Set(theirs.findings);
    const ownFindings = ours.findings.filter((l) => !shared.has(l) && !CADVISOR_LINT.test(l));
    expect(ownFindings, ownFindings.join('\n')).toEqual([]);
  });
});

/**
 * The configuration bench/exporter compares on (testing/node-exporter.ts): the same collectors on
 * both sides, neither side's own process metrics. If the two stop serving the same work, the
 * bench's ratios stop meaning anything; this says so before a figure is printed.
 */
describe('equal work for bench/exporter', () => {
  let ne: Proc;
  let agent: AgentProc;
  let nePort = 0;

  beforeAll(async () => {
    const work = await equalWork();
    nePort = await freePort();
    ne = startCommand(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${nePort}`, ...work.refArgs]);
    agent = await startAgent({ args: [...work.agentArgs, '--web.gzip-level', '6'] });
    await ne.waitFor(/Listening on/, 20_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await ne?.stop();
  });

  it('both serve the same families, but for their build info, and series within 5 % of each other', async () => {
    const ours = await scrape(`http://127.0.0.1:${agent.metricsPort}/metrics`);
    const theirs = await scrape(`http://127.0.0.1:${nePort}/metrics`);
    const names = (s: Scrape, own: RegExp) => [...s.families.keys()].filter((n) => !own.test(n)).sort();
    expect(names(ours, /^falconet_agent_build_info$/)).toEqual(names(theirs, /^(node_exporter_build_info|promhttp_.*)$/));
    expect([...ours.families.keys()].filter((n) => /^(process_|falconet_agent_)/.test(n))).toEqual(['falconet_agent_build_info']);
    const series = (s: Scrape) => [...s.families.values()].reduce((n, f) => n + f.metrics.length, 0);
    expect(Math.abs(series(ours) - series(theirs)) / series(theirs)).toBeLessThanOrEqual(0.05);
  });

  it('gzip at the level asked for: the same text as without gzip, as small as node_exporter gets it', async () => {
    const url = `http://127.0.0.1:${agent.metricsPort}/metrics`;
    const zipped = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    const raw = Buffer.from(await (await fetch(url, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
    // Level 6 packs the text about a tenth tighter than the default level 1.
    expect(Number(zipped.headers.get('content-length'))).toBeLessThan(gzipSync(raw, { level: 1 }).length);
  });
});
