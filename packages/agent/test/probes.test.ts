/**
 * The probe kinds against real local peers (HTTP servers, a TLS listener with a certificate made
 * here, a grpc-js health service) and the probes config's error messages. The side-by-side run
 * with blackbox_exporter is e2e/probes-blackbox.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTls } from 'node:tls';
import { type ProbeConfig, type ProbeOf, probesSchema } from '@falconet/protocol/probes';
import { Server as GrpcServer, status as grpcStatus, ServerCredentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../../testing/certs.ts';
import { agentConfigSchema } from '../src/config.ts';
import { type MetricFamily, MetricWriter } from '../src/metrics.ts';
import { optionalNativeHelpers } from '../src/native.ts';
import { jsonPath } from '../src/probes/http.ts';
import { icmpNotAllowed, probeIcmp } from '../src/probes/icmp.ts';
import { ProbeOut } from '../src/probes/out.ts';
import { runProbe } from '../src/probes/run.ts';
import { offsetMs } from '../src/probes/schedule.ts';

const probe = (p: Record<string, unknown>): ProbeConfig => probesSchema.parse([{ id: 't', ...p }])[0] as ProbeConfig;
const val = (fs: MetricFamily[], name: string, labels: Record<string, string> = {}) =>
  fs.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;

let dir: string;
const closers: (() => void)[] = [];
let httpBase: string;
let cert: string;
let tlsPort: number;
let grpcPort: number;

function listen(s: Server | import('node:net').Server): Promise<number> {
  closers.push(() => s.close());
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'falconet-probe-unit-'));
  let key: string;
  ({ cert, key } = selfSignedCert(dir, { days: 3, cn: 't', san: 'IP:127.0.0.1' }));
  const port = await listen(
    createHttp((req, res) => {
      const hops = /^\/hop\/(\d+)$/.exec(req.url ?? '');
      if (hops) {
        const n = Number(hops[1]);
        res.writeHead(302, { location: n > 0 ? `/hop/${n - 1}` : '/json' }).end();
      } else if (req.url === '/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"up","items":[{"n":3}]}');
      else if (req.url === '/teapot') res.writeHead(418).end('short and stout');
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 50);
      else res.writeHead(404).end();
    }),
  );
  httpBase = `http://127.0.0.1:${port}`;
  tlsPort = await listen(createTls({ cert: readFileSync(cert), key: readFileSync(key) }, (s) => s.end()));
  // The health service, with its two one-field messages coded by hand as the probe does.
  const grpc = new GrpcServer();
  grpc.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (s: string) => Buffer.from(s),
        // An object: grpc-js's server takes a falsy request (the empty string) for a missing one.
        requestDeserialize: (b: Buffer) => ({ service: b.length ? b.subarray(2).toString() : '' }),
        responseSerialize: (n: number) => Buffer.from([0x08, n]),
        responseDeserialize: (b: Buffer) => b[1] ?? 0,
      },
    },
    {
      Check: (call: { request: { service: string } }, cb: (err: { code: number } | null, v?: number) => void) => {
        if (call.request.service === '') cb(null, 1);
        else if (call.request.service === 'sick') cb(null, 2);
        else cb({ code: grpcStatus.NOT_FOUND });
      },
    },
  );
  grpcPort = await new Promise((resolve, reject) =>
    grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  closers.push(() => grpc.forceShutdown());
});

afterAll(() => {
  for (const c of closers) c();
  rmSync(dir, { recursive: true, force: true });
});

describe('http probe', () => {
  it('follows and counts redirects, and checks a JSON path', async () => {
    const fs = await runProbe(
      probe({ kind: 'http', target: `${httpBase}/hop/2`, options: { json_path: '$.items[0].n', json_value: '3' } }),
    );
    expect(val(fs, 'probe_success', { probe: 't', target: `${httpBase}/hop/2`, kind: 'http' })).toBe(1);
    expect(val(fs, 'probe_http_redirects')).toBe(3);
    expect(val(fs, 'probe_http_status_code')).toBe(200);
    expect(val(fs, 'probe_http_ssl')).toBe(0);
  });

  it("times the phases as blackbox does: the server's wait in processing, no tls without TLS, within the whole run", async () => {
    const fs = await runProbe(probe({ kind: 'http', target: `${httpBase}/hop/1` }));
    const phase = (name: string) => val(fs, 'probe_http_duration_seconds', { phase: name }) as number;
    expect(fs.find((f) => f.name === 'probe_http_duration_seconds')?.metrics.map((m) => m.labels.phase)).toEqual([
      'resolve',
      'connect',
      'tls',
      'processing',
      'transfer',
    ]);
    expect(phase('tls')).toBe(0);
    expect(phase('connect')).toBeGreaterThan(0);
    const slow = await runProbe(probe({ kind: 'http', target: `${httpBase}/slow` }));
    const slowPhase = (name: string) => val(slow, 'probe_http_duration_seconds', { phase: name }) as number;
    // The server answers after a 50 ms timer: that wait is the processing phase's.
    expect(slowPhase('processing')).toBeGreaterThanOrEqual(0.04);
    const sum = ['resolve', 'connect', 'tls', 'processing', 'transfer'].reduce((a, n) => a + slowPhase(n), 0);
    expect(sum).toBeLessThanOrEqual(val(slow, 'probe_duration_seconds') as number);
  });

  it('fails past max_redirects, on a wrong keyword or JSON value, and takes listed status codes', async () => {
    expect(val(await runProbe(probe({ kind: 'http', target: `${httpBase}/hop/2`, options: { max_redirects: 2 } })), 'probe_success')).toBe(
      0,
    );
    const kw = await runProbe(probe({ kind: 'http', target: `${httpBase}/json`, options: { keyword: 'down' } }));
    expect([val(kw, 'probe_success'), val(kw, 'probe_failed_due_to_regex')]).toEqual([0, 1]);
    expect(
      val(
        await runProbe(probe({ kind: 'http', target: `${httpBase}/json`, options: { json_path: '$.status', json_value: 'down' } })),
        'probe_success',
      ),
    ).toBe(0);
    expect(val(await runProbe(probe({ kind: 'http', target: `${httpBase}/teapot` })), 'probe_success')).toBe(0);
    expect(
      val(await runProbe(probe({ kind: 'http', target: `${httpBase}/teapot`, options: { valid_status_codes: [418] } })), 'probe_success'),
    ).toBe(1);
    const noFollow = await runProbe(
      probe({ kind: 'http', target: `${httpBase}/hop/0`, options: { follow_redirects: false, valid_status_codes: [302] } }),
    );
    expect([val(noFollow, 'probe_success'), val(noFollow, 'probe_http_redirects')]).toEqual([1, 0]);
  });

  it('reads paths through JSON', () => {
    expect(jsonPath({ a: [{ b: null }] }, '$.a[0].b')).toEqual({ exists: true, value: null });
    expect(jsonPath({ a: [] }, '$.a[0]').exists).toBe(false);
  });
});

describe('tcp probe', () => {
  it('reports the certificate expiry of a TLS listener it trusts, and fails on one it does not', async () => {
    const notAfter = execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', cert]).toString().replace('notAfter=', '').trim();
    const fs = await runProbe(
      probe({ kind: 'tcp', target: `127.0.0.1:${tlsPort}`, options: { tls: true, tls_config: { ca_file: cert } } }),
    );
    expect(val(fs, 'probe_success')).toBe(1);
    expect(val(fs, 'probe_ssl_earliest_cert_expiry')).toBe(Date.parse(notAfter) / 1000);
    expect(val(await runProbe(probe({ kind: 'tcp', target: `127.0.0.1:${tlsPort}`, options: { tls: true } })), 'probe_success')).toBe(0);
    expect(val(await runProbe(probe({ kind: 'tcp', target: `127.0.0.1:${tlsPort}` })), 'probe_success')).toBe(1);
  });

  it('gives up at the timeout on a peer that never answers the handshake', async () => {
    const silent = createTcp(() => undefined);
    const port = await listen(silent);
    const fs = await runProbe(probe({ kind: 'tcp', target: `127.0.0.1:${port}`, timeout: '300ms', options: { tls: true } }));
    expect(val(fs, 'probe_success')).toBe(0);
    expect(val(fs, 'probe_duration_seconds')).toBeLessThan(5);
  });
});

describe('grpc probe', () => {
  it('is up only when the health service says SERVING', async () => {
    const up = await runProbe(probe({ kind: 'grpc', target: `127.0.0.1:${grpcPort}` }));
    expect(val(up, 'probe_success')).toBe(1);
    expect(val(up, 'probe_grpc_healthcheck_response', { serving_status: 'SERVING' })).toBe(1);
    const sick = await runProbe(probe({ kind: 'grpc', target: `127.0.0.1:${grpcPort}`, options: { service: 'sick' } }));
    expect([val(sick, 'probe_success'), val(sick, 'probe_grpc_healthcheck_response', { serving_status: 'NOT_SERVING' })]).toEqual([0, 1]);
    const unknown = await runProbe(probe({ kind: 'grpc', target: `127.0.0.1:${grpcPort}`, options: { service: 'nope' } }));
    expect([val(unknown, 'probe_success'), val(unknown, 'probe_grpc_status_code')]).toEqual([0, grpcStatus.NOT_FOUND]);
  });
});

describe('icmp probe', () => {
  /** The `ping` way, which the agent takes without its native helpers. */
  async function viaPing(target: string): Promise<MetricFamily[]> {
    const w = new MetricWriter();
    const p = probe({ kind: 'icmp', target });
    const ok = await probeIcmp(p as ProbeOf<'icmp'>, new ProbeOut(w, {}), new AbortController().signal, 1000, 'ping');
    w.gauge('probe_success', '', ok ? 1 : 0);
    return w.families();
  }

  it('says in one line why ping may not run, once per probe', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const fake = join(bin, 'ping');
    writeFileSync(fake, '#!/bin/sh\necho "ping: socket: Operation not permitted" >&2\nexit 2\n');
    chmodSync(fake, 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      await expect(viaPing('127.0.0.1')).rejects.toThrow(
        /^icmp: may not open an ICMP socket \(ping: socket: Operation not permitted\); allow group/,
      );
      process.env.PATH = join(dir, 'nowhere');
      await expect(viaPing('127.0.0.1')).rejects.toThrow('icmp: the ping command is not installed (Debian: iputils-ping)');
    } finally {
      process.env.PATH = path;
    }
  });

  it('pings 127.0.0.1 with ping where this host allows it', async () => {
    const fs = await viaPing('127.0.0.1');
    expect(val(fs, 'probe_success')).toBe(1);
    expect(val(fs, 'probe_icmp_duration_seconds', { phase: 'rtt' })).toBeGreaterThan(0);
  });

  it('sends the echo itself through the native helpers, with blackbox phases and the reply TTL', async () => {
    const native = optionalNativeHelpers();
    if (!native) throw new Error('the native helpers are not built (npm rebuild -w @falconet/agent)');
    const fs = await runProbe(probe({ kind: 'icmp', target: '127.0.0.1' }));
    expect(val(fs, 'probe_success')).toBe(1);
    for (const phase of ['resolve', 'setup', 'rtt']) expect(val(fs, 'probe_icmp_duration_seconds', { phase })).toBeGreaterThanOrEqual(0);
    expect(val(fs, 'probe_icmp_duration_seconds', { phase: 'rtt' })).toBeGreaterThan(0);
    expect(val(fs, 'probe_icmp_reply_hop_limit')).toBe(64);
    expect(() => native.icmpEcho('not-an-address', 4, 100)).toThrow(/icmpEcho: address is not an IP address/);
  });
});

