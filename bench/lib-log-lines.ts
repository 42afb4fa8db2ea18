/**
 * Realistic log lines for the logs benchmark: access logs, logfmt and JSON application logs, sshd
 * and kernel messages, with the variety real ones have (client addresses from a pool, request and
 * trace ids, timings, order numbers, user agents), about 200 bytes each. Seeded, so a run, the
 * rsyslog reference and the cached search store all see the same lines.
 */
import { LogLevel, pb } from '@falconet/protocol';

/** Bump when the lines change: the cached search store is keyed by it. */
export const LINE_GENERATOR_VERSION = 1;

/** Mulberry32: small, fast, and the same sequence for the same seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = [
  '/api/v1/orders',
  '/api/v1/users',
  '/api/v1/cart',
  '/api/v1/search',
  '/static/app.js',
  '/healthz',
  '/login',
  '/api/v2/items',
];
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
  'curl/8.5.0',
  'Go-http-client/1.1',
  'kube-probe/1.29',
];
const STATUSES = [200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 403, 404, 404, 500, 502, 503];
const APP_EVENTS = [
  'order created',
  'payment authorised',
  'cache miss',
  'retrying upstream request',
  'session expired',
  'connection refused by upstream',
  'slow query detected',
  'user signed in',
  'invoice rendered',
  'timeout waiting for lock',
];
const LOGGERS = ['payments.gateway', 'orders.service', 'auth.session', 'search.indexer', 'db.pool', 'mailer.queue'];
const USERS = ['deploy', 'root', 'admin', 'backup', 'ci', 'ubuntu'];
const KERNEL = [
  'TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.',
  'EXT4-fs (nvme0n1p2): re-mounted. Opts: errors=remount-ro',
  'Out of memory: Killed process in memory cgroup of a worker',
  'nf_conntrack: table full, dropping packet',
  'perf: interrupt took too long, lowering kernel.perf_event_max_sample_rate',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FILLER = ['region=eu-west-1', 'pod=web-7d9f', 'build=4127', 'tenant=acme', 'shard=3', 'cache=warm', 'zone=b', 'proto=h2'];

export type LineKind = 'nginx' | 'logfmt' | 'json' | 'sshd' | 'kernel';

export interface GeneratedLine {
  kind: LineKind;
  text: string;
  level: LogLevel;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const hex = (r: () => number, n: number) => {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(r() * 16)];
  return s;
};
const pad2 = (n: number) => String(n).padStart(2, '0');

/** Cut or fill a line to `target` characters with the key=value tails real lines carry. */
function fitTo(r: () => number, text: string, target: number): string {
  let t = text;
  while (t.length < target) t += ` ${pick(r, FILLER)}`;
  return t.slice(0, target);
}

export interface LineGenerator {
  /** One line of the given kind (or a realistic mix), stamped `timeMs`, `size` characters (ASCII, so bytes). */
  line(timeMs: number, kind?: LineKind, size?: number): GeneratedLine;
}

/** A mix weighted as a web host's logs are: mostly access lines, then application, then system. */
const MIX: readonly LineKind[] = ['nginx', 'nginx', 'nginx', 'nginx', 'logfmt', 'logfmt', 'json', 'json', 'sshd', 'kernel'];

