import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import type { Cron } from 'croner';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../identity.ts';

/** A cron job as the server signed it, kept on disk so it runs across restarts and outages. */
export interface JobDefinition {
  taskId: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  schedule: string;
  timezone: string;
  timeoutMs: number;
  issuedMs: number;
  paused: boolean;
  /** base64 Ed25519 signature; checked again whenever the file is loaded. */
  signature: string;
  /** Where the job came from: the server's stream, or etcd (reconciled against etcd's keys). */
  source: 'stream' | 'etcd';
}

let croner: typeof import('croner') | undefined;

/** croner, loaded on the first cron job: most agents never get one and need not hold it. */
function cronClass(): typeof Cron {
  croner ??= createRequire(import.meta.url)('croner') as typeof import('croner');
  return croner.Cron;
}

/** Whether a schedule and time zone make a job croner can run; the message says what is wrong. */
export function scheduleProblem(schedule: string, timezone: string): string | undefined {
  try {
    const probe = new (cronClass())(schedule, { timezone: timezone || undefined, paused: true });
    // A paused job computes no date, so a bad time zone shows only when asked for one.
    const next = probe.nextRun();
    probe.stop();
    return next ? undefined : `schedule "${schedule}" never fires`;
  } catch (err) {
    return `schedule "${schedule}"${timezone ? ` in ${timezone}` : ''}: ${(err as Error).message}`;
  }
}

const sameDefinition = (a: JobDefinition, b: JobDefinition) =>
  a.command === b.command &&
  a.schedule === b.schedule &&
  a.timezone === b.timezone &&
  a.timeoutMs === b.timeoutMs &&
  JSON.stringify(a.args) === JSON.stringify(b.args) &&
  JSON.stringify(a.env) === JSON.stringify(b.env);

interface Scheduled {
  job: JobDefinition;
  cron: Cron;
  /** The scheduler's id for this job, recorded in etcd under /falconet/cronid/jobs/<agent>/<task>. */
  id: number;
}

export type JobChange = 'added' | 'updated' | 'paused' | 'resumed' | 'unchanged';

export interface CronJobsOptions {
  log: Logger;
  /** A job's time came; resolves when that run has ended (a job never overlaps itself). */
  onFire(job: JobDefinition, scheduledMs: number): Promise<void>;
}

/**
 * The agent's cron table: jobs scheduled with croner in their own time zones, written to one file
 * in the data directory on every change, so they keep firing while the server is away and after
 * the agent restarts.
 */
export class CronJobs {
  readonly #file: string;
  readonly #opts: CronJobsOptions;
  readonly #jobs = new Map<string, Scheduled>();
  #nextId = 1;

  constructor(file: string, opts: CronJobsOptions) {
    this.#file = file;
    this.#opts = opts;
  }

  /** Schedules the jobs on disk that `accept` still vouches for (their signatures are checked again). */
  load(accept: (job: JobDefinition) => boolean): void {
    let saved: JobDefinition[] = [];
    try {
      saved = JSON.parse(readFileSync(this.#file, 'utf8')) as JobDefinition[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#opts.log.error({ file: this.#file, err: (err as Error).message }, 'cron jobs file unreadable; starting with none');
      }
    }
    for (const job of saved) {
      if (!accept(job)) {
        this.#opts.log.warn({ taskId: job.taskId }, 'dropped a saved cron job that no longer verifies');
        continue;
      }
      this.#schedule(job);
    }
    if (this.#jobs.size) this.#opts.log.info({ jobs: this.#jobs.size }, 'cron jobs loaded');
    this.#save();
  }

  get(taskId: string): JobDefinition | undefined {
    return this.#jobs.get(taskId)?.job;
  }

  list(): JobDefinition[] {
    return [...this.#jobs.values()].map((s) => s.job);
  }

  schedulerId(taskId: string): number | undefined {
    return this.#jobs.get(taskId)?.id;
  }

  nextRunMs(taskId: string): number | undefined {
    return this.#jobs.get(taskId)?.cron.nextRun()?.getTime();
  }

  /** Adds or replaces a job (the schedule must already be known to be valid). */
  upsert(job: JobDefinition): JobChange {
    const cur = this.#jobs.get(job.taskId);
    let change: JobChange;
    if (!cur) {
      this.#schedule(job);
      change = 'added';
    } else if (!sameDefinition(cur.job, job)) {
      cur.cron.stop();
      this.#jobs.delete(job.taskId);
      this.#schedule(job);
      change = 'updated';
    } else if (cur.job.paused !== job.paused) {
      if (job.paused) cur.cron.pause();
      else cur.cron.resume();
      cur.job = job;
      change = job.paused ? 'paused' : 'resumed';
    } else {
      cur.job = job;
      change = 'unchanged';
    }
    this.#save();
    return change;
  }

  remove(taskId: string): boolean {
    const cur = this.#jobs.get(taskId);
    if (!cur) return false;
    cur.cron.stop();
    this.#jobs.delete(taskId);
    this.#save();
    return true;
  }

  stop(): void {
    for (const s of this.#jobs.values()) s.cron.stop();
  }

  #schedule(job: JobDefinition): void {
    const id = this.#nextId++;
    const CronClass = cronClass();
    const cron = new CronClass(
      job.schedule,
      {
        timezone: job.timezone || undefined,
        paused: job.paused,
        protect: () => this.#opts.log.warn({ taskId: job.taskId }, 'cron job still running from its last firing; this one skipped'),
        catch: (err) => this.#opts.log.error({ taskId: job.taskId, err }, 'cron job failed to start'),
        unref: true,
      },
      // Croner fires at the scheduled second (give or take the event loop); that second names the run.
      () => this.#opts.onFire(this.#jobs.get(job.taskId)?.job ?? job, Math.floor(Date.now() / 1000) * 1000),
    );
    this.#jobs.set(job.taskId, { job, cron, id });
  }

  #save(): void {
    mkdirSync(dirname(this.#file), { recursive: true, mode: PRIVATE_DIR_MODE });
    writeFileAtomic(this.#file, `${JSON.stringify(this.list(), null, 1)}\n`);
  }
}
