import { LogLevel, levelFromSeverity, SYSLOG_FACILITIES, setOwn } from '@falconet/protocol';
import type { ParserConfig } from './config.ts';

/** What a parser makes of one line: its fields, and the time, level and message when it found them. */
export interface Parsed {
  message: string;
  timeMs?: number;
  level: LogLevel;
  fields: Record<string, string>;
}

export type LineParser = (line: string, nowMs: number) => Parsed;

const LEVEL_WORDS: Record<string, LogLevel> = {
  trace: LogLevel.LOG_LEVEL_TRACE,
  debug: LogLevel.LOG_LEVEL_DEBUG,
  dbg: LogLevel.LOG_LEVEL_DEBUG,
  info: LogLevel.LOG_LEVEL_INFO,
  information: LogLevel.LOG_LEVEL_INFO,
  informational: LogLevel.LOG_LEVEL_INFO,
  notice: LogLevel.LOG_LEVEL_INFO,
  warn: LogLevel.LOG_LEVEL_WARN,
  warning: LogLevel.LOG_LEVEL_WARN,
  error: LogLevel.LOG_LEVEL_ERROR,
  err: LogLevel.LOG_LEVEL_ERROR,
  fatal: LogLevel.LOG_LEVEL_FATAL,
  critical: LogLevel.LOG_LEVEL_FATAL,
  crit: LogLevel.LOG_LEVEL_FATAL,
  panic: LogLevel.LOG_LEVEL_FATAL,
  alert: LogLevel.LOG_LEVEL_FATAL,
  emerg: LogLevel.LOG_LEVEL_FATAL,
  emergency: LogLevel.LOG_LEVEL_FATAL,
};

/** A level value as written by a program: a word (any case), a syslog number, or pino/bunyan's 10-60. */
export function levelOf(value: string | undefined): LogLevel {
  if (value === undefined || value === '') return LogLevel.LOG_LEVEL_UNSPECIFIED;
  const key = value.trim().toLowerCase();
  // Own keys only: "constructor" or "__proto__" would read Object.prototype's members (found by the fuzz tests).
  if (Object.hasOwn(LEVEL_WORDS, key)) return LEVEL_WORDS[key] as LogLevel;
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n <= 7) return levelFromSeverity(n);
    // pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
    if (n >= 10 && n <= 60 && n % 10 === 0) return (n / 10) as LogLevel;
  }
  return LogLevel.LOG_LEVEL_UNSPECIFIED;
}

export const LEVEL_IN_TEXT = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)\b/;

/** The first upper-case level word in a free-text line, as most plain logs write it. */
export function levelInText(line: string): LogLevel {
  const m = LEVEL_IN_TEXT.exec(line.length > 512 ? line.slice(0, 512) : line);
  return m ? levelOf(m[1]) : LogLevel.LOG_LEVEL_UNSPECIFIED;
}

const ISO_START = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/**
 * A time value as logs write it: RFC 3339 / ISO 8601, epoch seconds or milliseconds (number or
 * digits), Apache/nginx `10/Oct/2000:13:55:36 -0700`, syslog `Oct 11 22:14:15` (no year: the
 * year that puts it nearest to now, local time). Undefined when it reads as none of them.
 */
export function parseTime(value: string | number | undefined, nowMs: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  // The common case first: an ISO 8601 time (which the digits pattern below never matches).
  if (typeof value === 'string' && value.charCodeAt(4) === 45 && ISO_START.test(value)) {
    const t = Date.parse(value.trim().replace(' ', 'T'));
    return Number.isNaN(t) ? undefined : t;
  }
  if (typeof value === 'number' || /^\d{9,13}(\.\d+)?$/.test(value)) {
    const n = Number(value);
    if (!Number.isFinite(n)) return undefined;
    return Math.round(n < 1e11 ? n * 1000 : n);
  }
  const v = value.trim();
  if (ISO_START.test(v)) {
    const t = Date.parse(v.replace(' ', 'T'));
    return Number.isNaN(t) ? undefined : t;
  }
  const clf = /^(\d{2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-])(\d{2})(\d{2}))?$/.exec(v);
  if (clf) {
    const [, d, mon, y, h, mi, s, sign, oh, om] = clf;
    const month = MONTHS[(mon as string).toLowerCase()];
    if (month === undefined) return undefined;
    const utc = Date.UTC(Number(y), month, Number(d), Number(h), Number(mi), Number(s));
    const offset = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000 : 0;
    return utc - offset;
  }
  const bsd = /^([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})$/.exec(v);
  if (bsd) {
    const [, mon, d, h, mi, s] = bsd;
    const month = MONTHS[(mon as string).toLowerCase()];
    if (month === undefined) return undefined;
    const year = new Date(nowMs).getFullYear();
    let best: number | undefined;
    for (const y of [year - 1, year, year + 1]) {
      const t = new Date(y, month, Number(d), Number(h), Number(mi), Number(s)).getTime();
      if (best === undefined || Math.abs(t - nowMs) < Math.abs(best - nowMs)) best = t;
    }
    return best;
  }
  return undefined;
}

