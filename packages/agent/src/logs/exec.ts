import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PipeLines, PipeQueue } from './pipe.ts';
import type { SourceRuntime } from './source.ts';

/** How long a stopping command gets after SIGTERM before its process group is killed. */
const STOP_GRACE_MS = 5_000;

/** The label value of an exit: the code, or the signal's name (a command that never ran is counted as spawn_error). */
export function exitLabel(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return signal;
  return code === null ? 'unknown' : String(code);
}

/**
 * An `exec` source: runs `command` (an argument list, no shell) in its own process group and reads
 * its stdout, and its stderr as a second stream, line by line. When it exits it is started again
 * after `restart_delay`, doubling at each quick exit up to `restart_max_delay`; a run that lasted
 * at least `restart_max_delay` starts the doubling over. Exits are counted by code.
 */
export class ExecSource {
  readonly source: SourceRuntime;
  readonly queue: PipeQueue;
  /** Exits by code (or signal, or spawn_error), for falconet_agent_logs_exec_exits_total. */
  readonly exits: Record<string, number> = {};
  readonly #log: Logger;
  readonly #now: () => number;
  #child: ChildProcess | undefined;
  /** Resolves when the running command's pipes are read to their end and it has exited. */
  #running: Promise<void> | undefined;
  #delay: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(source: SourceRuntime, log: Logger, onData: () => void, now: () => number = Date.now) {
    this.source = source;
    this.queue = new PipeQueue(source, onData);
    this.#log = log;
    this.#now = now;
    this.#delay = source.cfg.restart_delay;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  start(): void {
    if (this.#stopped) return;
    const cfg = this.source.cfg;
    const [file, ...args] = cfg.command as [string, ...string[]];
    const startedAt = this.#now();
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: cfg.cwd || undefined,
        env: { ...commandEnv(process.env), ...cfg.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group: stopping it stops what a `sh -c` pipeline started too.
        detached: true,
      });
    } catch (err) {
      this.#exited(startedAt, 'spawn_error', (err as Error).message);
      return;
    }
    this.#child = child;
    const pipes: Promise<void>[] = [this.#read(child.stdout as Readable, 'stdout')];
    if (cfg.stderr) pipes.push(this.#read(child.stderr as Readable, 'stderr'));
    else child.stderr?.resume();
    let spawnError: string | undefined;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', (err) => {
        spawnError = err.message;
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.#log.info({ source: cfg.name, command: cfg.command, pid: child.pid }, 'log command started');
    this.#running = Promise.all([exit, ...pipes]).then(([{ code, signal }]) => {
      if (this.#child === child) this.#child = undefined;
      this.#exited(startedAt, spawnError ? 'spawn_error' : exitLabel(code, signal), spawnError);
    });
  }

  #read(input: Readable, stream: 'stdout' | 'stderr'): Promise<void> {
    return this.queue.attach(input, new PipeLines(this.source, stream, { std: stream }), this.#now);
  }

  #exited(startedAt: number, label: string, spawnError?: string): void {
    this.exits[label] = (this.exits[label] ?? 0) + 1;
    const cfg = this.source.cfg;
    const ranMs = this.#now() - startedAt;
    if (this.#stopped) {
      this.#log.info({ source: cfg.name, exit: label }, 'log command stopped');
      return;
    }
    // A command that ran long enough is not crash-looping: its next restart waits the shortest delay again.
    if (ranMs >= cfg.restart_max_delay) this.#delay = cfg.restart_delay;
    const delay = this.#delay;
    this.#delay = Math.min(cfg.restart_max_delay, this.#delay * 2);
    const fields = { source: cfg.name, command: cfg.command, exit: label, ranMs, restartInMs: delay };
    if (spawnError) this.#log.error({ ...fields, err: spawnError }, 'could not start the log command; trying again');
    else if (label === '0') this.#log.info(fields, 'log command exited; starting it again');
    else this.#log.warn(fields, `log command exited with ${label}; starting it again`);
    this.#timer = setTimeout(() => this.start(), delay);
  }

  /**
   * Stops the command (SIGTERM to its group, SIGKILL after a grace) and waits until its output is
   * read to its end, so every line it wrote is in the queue for the shipper's last batch.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      signalGroup(child, 'SIGTERM');
      const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
      // A grandchild outside the group may hold a pipe open: past twice the grace the pipes are let go.
      const giveUp = new Promise<void>((r) => setTimeout(r, 2 * STOP_GRACE_MS).unref());
      await Promise.race([this.#running, giveUp]);
      clearTimeout(kill);
    } else await this.#running;
    this.queue.detachAll(this.#now());
  }
}

/** The agent's environment without its own FALCONET_ settings: the server token is not the log command's business. */
export function commandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('FALCONET_')));
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    child.kill(signal);
  }
}
