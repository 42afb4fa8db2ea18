import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One line per record for a terminal: `12:03:04.511 INFO  message key=value`. */
export function prettyLine(record: Record<string, unknown>): string {
  const { time, level, msg, pid: _pid, hostname: _h, name: _n, ...rest } = record;
  const t = new Date(Number(time)).toISOString().slice(11, 23);
  const extras = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${(LEVELS[Number(level)] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${extras ? ` ${extras}` : ''}\n`;
}

/**
 * A log file that rotates by size: past `maxBytes` it becomes `FILE.1`, `FILE.1` becomes
 * `FILE.2`, and so on up to `maxFiles` old files; the oldest is removed. Writes are synchronous
 * so a record logged just before exit is on disk.
 */
export class RotatingFile {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxFiles: number;
  #fd: number | undefined;
  #size = 0;

  readonly #mode: number;

  constructor(path: string, opts: { maxBytes?: number; maxFiles?: number; mode?: number } = {}) {
    this.path = path;
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.maxFiles = opts.maxFiles ?? 5;
    this.#mode = opts.mode ?? 0o640;
    this.#open();
  }

  #open(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    this.#fd = openSync(this.path, 'a', this.#mode);
    this.#size = fstatSync(this.#fd).size;
  }

  write(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.#size > 0 && this.#size + bytes > this.maxBytes) this.rotate();
    if (this.#fd === undefined) this.#open();
    writeSync(this.#fd as number, text);
    this.#size += bytes;
  }

  rotate(): void {
    this.close();
    for (let i = this.maxFiles - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch {
        // that generation does not exist yet
      }
    }
    if (this.maxFiles > 0) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    rmSync(`${this.path}.${this.maxFiles + 1}`, { force: true });
    this.#open();
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

export interface LogFileOptions {
  path: string;
  /** Rotate past this size; 10 MiB by default. */
  maxBytes?: number;
  /** Rotated files kept (`FILE.1` .. `FILE.N`); 5 by default. */
  maxFiles?: number;
  /** The mode a new file is made with; 0640 by default. */
  mode?: number;
}

export interface LogOutputOptions {
  format?: LogFormat | 'auto';
  /** Write to the console stream; true by default. A daemon has no console and logs to its file. */
  console?: boolean;
  /** Also (or only) write JSON records to a size-rotated file. */
  file?: LogFileOptions | undefined;
  /** The console stream; stdout by default. */
  destination?: NodeJS.WritableStream;
}

/**
 * Where a logger's records go: the console (JSON, or one readable line per record) and an
 * optional rotating file (always JSON). Reconfigurable while the logger runs, so a reloaded
 * configuration changes format or file without a new logger.
 */
export class LogOutput {
  #console: NodeJS.WritableStream | undefined;
  #pretty = false;
  #file: RotatingFile | undefined;
  #fileFailed = false;

  constructor(opts: LogOutputOptions = {}) {
    this.reconfigure(opts);
  }

  reconfigure(opts: LogOutputOptions): void {
    const dest = opts.destination ?? process.stdout;
    this.#console = opts.console === false ? undefined : dest;
    const tty = (dest as { isTTY?: boolean }).isTTY === true;
    const format = opts.format === 'auto' || opts.format === undefined ? (tty ? 'pretty' : 'json') : opts.format;
    this.#pretty = format === 'pretty';
    const f = opts.file;
    const same = f && this.#file && this.#file.path === f.path;
    if (!same) {
      this.#file?.close();
      this.#file = undefined;
      // A file that cannot be opened is reported by the caller; the console keeps working.
      if (f) this.#file = new RotatingFile(f.path, f);
      this.#fileFailed = false;
    } else if (
      f &&
      this.#file &&
      (this.#file.maxBytes !== (f.maxBytes ?? this.#file.maxBytes) || this.#file.maxFiles !== (f.maxFiles ?? 5))
    ) {
      this.#file.close();
      this.#file = new RotatingFile(f.path, f);
    }
  }

  get filePath(): string | undefined {
    return this.#file?.path;
  }

  /** pino calls this with one JSON record per call, newline included. */
  write(line: string): void {
    if (this.#file) {
      try {
        this.#file.write(line);
      } catch (err) {
        // Disk full or the file vanished: say so once on stderr and keep logging elsewhere.
        if (!this.#fileFailed) process.stderr.write(`log file ${this.#file.path}: ${(err as Error).message}\n`);
        this.#fileFailed = true;
      }
    }
    const out = this.#console;
    if (!out) return;
    if (!this.#pretty) {
      out.write(line);
      return;
    }
    try {
      out.write(prettyLine(JSON.parse(line) as Record<string, unknown>));
    } catch {
      out.write(line);
    }
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

export interface LoggerOptions extends LogOutputOptions {
  name: string;
  level?: string;
}

/** A pino logger, JSON by default, one readable line per record when asked or on a terminal. */
export function createLogger(opts: LoggerOptions): Logger {
  return createLoggerWithOutput(opts).logger;
}

/** A logger together with its output, for a process that reconfigures logging while it runs. */
export function createLoggerWithOutput(opts: LoggerOptions): { logger: Logger; output: LogOutput } {
  const output = new LogOutput(opts);
  const logger = pino({ name: opts.name, level: opts.level ?? 'info', base: undefined }, output);
  return { logger, output };
}

export type { Logger };