const TIME_KEYS = ['time', 'timestamp', 'ts', '@timestamp', 't'];
const LEVEL_KEYS = ['level', 'lvl', 'severity', 'loglevel', 'log.level'];
const MESSAGE_KEYS = ['msg', 'message'];

/** The first of `keys` (or `explicit` alone) that `raw` has, other than the keys already taken. */
function pickKey(
  raw: Record<string, string>,
  explicit: string | undefined,
  keys: readonly string[],
  taken1?: string,
  taken2?: string,
): string | undefined {
  if (explicit) return explicit !== taken1 && explicit !== taken2 && Object.hasOwn(raw, explicit) ? explicit : undefined;
  for (const k of keys) if (k !== taken1 && k !== taken2 && Object.hasOwn(raw, k)) return k;
  return undefined;
}

/** Splits a field map into time, level and message as the parser config names them, the rest staying fields. */
function finish(line: string, raw: Record<string, string>, cfg: ParserConfig, nowMs: number): Parsed {
  const timeKey = pickKey(raw, cfg.time_field, TIME_KEYS);
  const levelKey = pickKey(raw, cfg.level_field, LEVEL_KEYS, timeKey);
  const messageKey = pickKey(raw, cfg.message_field, MESSAGE_KEYS, timeKey, levelKey);
  const timeText = timeKey === undefined ? undefined : raw[timeKey];
  const levelText = levelKey === undefined ? undefined : raw[levelKey];
  const message = messageKey === undefined ? undefined : raw[messageKey];
  // The rest, copied rather than the taken keys deleted: a deletion leaves V8 a slow dictionary.
  let fields = raw;
  if (timeKey !== undefined || levelKey !== undefined || messageKey !== undefined) {
    fields = {};
    for (const k in raw) {
      if (!Object.hasOwn(raw, k) || k === timeKey || k === levelKey || k === messageKey) continue;
      if (k === '__proto__') setOwn(fields, k, raw[k] as string);
      else fields[k] = raw[k] as string;
    }
  }
  const timeMs = parseTime(timeText, nowMs);
  // A time that could not be read stays with the record as a field rather than vanishing.
  if (timeText !== undefined && timeMs === undefined) fields.time = timeText;
  const level = levelOf(levelText);
  if (levelText !== undefined && level === LogLevel.LOG_LEVEL_UNSPECIFIED) fields.level = levelText;
  return { message: message ?? line, timeMs, level: level || levelInText(message ?? line), fields };
}

function flatten(value: unknown, prefix: string, out: Record<string, string>, depth = 0): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object' && !Array.isArray(value) && depth < 4) {
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      if (!Object.hasOwn(obj, k)) continue;
      const v = obj[k];
      const key = prefix ? `${prefix}.${k}` : k;
      // Strings, numbers and booleans here rather than a call each: JSON.stringify writes a number or a boolean as String does.
      if (key === '__proto__') flatten(v, key, out, depth + 1);
      else if (typeof v === 'string') out[key] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
      else flatten(v, key, out, depth + 1);
    }
    return;
  }
  setOwn(out, prefix, typeof value === 'string' ? value : JSON.stringify(value));
}

/** logfmt: key=value pairs, values bare or "quoted" with backslash escapes; a bare key is "true". */
export function parseLogfmt(line: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let i = 0;
  let pairs = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === ' ') i++;
    const keyStart = i;
    while (i < n && line[i] !== '=' && line[i] !== ' ') i++;
    const key = line.slice(keyStart, i);
    if (!key) {
      i++;
      continue;
    }
    if (line[i] !== '=') {
      setOwn(out, key, 'true');
      continue;
    }
    i++;
    let value = '';
    if (line[i] === '"') {
      i++;
      while (i < n && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < n) {
          const c = line[i + 1];
          value += c === 'n' ? '\n' : c === 't' ? '\t' : c;
          i += 2;
        } else value += line[i++];
      }
      if (i >= n) return undefined; // an unterminated quote: not logfmt
      i++;
    } else {
      const start = i;
      while (i < n && line[i] !== ' ') i++;
      value = line.slice(start, i);
    }
    setOwn(out, key, value);
    pairs++;
  }
  return pairs > 0 ? out : undefined;
}

const PRI = /^<(\d{1,3})>/;

/**
 * RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`) and RFC 3164
 * (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, the PRI optional as in files rsyslog writes).
 */