describe('probes config', () => {
  const issues = (probes: unknown) => {
    const r = agentConfigSchema.safeParse({ probes });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('names the probe and key that is wrong', () => {
    expect(issues([{ id: 'a', kind: 'smtp', target: 'x' }])).toEqual([
      expect.stringMatching(/^probes\.0\.kind: kind must be one of http, tcp, icmp, dns, grpc/),
    ]);
    expect(issues([{ id: 'a', kind: 'tcp', target: 'no-port' }])).toEqual([
      expect.stringMatching(/^probes\.0\.target: .*expected HOST:PORT/),
    ]);
    expect(issues([{ id: 'a', kind: 'http', target: 'ftp://x/' }])).toEqual(['probes.0.target: expected an http:// or https:// URL']);
    expect(issues([{ id: 'a', kind: 'icmp', target: 'h', interval: '5s', timeout: '1s' }])).toEqual([
      'probes.0.interval: must be between 10s and 1d',
    ]);
    expect(issues([{ id: 'a', kind: 'icmp', target: 'h', interval: '10s', timeout: '10s' }])).toEqual([
      'probes.0.timeout: must be shorter than interval',
    ]);
    expect(issues([{ id: 'a', kind: 'dns', target: '127.0.0.1' }])).toEqual([expect.stringMatching(/^probes\.0\.options: /)]);
    expect(issues([{ id: 'a', kind: 'http', target: 'http://x/', options: { json_value: '1' } }])).toEqual([
      'probes.0.options.json_value: json_value needs json_path',
    ]);
    expect(issues([{ id: 'a', kind: 'http', target: 'http://x/', options: { keywrod: 'x' } }])).toEqual([
      expect.stringMatching(/^probes\.0\.options: .*keywrod/),
    ]);
    expect(
      issues([
        { id: 'a', kind: 'icmp', target: 'h' },
        { id: 'a', kind: 'icmp', target: 'h' },
      ]),
    ).toEqual(['probes.1.id: probe id "a" is used twice']);
  });

  it('spreads start offsets by id and says how to allow ping sockets', () => {
    expect(offsetMs('web', 30_000)).toBe(offsetMs('web', 30_000));
    expect(offsetMs('web', 30_000)).not.toBe(offsetMs('db', 30_000));
    expect(icmpNotAllowed('ping: socket: Operation not permitted\n')).toMatch(
      /net\.ipv4\.ping_group_range=".*" or give the agent \(or ping\) CAP_NET_RAW$/,
    );
  });
});
