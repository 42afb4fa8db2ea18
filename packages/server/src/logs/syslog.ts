/**
 * The syslog receiver: RFC 5424 and RFC 3164 messages over UDP (one per datagram) and TCP (octet
 * counting, RFC 6587, or one per line), stored as lines of source "syslog". The host is the sender's
 * address unless syslog.trust_hostname takes the message's own HOSTNAME, which any sender can forge.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { levelFromSeverity, pb, SYSLOG_FACILITIES } from '@falconet/protocol';
import type { StoreLog } from '../store/types.ts';
import type { LogStore, StoredLogLine } from './types.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface SyslogMessage {
  facility: number;
  severity: number;
  timeMs: number;
  hostname: string;
  app: string;
  procId: string;
  msgId: string;
  /** Structured data of RFC 5424 as `sd.ID.NAME` fields. */
  structured: Record<string, string>;
  message: string;
  format: 'rfc5424' | 'rfc3164';
}

export class SyslogParseError extends Error {}

const NIL = (v: string) => (v === '-' ? '' : v);

/** Parses one syslog message (without framing); `nowMs` completes RFC 3164's year and stands in for a missing time. */
export function parseSyslog(text: string, nowMs: number): SyslogMessage {
  const pri = /^<(\d{1,3})>/.exec(text);
  if (!pri) throw new SyslogParseError(`no <PRI> at the start (got "${text.slice(0, 16)}")`);
  const p = Number(pri[1]);
  if (p > 191) throw new SyslogParseError(`<PRI> ${p} is above 191`);
  const rest = text.slice(pri[0].length);
  const base = { facility: p >> 3, severity: p & 7 };
  if (/^1 /.test(rest)) return { ...base, ...parse5424(rest.slice(2), nowMs) };
  return { ...base, ...parse3164(rest, nowMs) };
}

function parse5424(s: string, nowMs: number): Omit<SyslogMessage, 'facility' | 'severity'> {
  const head = /^(\S+) (\S+) (\S+) (\S+) (\S+) /.exec(s);
  if (!head) throw new SyslogParseError('RFC 5424: expected TIMESTAMP HOSTNAME APP-NAME PROCID MSGID after the version');
  const [, ts, host, app, proc, msgId] = head as unknown as string[];
  let timeMs = nowMs;
  if (ts !== '-') {
    timeMs = Date.parse(ts as string);
    if (!Number.isFinite(timeMs)) throw new SyslogParseError(`RFC 5424: timestamp "${ts}" is not RFC 3339`);
  }
  let i = head[0].length;
  const structured: Record<string, string> = {};
  if (s[i] === '-') i++;
  else if (s[i] === '[') {
    while (s[i] === '[') {
      const end = readElement(s, i, structured);
      i = end;
    }
  } else throw new SyslogParseError(`RFC 5424: structured data must be - or [...] (at character ${i + 1})`);
  let message = s[i] === ' ' ? s.slice(i + 1) : s.slice(i);
  if (message.startsWith('\uFEFF')) message = message.slice(1);
  return {
    timeMs,
    hostname: NIL(host as string),
    app: NIL(app as string),
    procId: NIL(proc as string),
    msgId: NIL(msgId as string),
    structured,
    message,
    format: 'rfc5424',
  };
}