export function parseSyslog(line: string, nowMs: number): Parsed | undefined {
  const fields: Record<string, string> = {};
  let rest = line;
  let level: LogLevel = LogLevel.LOG_LEVEL_UNSPECIFIED;
  const pri = PRI.exec(rest);
  if (pri) {
    const p = Number(pri[1]);
    if (p > 191) return undefined;
    fields.facility = SYSLOG_FACILITIES[p >> 3] ?? String(p >> 3);
    fields.severity = String(p & 7);
    level = levelFromSeverity(p & 7);
    rest = rest.slice(pri[0].length);
  }
  const v5424 = /^1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\](?:\[.*?\])*)(?: (.*))?$/s.exec(rest);
  if (v5424) {
    const [, ts, host, app, procid, msgid, sd, msg] = v5424;
    const nil = (v: string | undefined) => (v === undefined || v === '-' ? undefined : v);
    if (nil(host)) fields.hostname = host as string;
    if (nil(app)) fields.app = app as string;
    if (nil(procid)) fields.pid = procid as string;
    if (nil(msgid)) fields.msgid = msgid as string;
    if (nil(sd)) {
      for (const el of (sd as string).matchAll(/\[([^\s\]]+)((?:\s+[^\s=]+="(?:[^"\\]|\\.)*")*)\]/g)) {
        for (const p of (el[2] ?? '').matchAll(/([^\s=]+)="((?:[^"\\]|\\.)*)"/g)) {
          fields[`${el[1]}.${p[1]}`] = (p[2] as string).replace(/\\(.)/g, '$1');
        }
      }
    }
    // A BOM before the message says UTF-8; it is not part of the text.
    const message = (msg ?? '').replace(/^\uFEFF/, '');
    return { message, timeMs: parseTime(nil(ts), nowMs), level: level || levelInText(message), fields };
  }
  const v3164 = /^([A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}) (\S+) ([^:[\s]+)(?:\[(\d+)\])?: ?(.*)$/s.exec(rest);
  if (v3164) {
    const [, ts, host, tag, pid, msg] = v3164;
    fields.hostname = host as string;
    fields.app = tag as string;
    if (pid) fields.pid = pid;
    const message = msg as string;
    return { message, timeMs: parseTime(ts, nowMs), level: level || levelInText(message), fields };
  }
  return undefined;
}

// The combined log format: host ident user [time] "request" status bytes "referer" "user agent".
const COMBINED = /^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(.*)$/;

/** nginx's and Apache's combined (and common) access log formats. */
export function parseAccess(line: string, nowMs: number): Parsed | undefined {
  const m = COMBINED.exec(line);
  if (!m) return undefined;
  const [, addr, , user, time, request, status, bytes, referer, agent] = m;
  const fields: Record<string, string> = { remote_addr: addr as string, status: status as string };
  if (user !== '-') fields.user = user as string;
  if (bytes !== '-') fields.bytes = bytes as string;
  const req = /^(\S+) (\S+)(?: (\S+))?$/.exec(request as string);
  if (req) {
    fields.method = req[1] as string;
    fields.path = req[2] as string;
    if (req[3]) fields.protocol = req[3];
  } else fields.request = request as string;
  if (referer && referer !== '-') fields.referer = referer;
  if (agent && agent !== '-') fields.user_agent = agent;
  const code = Number(status);
  // A server error is an error; a client error a warning; the rest is traffic.
  const level = code >= 500 ? LogLevel.LOG_LEVEL_ERROR : code >= 400 ? LogLevel.LOG_LEVEL_WARN : LogLevel.LOG_LEVEL_INFO;
  return { message: line, timeMs: parseTime(time, nowMs), level, fields };
}

/**
 * The parser a source's config asks for. A line its parser cannot read is kept whole, with
 * fields.parse_error naming the parser, rather than dropped.
 */
export function makeParser(cfg: ParserConfig): LineParser {
  const plain = (line: string): Parsed => ({ message: line, level: levelInText(line), fields: {} });
  const failed = (line: string): Parsed => ({ ...plain(line), fields: { parse_error: cfg.type } });
  switch (cfg.type) {
    case 'none':
      return plain;
    case 'json':
      return (line, now) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          return failed(line);
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return failed(line);
        const raw: Record<string, string> = {};
        flatten(value, '', raw);
        const obj = value as Record<string, unknown>;
        let t = cfg.time_field ? obj[cfg.time_field] : undefined;
        if (!cfg.time_field) for (let i = 0; i < TIME_KEYS.length && t === undefined; i++) t = obj[TIME_KEYS[i] as string];
        const parsed = finish(line, raw, cfg, now);
        // Epoch numbers keep full precision from the JSON value rather than its string form.
        if (typeof t === 'number') parsed.timeMs = parseTime(t, now);
        return parsed;
      };
    case 'logfmt':
      return (line, now) => {
        const raw = parseLogfmt(line);
        return raw ? finish(line, raw, cfg, now) : failed(line);
      };
    case 'regex': {
      const re = new RegExp(cfg.pattern as string);
      return (line, now) => {
        const m = re.exec(line);
        if (!m?.groups) return failed(line);
        const raw: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) setOwn(raw, k, v);
        return finish(line, raw, cfg, now);
      };
    }
    case 'syslog':
      return (line, now) => parseSyslog(line, now) ?? failed(line);
    case 'nginx':
    case 'apache':
      return (line, now) => parseAccess(line, now) ?? failed(line);
  }
}
