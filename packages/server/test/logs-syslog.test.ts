/**
 * The syslog receiver against real senders: Debian's rsyslogd (its own config and work dir)
 * forwarding with omfwd over TCP (octet counting and newline framing) and UDP, and util-linux
 * logger sending RFC 5424 and RFC 3164 straight to it. Plus the parser on hand-made messages.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LogLevel } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, type Proc, startCommand, tempDir } from '../../../testing/processes.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { LogFilter } from '../src/logs/query.ts';
import { parseSyslog, SyslogReceiver } from '../src/logs/syslog.ts';
import type { StoredLogLine } from '../src/logs/types.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

const run = promisify(execFile);
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

describe('syslog parser', () => {
  it('reads RFC 5424 with structured data and a BOM', () => {
    const m = parseSyslog(
      '<165>1 2026-12-06T11:59:58.123Z web-1 nginx 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App\\"lication"][meta x="1"] \uFEFFupstream timed out',
      NOW,
    );
    expect(m).toMatchObject({
      facility: 20,
      severity: 5,
      timeMs: Date.UTC(2026, 11, 6, 11, 59, 58, 123),
      hostname: 'web-1',
      app: 'nginx',
      procId: '4242',
      msgId: 'ID47',
      message: 'upstream timed out',
      structured: { 'sd.exampleSDID@32473.iut': '3', 'sd.exampleSDID@32473.eventSource': 'App"lication', 'sd.meta.x': '1' },
      format: 'rfc5424',
    });
    expect(parseSyslog('<14>1 - - - - - -', NOW)).toMatchObject({ timeMs: NOW, hostname: '', app: '', message: '' });
  });

  it('reads RFC 3164 with and without a host name, and refuses what is not syslog', () => {
    expect(parseSyslog("<34>Dec  6 11:59:00 mymachine su[123]: 'su root' failed", NOW)).toMatchObject({
      facility: 4,
      severity: 2,
      hostname: 'mymachine',
      app: 'su',
      procId: '123',
      message: "'su root' failed",
      format: 'rfc3164',
    });
    expect(parseSyslog('<13>2026-12-06T11:59:00.5+01:00 gw-1 sshd[7]: accepted', NOW)).toMatchObject({
      timeMs: Date.UTC(2026, 11, 6, 10, 59, 0, 500),
      hostname: 'gw-1',
      app: 'sshd',
      message: 'accepted',
    });
    expect(parseSyslog('<13>Dec  6 11:59:00 cron: job done', NOW)).toMatchObject({ hostname: '', app: 'cron', message: 'job done' });
    // December's message read in January belongs to last year.
    const jan = Date.UTC(2027, 0, 1, 0, 5);
    expect(new Date(parseSyslog('<13>Dec 31 23:59:00 h app: x', jan).timeMs).getFullYear()).toBe(2026);
    expect(() => parseSyslog('no pri here', NOW)).toThrow(/no <PRI> at the start/);
    expect(() => parseSyslog('<999>x', NOW)).toThrow(/<PRI> 999 is above 191/);
    expect(() => parseSyslog('<14>1 2026-13-99T00:00:00Z h a p m - x', NOW)).toThrow(/timestamp "2026-13-99T00:00:00Z" is not RFC 3339/);
    expect(() => parseSyslog('<14>1 - h a p m [broken', NOW)).toThrow(/RFC 5424: \[broken\] not closed with \]/);
  });
});

describe('syslog receiver with real senders', () => {
  let t: TestServer;
  let port = 0;
  let rsyslog: Proc | undefined;
  const inputs = { octet: 0, lf: 0, udp: 0 };

  beforeAll(async () => {
    t = await startTestServer({ users: false, config: { syslog: { listen: '127.0.0.1:0' } } });
    port = t.server.addresses?.syslog?.port as number;
    expect(port).toBeGreaterThan(0);
    const dir = tempDir('falconet-rsyslog-');
    inputs.octet = await freePort();
    inputs.lf = await freePort();
    inputs.udp = await freePort();
    // Three inputs, each forwarded its own way: what arrives tells which path carried it.
    const conf = `
global(workDirectory="${dir}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${inputs.octet}" ruleset="octet")
input(type="imudp" address="127.0.0.1" port="${inputs.lf}" ruleset="lf")
input(type="imudp" address="127.0.0.1" port="${inputs.udp}" ruleset="udp")
ruleset(name="octet") { action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format") }
ruleset(name="lf") { action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="traditional" template="RSYSLOG_ForwardFormat") }
ruleset(name="udp") { action(type="omfwd" target="127.0.0.1" port="${port}" protocol="udp" template="RSYSLOG_TraditionalForwardFormat") }
`;
    writeFileSync(join(dir, 'rsyslog.conf'), conf);
    await run('rsyslogd', ['-N1', '-f', join(dir, 'rsyslog.conf')]);
    rsyslog = startCommand('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {}, 'rsyslogd');
  });

  afterAll(async () => {
    await rsyslog?.stop();
    await t?.stop();
  });

  const found = async (q: string): Promise<StoredLogLine[]> => {
    const out: StoredLogLine[] = [];
    await t.server.logs.each({ filter: new LogFilter(q), fromMs: 0, toMs: Date.now() + 86_400_000 }, (l) => {
      out.push(l);
    });
    return out;
  };

  const logger = (args: string[]) => run('logger', ['--server', '127.0.0.1', ...args]);

  it('stores what rsyslog forwards over TCP (octet counting and newlines) and UDP, searchable', async () => {
    for (const [path, p] of Object.entries(inputs)) {
      // Sent to rsyslog's own input until the forwarded line shows up (rsyslog may still be starting).
      await eventually(
        async () => {
          await logger([
            '--port',
            String(p),
            '--udp',
            '--rfc3164',
            '-t',
            'payments',
            '-p',
            'local4.warning',
            `via-rsyslog-${path} charge declined`,
          ]);
          return (await found(`"via rsyslog ${path}"`)).length > 0;
        },
        60_000,
        1000,
      );
    }
    const octet = (await found('"via rsyslog octet"'))[0] as StoredLogLine;
    expect(octet.host).toBe('127.0.0.1');
    expect(octet.record).toMatchObject({
      source: 'syslog',
      level: LogLevel.LOG_LEVEL_WARN,
      labels: { facility: 'local4', app: 'payments' },
    });
    expect(octet.record.fields.format).toBe('rfc5424');
    expect(octet.record.message).toMatch(/charge declined$/);
    for (const path of ['lf', 'udp']) {
      const l = (await found(`"via rsyslog ${path}" facility:local4 level:warn app:payments`))[0];
      expect(l?.record.fields.format, path).toBe('rfc3164');
    }
    // Through the API as well, by the query language.
    const r = await fetch(`${t.base}/api/logs?q=${encodeURIComponent('source:syslog declined level>=warn')}&from=0`);
    expect(((await r.json()) as { lines: unknown[] }).lines.length).toBeGreaterThanOrEqual(3);
  });

  it('stores what logger sends straight to it, RFC 5424 and 3164, TCP and UDP', async () => {
    const cases: [string, string[]][] = [
      ['tcp5424', ['--tcp', '--rfc5424', '--octet-count', '--sd-id', 'origin@32473', '--sd-param', 'zone="eu"', '--msgid', 'M1']],
      ['tcp3164', ['--tcp', '--rfc3164']],
      ['udp5424', ['--udp', '--rfc5424']],
      ['udp3164', ['--udp', '--rfc3164']],
    ];
    for (const [name, args] of cases) {
      await logger(['--port', String(port), ...args, '-t', 'direct', '-p', 'daemon.err', `logger-${name} disk error`]);
    }
    await eventually(async () => (await found('logger disk error')).length === 4);
    for (const [name] of cases) {
      const l = (await found(`"logger ${name}"`))[0] as StoredLogLine;
      expect(l.record.level, name).toBe(LogLevel.LOG_LEVEL_ERROR);
      expect(l.record.labels, name).toMatchObject({ facility: 'daemon', app: 'direct' });
      expect(l.record.fields.format, name).toBe(name.endsWith('5424') ? 'rfc5424' : 'rfc3164');
    }
    const sd = (await found('"logger tcp5424"'))[0] as StoredLogLine;
    expect(sd.record.fields).toMatchObject({ 'sd.origin@32473.zone': 'eu', msgid: 'M1' });
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    expect(Number(/^falconet_syslog_messages_total\{outcome="stored"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(7);
  });
});

describe('syslog receiver: where it may listen', () => {
  it("listens only on loopback until a user exists (it takes anyone's lines)", async () => {
    await expect(startTestServer({ users: false, config: { syslog: { listen: '0.0.0.0:0' } } })).rejects.toThrow(
      /syslog.listen 0.0.0.0:0: only loopback addresses are allowed until a user exists/,
    );
  });
});

describe('syslog receiver: host names and hostile input', () => {
  let store: EmbeddedLogStore;
  let recv: SyslogReceiver;
  const tailed: StoredLogLine[] = [];

  beforeAll(async () => {
    store = await EmbeddedLogStore.open({ dir: tempDir(), retentionMs: 0, maxBytes: 0 });
    recv = new SyslogReceiver({
      store,
      stored: (lines) => tailed.push(...lines),
      trustHostname: true,
      maxMessageBytes: 1024,
      log: pino({ level: 'silent' }),
      flushMs: 10,
    });
    await recv.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await recv?.close();
    await store?.close();
  });

  const tcp = (data: string) =>
    new Promise<void>((resolve) => {
      const s = connect(recv.port as number, '127.0.0.1', () => s.end(data));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });

  it('takes HOSTNAME when trusted, cuts over-long messages, drops what is not syslog, and ends a lying octet count', async () => {
    await tcp('<13>1 2026-12-06T12:00:00Z router-7 ospfd - - - neighbour down\n');
    await tcp(`<13>Dec  6 12:00:00 sw-2 kernel: ${'z'.repeat(5000)}\n`);
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.send('hello without a pri', recv.port as number, '127.0.0.1', () => r()));
    udp.close();
    await tcp('999999999 <13>1 - - - - - - x');
    await eventually(() => tailed.length === 2 && recv.counts.malformed === 2);
    const byHost = Object.fromEntries(tailed.map((l) => [l.host, l]));
    expect(byHost['router-7']?.record.message).toBe('neighbour down');
    expect(byHost['sw-2']?.record.fields.truncated).toBe('true');
    expect(Buffer.byteLength(byHost['sw-2']?.record.message ?? '')).toBeLessThan(1024);
    expect(recv.counts.truncated).toBe(1);
  });
});
