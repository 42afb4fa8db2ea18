/**
 * The dns probe's own DNS messages against a real server (dnsmasq with a record of each kind the
 * probe asks about): its answers read exactly as node:dns's resolver gives the same answers, and
 * a run writes blackbox's series (phases, record counts, answer code).
 */
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { type ProbeConfig, probesSchema } from '@falconet/protocol/probes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Proc, startCommand } from '../../../testing/processes.ts';
import type { MetricFamily } from '../src/metrics.ts';
import { type DnsType, decodeResponse, encodeQuery } from '../src/probes/dns-message.ts';
import { runProbe } from '../src/probes/run.ts';

let dnsmasq: Proc;
let port: number;
const probe = (p: Record<string, unknown>): ProbeConfig => probesSchema.parse([{ id: 't', kind: 'dns', ...p }])[0] as ProbeConfig;
const val = (fs: MetricFamily[], name: string, labels: Record<string, string> = {}) =>
  fs.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;

beforeAll(async () => {
  port = await freePort();
  dnsmasq = startCommand('/usr/sbin/dnsmasq', [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    '--listen-address=127.0.0.1',
    `--port=${port}`,
    '--pid-file=',
    '--local=/test/',
    '--address=/probe.test/192.0.2.7',
    '--address=/probe.test/2001:db8::7',
    '--host-record=real.test,192.0.2.9',
    '--cname=alias.test,real.test',
    '--mx-host=mx.test,mail.test,10',
    '--txt-record=txt.test,v=spf1 -all,second part',
    '--srv-host=_x._tcp.srv.test,host.test,8080,1,2',
    '--ptr-record=7.2.0.192.in-addr.arpa,probe.test',
    '--naptr-record=naptr.test,1,2,S,SIP+D2U,,_sip._udp.naptr.test',
    '--caa-record=caa.test,0,issue,letsencrypt.org',
  ]);
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  for (let i = 0; ; i++) {
    try {
      await r.resolve4('probe.test');
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}, 30_000);

afterAll(async () => {
  await dnsmasq?.stop();
});

async function ask(name: string, type: DnsType) {
  const socket = createSocket('udp4');
  const reply = await new Promise<Buffer>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('message', resolve);
    socket.connect(port, '127.0.0.1', () => socket.send(encodeQuery(4242, name, type)));
  });
  socket.close();
  return decodeResponse(reply);
}

describe('DNS messages', () => {
  it.each([
    ['probe.test', 'A'],
    ['probe.test', 'AAAA'],
    ['alias.test', 'CNAME'],
    ['mx.test', 'MX'],
    ['txt.test', 'TXT'],
    ['_x._tcp.srv.test', 'SRV'],
    ['7.2.0.192.in-addr.arpa', 'PTR'],
    ['naptr.test', 'NAPTR'],
    ['caa.test', 'CAA'],
  ] as [string, DnsType][])('reads %s %s as node:dns does', async (name, type) => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    const node = ((await r.resolve(name, type)) as unknown[]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a)));
    const ours = await ask(name, type);
    expect(node.length).toBeGreaterThan(0);
    expect(ours.answers).toEqual(node);
    expect([ours.id, ours.rcode, ours.answerCount]).toEqual([4242, 'NOERROR', node.length]);
  });

  it('refuses a message too short or cut inside a record, naming what is wrong', () => {
    expect(() => decodeResponse(Buffer.alloc(5))).toThrow('DNS answer shorter than its header');
    const cut = Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(() => decodeResponse(cut)).toThrow('DNS answer cut inside a record');
    expect(() => encodeQuery(1, `${'a'.repeat(64)}.test`, 'A')).toThrow(/query_name: label "a+" is longer than 63 bytes/);
  });
});

describe('dns probe', () => {
  it("writes blackbox's series: phases, record counts, the answer code", async () => {
    const fs = await runProbe(
      probe({ target: `127.0.0.1:${port}`, options: { query_name: 'probe.test', answers_contain: ['192.0.2.7'] } }),
    );
    expect(val(fs, 'probe_success')).toBe(1);
    for (const phase of ['resolve', 'connect', 'request'])
      expect(val(fs, 'probe_dns_duration_seconds', { phase })).toBeGreaterThanOrEqual(0);
    expect(val(fs, 'probe_dns_duration_seconds', { phase: 'request' })).toBeGreaterThan(0);
    expect([val(fs, 'probe_dns_answer_rrs'), val(fs, 'probe_dns_authority_rrs'), val(fs, 'probe_dns_additional_rrs')]).toEqual([1, 0, 0]);
    expect(val(fs, 'probe_dns_rcode', { rcode: 'NOERROR' })).toBe(1);

    const missing = await runProbe(probe({ target: `127.0.0.1:${port}`, options: { query_name: 'missing.test' } }));
    expect([val(missing, 'probe_success'), val(missing, 'probe_dns_rcode', { rcode: 'NXDOMAIN' })]).toEqual([0, 1]);
    const accepted = await runProbe(
      probe({ target: `127.0.0.1:${port}`, options: { query_name: 'missing.test', valid_rcodes: ['NXDOMAIN'] } }),
    );
    expect(val(accepted, 'probe_success')).toBe(1);
    const wrong = await runProbe(
      probe({ target: `127.0.0.1:${port}`, options: { query_name: 'probe.test', answers_contain: ['192.0.2.8'] } }),
    );
    expect(val(wrong, 'probe_success')).toBe(0);
  });

  it('fails on a port where nothing answers, with the query marked not succeeded', async () => {
    const closed = await freePort();
    const fs = await runProbe(probe({ target: `127.0.0.1:${closed}`, timeout: '1s', options: { query_name: 'probe.test' } }));
    expect([val(fs, 'probe_success'), val(fs, 'probe_dns_query_succeeded')]).toEqual([0, 0]);
  });
});