/** One [ID name="value" ...] element; resolves with the index after its ]. */
function readElement(s: string, start: number, out: Record<string, string>): number {
  const id = /^\[([^\s\]=" ]+)/.exec(s.slice(start));
  if (!id) throw new SyslogParseError(`RFC 5424: structured data element without an id (at character ${start + 1})`);
  let i = start + id[0].length;
  while (s[i] === ' ') {
    const name = /^ ([^\s\]=" ]+)="/.exec(s.slice(i));
    if (!name) throw new SyslogParseError(`RFC 5424: expected name="value" in [${id[1]}] (at character ${i + 1})`);
    i += name[0].length;
    let value = '';
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\' || s[i + 1] === ']')) i++;
      value += s[i];
    }
    if (i >= s.length) throw new SyslogParseError(`RFC 5424: unclosed value of ${name[1]} in [${id[1]}]`);
    i++;
    out[`sd.${id[1]}.${name[1]}`] = value;
  }
  if (s[i] !== ']') throw new SyslogParseError(`RFC 5424: [${id[1]}] not closed with ] (at character ${i + 1})`);
  return i + 1;
}

function parse3164(s: string, nowMs: number): Omit<SyslogMessage, 'facility' | 'severity'> {
  const out = { timeMs: nowMs, hostname: '', app: '', procId: '', msgId: '', structured: {}, message: s, format: 'rfc3164' as const };
  let rest: string;
  // rsyslog's forwarding formats put an RFC 3339 time where RFC 3164 has its own.
  const iso = /^(\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})) /.exec(s);
  const ts = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) /.exec(s);
  if (iso && Number.isFinite(Date.parse(iso[1] as string))) {
    out.timeMs = Date.parse(iso[1] as string);
    rest = s.slice(iso[0].length);
  } else if (ts && MONTHS.includes(ts[1] as string)) {
    const month = MONTHS.indexOf(ts[1] as string);
    const now = new Date(nowMs);
    // No year in RFC 3164: this year, unless that would put the message more than a day ahead (December's in January).
    const at = (year: number) => new Date(year, month, Number(ts[2]), Number(ts[3]), Number(ts[4]), Number(ts[5])).getTime();
    out.timeMs = at(now.getFullYear()) > nowMs + 86_400_000 ? at(now.getFullYear() - 1) : at(now.getFullYear());
    rest = s.slice(ts[0].length);
  } else return out;
  // HOSTNAME is optional in practice: a first word ending in ":" or "]:" is the tag.
  const first = /^(\S+) /.exec(rest);
  if (first && !/[:\]]$/.test(first[1] as string)) {
    out.hostname = first[1] as string;
    rest = rest.slice(first[0].length);
  }
  const tag = /^([^\s:[\]]{1,48})(?:\[([^\]]{1,32})\])?: ?/.exec(rest);
  if (tag) {
    out.app = tag[1] as string;
    out.procId = tag[2] ?? '';
    rest = rest.slice(tag[0].length);
  }
  out.message = rest;
  return out;
}

/** A syslog message as a log record of source "syslog". */
export function syslogRecord(m: SyslogMessage, nowMs: number): pb.LogRecord {
  const labels: Record<string, string> = { facility: SYSLOG_FACILITIES[m.facility] ?? String(m.facility) };
  if (m.app) labels.app = m.app;
  const fields: Record<string, string> = { ...m.structured, severity: String(m.severity), format: m.format };
  if (m.hostname) fields.hostname = m.hostname;
  if (m.procId) fields.procid = m.procId;
  if (m.msgId) fields.msgid = m.msgId;
  return pb.LogRecord.fromPartial({
    timeMs: m.timeMs,
    observedMs: nowMs,
    source: 'syslog',
    stream: m.app,
    level: levelFromSeverity(m.severity),
    message: m.message,
    labels,
    fields,
  });
}

export interface SyslogReceiverOptions {
  store: LogStore;
  stored(lines: readonly StoredLogLine[]): void;
  trustHostname: boolean;
  maxMessageBytes: number;
  log: StoreLog;
  /** Lines are stored together when this many wait, or after flushMs. */
  batchLines?: number;
  flushMs?: number;
}

/** Counts a test or /metrics can read. */
export interface SyslogCounts {
  received: number;
  stored: number;
  malformed: number;
  truncated: number;
}

const MAX_CONNECTIONS = 1024;

export class SyslogReceiver {
  readonly #o: SyslogReceiverOptions;
  readonly counts: SyslogCounts = { received: 0, stored: 0, malformed: 0, truncated: 0 };
  #tcp: Server | undefined;
  #udp: UdpSocket | undefined;
  readonly #conns = new Set<Socket>();
  #pending = new Map<string, pb.LogRecord[]>();
  #pendingCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  host = '';
  port: number | undefined;

  constructor(o: SyslogReceiverOptions) {
    this.#o = o;
  }