export function lineGenerator(seed: number): LineGenerator {
  const r = rng(seed);
  // A host sees a few hundred clients again and again, not the whole address space.
  const clients = Array.from(
    { length: 300 },
    () => `${10 + Math.floor(r() * 190)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
  );
  return {
    line(timeMs, kind = pick(r, MIX), size = 199) {
      const d = new Date(timeMs);
      const iso = d.toISOString();
      switch (kind) {
        case 'nginx': {
          const status = pick(r, STATUSES);
          const clf = `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${iso.slice(11, 19)} +0000`;
          const text = `${pick(r, clients)} - - [${clf}] "${pick(r, METHODS)} ${pick(r, PATHS)}/${Math.floor(r() * 100000)} HTTP/1.1" ${status} ${Math.floor(r() * 20000)} "-" "${pick(r, AGENTS)}" rt=${(r() * 0.8).toFixed(3)}`;
          const level = status >= 500 ? LogLevel.LOG_LEVEL_ERROR : status >= 400 ? LogLevel.LOG_LEVEL_WARN : LogLevel.LOG_LEVEL_INFO;
          return { kind, text: fitTo(r, text, size), level };
        }
        case 'logfmt': {
          const level = r() < 0.8 ? 'info' : r() < 0.7 ? 'warn' : 'error';
          const text = `time=${iso} level=${level} logger=${pick(r, LOGGERS)} msg="${pick(r, APP_EVENTS)}" order_id=${Math.floor(r() * 1e6)} user=u_${Math.floor(r() * 5000)} duration_ms=${Math.floor(r() * 900)} trace_id=${hex(r, 16)}`;
          return { kind, text: fitTo(r, text, size), level: levelOf(level) };
        }
        case 'json': {
          const level = r() < 0.8 ? 'info' : r() < 0.7 ? 'warn' : 'error';
          const o = {
            ts: iso,
            level,
            logger: pick(r, LOGGERS),
            msg: pick(r, APP_EVENTS),
            order: Math.floor(r() * 1e6),
            latency_ms: Math.floor(r() * 900),
            trace: hex(r, 16),
            note: '',
          };
          // The note takes up what the line lacks of its size, so every JSON line stays valid.
          const bare = JSON.stringify(o).length;
          let note = '';
          while (note.length < size - bare) note += `${pick(r, FILLER)} `;
          o.note = note
            .slice(0, Math.max(0, size - bare))
            .trimEnd()
            .padEnd(Math.max(0, size - bare), '.');
          return { kind, text: JSON.stringify(o), level: levelOf(level) };
        }
        case 'sshd': {
          const ok = r() < 0.7;
          const who = pick(r, USERS);
          const text = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ${iso.slice(11, 19)} sshd[${1000 + Math.floor(r() * 60000)}]: ${ok ? 'Accepted publickey' : 'Failed password'} for ${who} from ${pick(r, clients)} port ${1024 + Math.floor(r() * 64000)} ssh2: ED25519 SHA256:${hex(r, 24)}`;
          return { kind, text: fitTo(r, text, size), level: ok ? LogLevel.LOG_LEVEL_INFO : LogLevel.LOG_LEVEL_WARN };
        }
        default: {
          const text = `kernel: [${(timeMs / 1000 - 1.7e9).toFixed(6)}] ${pick(r, KERNEL)} cpu=${Math.floor(r() * 16)}`;
          return { kind: 'kernel', text: fitTo(r, text, size), level: LogLevel.LOG_LEVEL_WARN };
        }
      }
    },
  };
}

function levelOf(name: string): LogLevel {
  return name === 'error' ? LogLevel.LOG_LEVEL_ERROR : name === 'warn' ? LogLevel.LOG_LEVEL_WARN : LogLevel.LOG_LEVEL_INFO;
}

const SOURCE_OF: Record<LineKind, { source: string; stream: string }> = {
  nginx: { source: 'nginx', stream: '/var/log/nginx/access.log' },
  logfmt: { source: 'app', stream: '/var/log/app/app.log' },
  json: { source: 'payments', stream: '/var/log/payments/payments.json' },
  sshd: { source: 'syslog', stream: '/var/log/auth.log' },
  kernel: { source: 'syslog', stream: '/var/log/kern.log' },
};

/** A line as the agent ships it from a tailed file with no parser: its source, stream and level. */
export function asRecord(line: GeneratedLine, timeMs: number, host: string): pb.LogRecord {
  const { source, stream } = SOURCE_OF[line.kind];
  return pb.LogRecord.fromPartial({
    timeMs,
    observedMs: timeMs + 3,
    source,
    stream,
    level: line.level,
    message: line.text,
    labels: { env: 'prod', role: host.startsWith('db') ? 'db' : 'web' },
  });
}
