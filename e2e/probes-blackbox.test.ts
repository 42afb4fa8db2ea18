import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../testing/certs.ts';
import { type DelayWire, startDelayWire } from '../testing/delay-wire.ts';
import { type AgentProc, eventually, freePort, type Proc, startAgent, startCommand, tempDir } from '../testing/processes.ts';

const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';
const DNSMASQ = '/usr/sbin/dnsmasq';
/** Each agent probe runs as COPIES probes (own ids, so own start offsets) for ROUNDS rounds of 10 s; blackbox is asked as often. */
const COPIES = 4;
const ROUNDS = 5;
const RUNS = COPIES * ROUNDS;
const copyIds = (id: string) => Array.from({ length: COPIES }, (_, k) => (k === 0 ? id : `${id}_${k + 1}`));
/** The wire's round trip: large beside either prober's fixed costs, small beside the timeouts. */
const WIRE_RTT_MS = 100;

interface Case {
  id: string;
  agent: Record<string, unknown>;
  blackbox: Record<string, unknown>;
  target: string;
  expect: 0 | 1;
}

let dir: string;
const servers: Server[] = [];
let dnsmasq: Proc;
let wire: DelayWire;
let blackbox: Proc;
let agent: AgentProc;
let bbPort: number;
let cases: Case[] = [];

