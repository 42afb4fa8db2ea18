import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { type ApprovedRun, type Refusal, refuse } from './policy.ts';

export type OutputStream = 'stdout' | 'stderr';
/** How a run ended when not by itself: '' is a normal exit, whatever its code. */
export type ExitReason = '' | 'timeout' | 'cancelled' | 'spawn_failed' | 'interrupted';

/** Where a run's output and end go (the outbox). */
export interface RunSink {
  output(stream: OutputStream, text: string): void;
  exit(code: number, reason: ExitReason, message: string): void;
}

export interface ExecutorOptions {
  concurrency: number;
  queue: number;
  /** stdout and stderr bytes kept per run. */
  outputLimit: number;
  log: Logger;
  /** Between SIGTERM and SIGKILL when a run is stopped. */
  killGraceMs?: number;
  /** Output is passed on in chunks of at most this many bytes, or after `flushMs`. */
  chunkBytes?: number;
  flushMs?: number;
}

interface Pending {
  runId: string;
  run: ApprovedRun;
  sink: RunSink;
}

/**
 * Runs approved commands: directly (no shell), in a process group of their own so a timeout or a
 * cancel stops the whole tree, at most `concurrency` at once with a bounded queue behind them.
 */
export class TaskExecutor {
  readonly #opts: Required<ExecutorOptions>;
  readonly #running = new Map<string, ProcessRun>();
  readonly #queue: Pending[] = [];

  constructor(opts: ExecutorOptions) {
    this.#opts = { killGraceMs: 2000, chunkBytes: 16 * 1024, flushMs: 50, ...opts };
  }

  get running(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  has(runId: string): boolean {
    return this.#running.has(runId) || this.#queue.some((p) => p.runId === runId);
  }

  submit(runId: string, run: ApprovedRun, sink: RunSink): 'started' | 'queued' | Refusal {
    if (this.#running.size < this.#opts.concurrency) {
      this.#start({ runId, run, sink });
      return 'started';
    }
    if (this.#queue.length >= this.#opts.queue) {
      return refuse('busy', `${this.#running.size} tasks running and ${this.#queue.length} waiting (tasks.concurrency, tasks.queue)`);
    }
    this.#queue.push({ runId, run, sink });
    return 'queued';
  }

  /** Stops a run (or drops it from the queue); false when there is no such run. */
  cancel(runId: string): boolean {
    const i = this.#queue.findIndex((p) => p.runId === runId);
    if (i >= 0) {
      const [p] = this.#queue.splice(i, 1) as [Pending];
      p.sink.exit(-1, 'cancelled', 'cancelled before it started');
      return true;
    }
    const r = this.#running.get(runId);
    if (!r) return false;
    r.stop('cancelled');
    return true;
  }

  /** Stops everything, for shutdown; resolves when every run has ended. */
  async stopAll(): Promise<void> {
    for (const p of this.#queue.splice(0)) p.sink.exit(-1, 'interrupted', 'the agent stopped before the task started');
    await Promise.all([...this.#running.values()].map((r) => r.stop('interrupted')));
  }

  #start(p: Pending): void {
    const run = new ProcessRun(p, this.#opts, () => {
      this.#running.delete(p.runId);
      const next = this.#queue.shift();
      if (next) this.#start(next);
    });
    this.#running.set(p.runId, run);
    run.start();
  }
}

class ProcessRun {
  readonly #p: Pending;
  readonly #opts: Required<ExecutorOptions>;
  readonly #onDone: () => void;
  #child: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #stopReason: ExitReason = '';
  #bytes = 0;
  #truncated = false;
  #finished = false;
  readonly #pending: Record<OutputStream, string> = { stdout: '', stderr: '' };
  readonly #decoders: Record<OutputStream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  #done: Promise<void>;
  #resolveDone!: () => void;

  constructor(p: Pending, opts: Required<ExecutorOptions>, onDone: () => void) {
    this.#p = p;
    this.#opts = opts;
    this.#onDone = onDone;
    this.#done = new Promise((r) => {
      this.#resolveDone = r;
    });
  }

  start(): void {
    const { run, runId } = this.#p;
    let child: ChildProcess;
    try {
      child = spawn(run.file, run.args, {
        cwd: run.cwd,
        env: { ...run.env, FALCONET_TASK_RUN_ID: runId },
        uid: run.uid,
        gid: run.gid,
        detached: true,
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (err) {
      this.#finish(-1, 'spawn_failed', `could not start ${run.file}: ${(err as Error).message}`);
      return;
    }
    this.#child = child;
    this.#opts.log.info({ runId, command: run.file, args: run.args, user: run.user || undefined, pid: child.pid }, 'task started');
    child.stdout?.on('data', (b: Buffer) => this.#data('stdout', b));
    child.stderr?.on('data', (b: Buffer) => this.#data('stderr', b));
    child.once('error', (err) => {
      if (child.pid === undefined) this.#finish(-1, 'spawn_failed', `could not start ${run.file}: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      const exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : -1);
      const message =
        this.#stopReason === 'timeout'
          ? `timed out after ${run.timeoutMs} ms`
          : this.#stopReason === 'cancelled'
            ? 'cancelled'
            : this.#stopReason === 'interrupted'
              ? 'the agent stopped while the task ran'
              : signal
                ? `killed by ${signal}`
                : `exited with ${exitCode}`;
      this.#finish(exitCode, this.#stopReason, message);
    });
    this.#timer = setTimeout(() => this.stop('timeout'), run.timeoutMs);
  }

  /** SIGTERM to the process group, SIGKILL after the grace period. */
  stop(reason: ExitReason): Promise<void> {
    if (this.#finished) return this.#done;
    this.#stopReason ||= reason;
    this.#signal('SIGTERM');
    this.#killTimer ??= setTimeout(() => this.#signal('SIGKILL'), this.#opts.killGraceMs);
    return this.#done;
  }

  #signal(sig: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.#child?.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  #data(stream: OutputStream, b: Buffer): void {
    const room = this.#opts.outputLimit - this.#bytes;
    if (room <= 0) {
      this.#truncate();
      return;
    }
    const part = b.length > room ? b.subarray(0, room) : b;
    this.#bytes += part.length;
    this.#pending[stream] += this.#decoders[stream].write(part);
    if (b.length > room) this.#truncate();
    if (Buffer.byteLength(this.#pending[stream]) >= this.#opts.chunkBytes) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), this.#opts.flushMs);
  }

  #truncate(): void {
    if (this.#truncated) return;
    this.#truncated = true;
    this.#flush();
    this.#p.sink.output('stderr', `\n[falconet: output cut at ${this.#opts.outputLimit} bytes (tasks.output_limit)]\n`);
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = this.#pending[stream];
      if (text) {
        this.#pending[stream] = '';
        this.#p.sink.output(stream, text);
      }
    }
  }

  #finish(code: number, reason: ExitReason, message: string): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#killTimer);
    for (const stream of ['stdout', 'stderr'] as const) this.#pending[stream] += this.#decoders[stream].end();
    this.#flush();
    this.#opts.log.info({ runId: this.#p.runId, exitCode: code, reason: reason || undefined }, 'task ended');
    this.#p.sink.exit(code, reason, message);
    this.#resolveDone();
    this.#onDone();
  }
}