  /** Binds TCP then UDP on the same port (port 0: the one TCP got). */
  async listen(host: string, port: number): Promise<void> {
    const tcp = createServer((sock) => this.#accept(sock));
    tcp.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => resolve());
    });
    this.#tcp = tcp;
    const bound = (tcp.address() as { port: number }).port;
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(bound, host, () => resolve());
    });
    udp.on('message', (msg, rinfo) => this.#message(msg, rinfo.address));
    this.#udp = udp;
    this.host = host;
    this.port = bound;
    this.#o.log.info({ listen: `${host}:${bound}` }, 'syslog receiver listening (UDP and TCP)');
  }

  #accept(sock: Socket): void {
    this.#conns.add(sock);
    const peer = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const max = this.#o.maxMessageBytes;
    let buf: Buffer = Buffer.alloc(0);
    /** Newline framing: the rest of an over-long line is skipped up to its newline. */
    let skipping = false;
    sock.setTimeout(15 * 60_000, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (buf.length === 0) break;
        if (!skipping && buf[0] !== undefined && buf[0] >= 0x30 && buf[0] <= 0x39) {
          // Octet counting: "LEN SP MSG"
          const sp = buf.indexOf(0x20);
          if (sp < 0) {
            if (buf.length > 10) return this.#badStream(sock, peer, 'octet count longer than 10 digits');
            break;
          }
          const len = Number(buf.subarray(0, sp).toString('latin1'));
          if (!Number.isSafeInteger(len) || !/^\d+$/.test(buf.subarray(0, sp).toString('latin1'))) {
            return this.#badStream(sock, peer, 'octet count is not a number');
          }
          if (len > max * 4) return this.#badStream(sock, peer, `frame of ${len} bytes; at most ${max * 4}`);
          if (buf.length < sp + 1 + len) break;
          this.#message(buf.subarray(sp + 1, sp + 1 + len), peer);
          buf = buf.subarray(sp + 1 + len);
          continue;
        }
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          if (buf.length > max) {
            if (!skipping) this.#message(buf.subarray(0, max), peer);
            skipping = true;
            buf = Buffer.alloc(0) as Buffer;
          }
          break;
        }
        if (!skipping) this.#message(buf.subarray(0, nl), peer);
        skipping = false;
        buf = buf.subarray(nl + 1);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => this.#conns.delete(sock));
  }

  #badStream(sock: Socket, peer: string, why: string): void {
    this.counts.malformed++;
    this.#o.log.warn({ peer, problem: why }, 'syslog TCP stream refused');
    sock.destroy();
  }

  #message(raw: Buffer, peer: string): void {
    this.counts.received++;
    const now = Date.now();
    let bytes = raw;
    while (bytes.length > 0 && (bytes[bytes.length - 1] === 0x0d || bytes[bytes.length - 1] === 0x0a || bytes[bytes.length - 1] === 0)) {
      bytes = bytes.subarray(0, -1);
    }
    let truncated = false;
    if (bytes.length > this.#o.maxMessageBytes) {
      bytes = bytes.subarray(0, this.#o.maxMessageBytes);
      truncated = true;
      this.counts.truncated++;
    }
    let m: SyslogMessage;
    try {
      m = parseSyslog(bytes.toString('utf8'), now);
    } catch (err) {
      this.counts.malformed++;
      this.#o.log.warn({ peer, problem: (err as Error).message }, 'syslog message not understood; dropped');
      return;
    }
    const record = syslogRecord(m, now);
    if (truncated) record.fields.truncated = 'true';
    const host = this.#o.trustHostname && m.hostname ? m.hostname : peer;
    const list = this.#pending.get(host);
    if (list) list.push(record);
    else this.#pending.set(host, [record]);
    this.#pendingCount++;
    if (this.#pendingCount >= (this.#o.batchLines ?? 1000)) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#o.flushMs ?? 100);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#pendingCount = 0;
    this.#writing = this.#writing.then(async () => {
      for (const [host, records] of batch) {
        try {
          const { lines } = await this.#o.store.appendReport('', host, 0, records);
          this.counts.stored += lines.length;
          this.#o.stored(lines);
        } catch (err) {
          this.#o.log.error({ err, host, lines: records.length }, 'syslog lines could not be stored');
        }
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.#conns) s.destroy();
    await new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r()));
    this.#flush();
    await this.#writing;
  }
}
