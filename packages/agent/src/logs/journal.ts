import { type ChildProcess, spawn } from 'node:child_process';
import { type LogLevel, levelFromSeverity } from '@falconet/protocol';
import type { Logger } from 'pino';
import type { SourceRuntime } from './source.ts';

/** One journal entry as the shipper turns it into a record. */
export interface JournalEntry {
  cursor: string;
  message: string;
  timeMs: number | undefined;
  level: LogLevel | undefined;
  stream: string;
  fields: Record<string, string>;
}

/** Entries waiting for the shipper, at most; past it journalctl's output is paused. */
const MAX_QUEUED = 5_000;
const RESTART_MS = 5_000;

const FACILITY_NAMES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp'];

/** The journal's own fields kept on a record, under shorter names. */
const KEPT: Record<string, string> = {
  _SYSTEMD_UNIT: 'unit',
  _SYSTEMD_USER_UNIT: 'user_unit',
  SYSLOG_IDENTIFIER: 'identifier',
  _PID: 'pid',
  _COMM: 'comm',
  _HOSTNAME: 'hostname',
  _TRANSPORT: 'transport',
  _BOOT_ID: 'boot_id',
  CONTAINER_NAME: 'container',
};

/** A journal field's value: a string, or (for bytes that are not UTF-8) an array of byte values. */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
  return undefined;
}

export function parseJournalLine(line: string): JournalEntry | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const cursor = text(o.__CURSOR);
  if (!cursor) return undefined;
  const fields: Record<string, string> = {};
  for (const [k, name] of Object.entries(KEPT)) {
    const v = text(o[k]);
    if (v !== undefined) fields[name] = v;
  }
  const priority = Number(text(o.PRIORITY));
  const facility = Number(text(o.SYSLOG_FACILITY));
  if (Number.isInteger(facility) && facility >= 0)
    fields.facility = FACILITY_NAMES[facility] ?? (facility >= 16 && facility <= 23 ? `local${facility - 16}` : String(facility));
  const realtime = Number(text(o.__REALTIME_TIMESTAMP));
  return {
    cursor,
    message: text(o.MESSAGE) ?? '',
    timeMs: Number.isFinite(realtime) && realtime > 0 ? Math.floor(realtime / 1000) : undefined,
    level: Number.isInteger(priority) && priority >= 0 && priority <= 7 ? levelFromSeverity(priority) : undefined,
    stream: fields.unit ?? fields.identifier ?? fields.comm ?? 'journal',
    fields,
  };
}

/**
 * The systemd journal through `journalctl -o json --follow`, from the cursor after the last entry
 * handed over (`--after-cursor`), so a restart neither repeats nor skips one. The cursor is saved
 * with the file positions, by the same pending/committed steps (positions.ts). journalctl is
 * started again if it ends (a missing directory, a rotated-away journal), from the last cursor.
 */
export class JournalReader {
  readonly source: SourceRuntime;
  /** The cursor of the last entry emitted (in a batch, or dropped). */
  cursor: string | undefined;
  readonly #log: Logger;
  readonly #onData: () => void;
  #child: ChildProcess | undefined;
  #queue: JournalEntry[] = [];
  #partial = '';
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #paused = false;

  constructor(source: SourceRuntime, cursor: string | undefined, log: Logger, onData: () => void) {
    this.source = source;
    this.cursor = cursor;
    this.#log = log;
    this.#onData = onData;
  }

  args(): string[] {
    const cfg = this.source.cfg;
    const args = ['-o', 'json', '--follow', '--no-pager'];
    args.push(...(cfg.journal_directory ? ['--directory', cfg.journal_directory] : ['--system']));
    if (this.cursor) args.push('--after-cursor', this.cursor, '--no-tail');
    else if (cfg.start_at === 'end') args.push('--lines', '0');
    else args.push('--no-tail');
    args.push(...cfg.journal_matches);
    return args;
  }

  start(): void {
    if (this.#stopped) return;
    this.#queue = [];
    this.#partial = '';
    this.#paused = false;
    const child = spawn('journalctl', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.#take(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.on('error', (err) => {
      this.#log.warn({ source: this.source.cfg.name, err: err.message }, 'could not run journalctl');
    });
    child.on('close', (code) => {
      if (this.#child !== child || this.#stopped) return;
      this.#child = undefined;
      this.#log.warn(
        { source: this.source.cfg.name, code, stderr: stderr.trim().slice(0, 1000) },
        `journalctl ended; starting it again in ${RESTART_MS / 1000} s from the last entry handed over`,
      );
      this.#restartTimer = setTimeout(() => this.start(), RESTART_MS);
    });
  }

  #take(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l) continue;
      const e = parseJournalLine(l);
      if (e) this.#queue.push(e);
      else this.#log.warn({ source: this.source.cfg.name, line: l.slice(0, 200) }, 'journalctl wrote a line that is not a journal entry');
    }
    if (this.#queue.length >= MAX_QUEUED && !this.#paused) {
      this.#paused = true;
      this.#child?.stdout?.pause();
    }
    this.#onData();
  }

  /** Entries read and not yet taken, up to `max`; reading resumes once the queue is short again. */
  takeEntries(max: number): JournalEntry[] {
    const out = this.#queue.splice(0, max);
    if (this.#paused && this.#queue.length < MAX_QUEUED / 2) {
      this.#paused = false;
      this.#child?.stdout?.resume();
    }
    return out;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }
}