function listen(s: Server): Promise<number> {
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

const delayed = (ms: number, status: number) => (_req: unknown, res: import('node:http').ServerResponse) => {
  setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok\n' : 'failed\n'), ms);
};

/** One value of `name` with label probe=`id` from an exposition text; labels other than the ones given are ignored. */
function value(text: string, name: string, match: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

beforeAll(async () => {
  dir = tempDir('falconet-probes-');
  // A short-lived certificate for 127.0.0.1, trusted by both probers through this one file.
  const { cert, key } = selfSignedCert(dir, { days: 2, cn: 'probe-target', san: 'IP:127.0.0.1,DNS:localhost' });
  const slowPort = await listen(createHttp(delayed(300, 200)));
  const failPort = await listen(createHttp(delayed(200, 500)));
  const tlsPort = await listen(createHttps({ cert: readFileSync(cert), key: readFileSync(key) }, delayed(200, 200)));
  wire = await startDelayWire(WIRE_RTT_MS);
  // In the wire's own namespace nothing else listens: port 9 is closed, dnsmasq has 53 (UDP and TCP).
  const far = wire.far;
  dnsmasq = startCommand(
    ...wire.inside(DNSMASQ, [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      `--listen-address=${far}`,
      '--port=53',
      '--pid-file=',
      '--address=/probe.test/192.0.2.7',
      // Names under .test other than probe.test are answered NXDOMAIN locally.
      '--local=/test/',
    ]),
  );
  const tlsAgent = { tls: { ca_file: cert } };
  const tlsBlackbox = { tls_config: { ca_file: cert } };
  cases = [
    {
      id: 'http_slow',
      target: `http://127.0.0.1:${slowPort}/`,
      agent: { kind: 'http' },
      blackbox: { prober: 'http', http: {} },
      expect: 1,
    },
    {
      id: 'http_fail',
      target: `http://127.0.0.1:${failPort}/`,
      agent: { kind: 'http' },
      blackbox: { prober: 'http', http: {} },
      expect: 0,
    },
    {
      id: 'https_short_cert',
      target: `https://127.0.0.1:${tlsPort}/`,
      agent: { kind: 'http', options: tlsAgent },
      blackbox: { prober: 'http', http: tlsBlackbox },
      expect: 1,
    },
    {
      id: 'tcp_closed',
      target: `${far}:9`,
      agent: { kind: 'tcp' },
      blackbox: { prober: 'tcp', tcp: { preferred_ip_protocol: 'ip4' } },
      expect: 0,
    },
    {
      id: 'tcp_open',
      target: `${far}:53`,
      agent: { kind: 'tcp' },
      blackbox: { prober: 'tcp', tcp: { preferred_ip_protocol: 'ip4' } },
      expect: 1,
    },
    {
      id: 'dns',
      target: `${far}:53`,
      agent: { kind: 'dns', options: { query_name: 'probe.test', query_type: 'A', answers_contain: ['192.0.2.7'] } },
      blackbox: {
        prober: 'dns',
        dns: { query_name: 'probe.test', query_type: 'A', transport_protocol: 'udp', preferred_ip_protocol: 'ip4' },
      },
      expect: 1,
    },
    {
      id: 'dns_nxdomain',
      target: `${far}:53`,
      agent: { kind: 'dns', options: { query_name: 'missing.test', query_type: 'A' } },
      blackbox: {
        prober: 'dns',
        dns: { query_name: 'missing.test', query_type: 'A', transport_protocol: 'udp', preferred_ip_protocol: 'ip4' },
      },
      expect: 0,
    },
    {
      id: 'icmp',
      target: far,
      agent: { kind: 'icmp' },
      blackbox: { prober: 'icmp', icmp: { preferred_ip_protocol: 'ip4' } },
      expect: 1,
    },
  ];

  const modules = Object.fromEntries(cases.map((c) => [c.id, { timeout: '5s', ...c.blackbox }]));
  writeFileSync(join(dir, 'blackbox.yml'), JSON.stringify({ modules }, null, 2));
  bbPort = await freePort();
  blackbox = startCommand(BLACKBOX, [`--config.file=${join(dir, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${bbPort}`]);
  const probes = cases.flatMap((c) => copyIds(c.id).map((id) => ({ id, target: c.target, interval: '10s', timeout: '5s', ...c.agent })));
  // The host collectors stay on: every scrape runs them on the agent's main loop, and the probes,
  // in their worker thread, must time their answers unaffected by that.
  writeFileSync(join(dir, 'agent.yml'), JSON.stringify({ probes }, null, 2));
  agent = await startAgent({ interval: '10s', args: ['--config', join(dir, 'agent.yml')] });
  await eventually(async () => (await fetch(`http://127.0.0.1:${bbPort}/-/healthy`)).ok, 30_000);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await blackbox?.stop();
  await dnsmasq?.stop();
  await wire?.stop();
  for (const s of servers) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('probes beside prometheus-blackbox-exporter', () => {
  it('agrees on probe_success, certificate expiry and (median) duration for every case', async () => {
    type Run = { success: number; duration: number; expiry?: number | undefined };
    const agentRuns = new Map<string, Run[]>(cases.map((c) => [c.id, []]));
    const bbRuns = new Map<string, Run[]>(cases.map((c) => [c.id, []]));
    const lastSeen = new Map<string, number>();
    await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
        for (const c of cases) {
          const runs = agentRuns.get(c.id) as Run[];
          for (const id of copyIds(c.id)) {
            const duration = value(text, 'probe_duration_seconds', { probe: id });
            const success = value(text, 'probe_success', { probe: id, target: c.target });
            if (duration === undefined || success === undefined || lastSeen.get(id) === duration || runs.length >= RUNS) continue;
            lastSeen.set(id, duration);
            runs.push({ success, duration, expiry: value(text, 'probe_ssl_earliest_cert_expiry', { probe: id }) });
          }
          // Blackbox is asked once per case and poll, spread over the same minute as the agent's runs.
          const bb = bbRuns.get(c.id) as Run[];
          if (bb.length < RUNS && bb.length < runs.length + COPIES) {
            const r = await (await fetch(`http://127.0.0.1:${bbPort}/probe?module=${c.id}&target=${encodeURIComponent(c.target)}`)).text();
            bb.push({
              success: value(r, 'probe_success') as number,
              duration: value(r, 'probe_duration_seconds') as number,
              expiry: value(r, 'probe_ssl_earliest_cert_expiry'),
            });
          }
        }
        return cases.every((c) => agentRuns.get(c.id)?.length === RUNS && bbRuns.get(c.id)?.length === RUNS);
      },
      170_000,
      // A probe's result stays 10 s: a poll every 2 s sees each run.
      2000,
    );
    const outside: string[] = [];
    for (const c of cases) {
      const a = agentRuns.get(c.id) ?? [];
      const b = bbRuns.get(c.id) ?? [];
      const am = median(a.map((r) => r.duration));
      const bm = median(b.map((r) => r.duration));
      console.log(
        `probe ${c.id}: success agent=${a.map((r) => r.success).join('')} blackbox=${b.map((r) => r.success).join('')}; ` +
          `runs agent=${a.map((r) => (r.duration * 1000).toFixed(1)).join(',')} blackbox=${b.map((r) => (r.duration * 1000).toFixed(1)).join(',')}; median duration agent=${(am * 1000).toFixed(2)} ms blackbox=${(bm * 1000).toFixed(2)} ms (ratio ${(am / bm).toFixed(3)})` +
          (a[0]?.expiry ? `; cert expiry agent=${a[0].expiry} blackbox=${b[0]?.expiry}` : ''),
      );
      for (const r of [...a, ...b]) expect(r.success, c.id).toBe(c.expect);
      expect(a[0]?.expiry, c.id).toBe(b[0]?.expiry);
      if (Math.abs(am - bm) > 0.2 * bm)
        outside.push(`${c.id}: agent ${(am * 1000).toFixed(2)} ms vs blackbox ${(bm * 1000).toFixed(2)} ms`);
    }
    expect(outside, 'median durations more than 20 % apart').toEqual([]);
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(value(text, 'probe_dns_rcode', { probe: 'dns_nxdomain', rcode: 'NXDOMAIN' })).toBe(1);
    // The HTTP phases blackbox writes, the agent writes too, with the TLS handshake in `tls`.
    const tls = cases.find((c) => c.id === 'https_short_cert') as Case;
    const bb = await (await fetch(`http://127.0.0.1:${bbPort}/probe?module=${tls.id}&target=${encodeURIComponent(tls.target)}`)).text();
    const phases = (t: string, match: Record<string, string>) =>
      ['resolve', 'connect', 'tls', 'processing', 'transfer'].filter(
        (phase) => value(t, 'probe_http_duration_seconds', { ...match, phase }) !== undefined,
      );
    expect(phases(text, { probe: tls.id })).toEqual(phases(bb, {}));
    expect(value(text, 'probe_http_duration_seconds', { probe: tls.id, phase: 'tls' })).toBeGreaterThan(0);
    // And the DNS phases and record counts.
    const dns = cases.find((c) => c.id === 'dns') as Case;
    const bbDns = await (await fetch(`http://127.0.0.1:${bbPort}/probe?module=${dns.id}&target=${encodeURIComponent(dns.target)}`)).text();
    for (const phase of ['resolve', 'connect', 'request'])
      expect(value(text, 'probe_dns_duration_seconds', { probe: dns.id, phase }) !== undefined, phase).toBe(
        value(bbDns, 'probe_dns_duration_seconds', { phase }) !== undefined,
      );
    for (const name of ['probe_dns_answer_rrs', 'probe_dns_authority_rrs', 'probe_dns_additional_rrs'])
      expect(value(text, name, { probe: dns.id }), name).toBe(value(bbDns, name));
  }, 200_000);

  it('applies a changed probe list on reload, and refuses a malformed one naming the key', async () => {
    const file = join(dir, 'agent.yml');
    const probes = JSON.parse(readFileSync(file, 'utf8')).probes as { id: string }[];
    const config = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...config, probes: probes.filter((p) => p.id !== 'icmp') }));
    agent.child.kill('SIGHUP');
    const metrics = () => fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`).then((r) => r.text());
    await eventually(async () => value(await metrics(), 'probe_success', { probe: 'icmp' }) === undefined, 30_000);
    expect(value(await metrics(), 'probe_success', { probe: 'http_slow' })).toBe(1);
    writeFileSync(file, JSON.stringify({ ...config, probes: [{ id: 'x', kind: 'tcp', target: '127.0.0.1' }] }));
    agent.child.kill('SIGHUP');
    await agent.waitFor(/probes\.0\.target/);
    expect(value(await metrics(), 'probe_success', { probe: 'http_slow' })).toBe(1);
  }, 60_000);
});
