import { spawn } from 'node:child_process';
import { copyFileSync, linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pb } from '@falconet/protocol';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../identity.ts';
import { previousPath, TRIAL_ENV } from './self.ts';
import { StatusQueue } from './status-queue.ts';
import { ROLLED_BACK_FILE, recordSwap, rolledBackVersions, type StagedUpdate } from './updater.ts';

export type TrialOutcome = { ok: true } | { ok: false; reason: string; stopped?: boolean };

export interface TrialOptions {
  /** The arguments the agent runs with (after the program), given to the new binary unchanged. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  log: Logger;
  /** Aborted when the agent is told to stop during the trial. */
  signal?: AbortSignal;
  /** How long the new binary has to exit after SIGTERM once it passed. */
  stopTimeoutMs?: number;
}

const TAIL_LINES = 5;

/**
 * Runs the staged binary as a child with the agent's arguments and FALCONET_UPDATE_TRIAL naming
 * a file it writes {"ok":true} to once registered with a report acknowledged. The caller has
 * stopped its own work first, so the child has the data directory, spool and exporter port to
 * itself. Resolves ok once the file says so (the child stopped with SIGTERM, which flushes), or
 * with the reason it failed: it exited, it took longer than `timeoutMs`, or the agent was stopped.
 */
export async function runTrial(update: StagedUpdate, opts: TrialOptions): Promise<TrialOutcome> {
  const trialFile = join(update.updateDir, 'trial.json');
  rmSync(trialFile, { force: true });
  const { log } = opts;
  const child = spawn(update.next, [...opts.argv], {
    env: { ...opts.env, [TRIAL_ENV]: trialFile },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const tail: string[] = [];
  let partial = '';
  child.stderr?.on('data', (b: Buffer) => {
    process.stderr.write(b);
    const lines = (partial + b.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    tail.push(...lines.filter((l) => l.trim() !== ''));
    tail.splice(0, Math.max(0, tail.length - TAIL_LINES));
  });
  const lastLines = () => {
    const lines = [...tail, ...(partial.trim() ? [partial] : [])].slice(-TAIL_LINES);
    return lines.length ? `; last stderr lines: ${lines.join(' | ')}` : '; nothing on stderr';
  };
  log.info({ pid: child.pid, next: update.next, timeoutMs: opts.timeoutMs }, `version ${update.toVersion} on trial`);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  let done = false;
  const passed = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (done) {
        clearInterval(poll);
        return;
      }
      try {
        if ((JSON.parse(readFileSync(trialFile, 'utf8')) as { ok?: unknown }).ok === true) {
          clearInterval(poll);
          resolve();
        }
      } catch {
        // not written yet
      }
    }, 200);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, opts.timeoutMs);
  });
  const stopped = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const first = await Promise.race([
    passed.then(() => 'passed' as const),
    exited.then(() => 'exited' as const),
    timedOut.then(() => 'timeout' as const),
    stopped.then(() => 'stopped' as const),
  ]);
  done = true;
  clearTimeout(timer);
  const stopChild = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), opts.stopTimeoutMs ?? 30_000);
    await exited;
    clearTimeout(killer);
  };
  const seconds = Math.round(opts.timeoutMs / 1000);
  switch (first) {
    case 'passed':
      await stopChild('SIGTERM');
      return { ok: true };
    case 'exited': {
      const e = await exited;
      if (e.error) return { ok: false, reason: `the new version could not be started: ${e.error.message}` };
      const how = e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
      return { ok: false, reason: `the new version ${how} before a report was acknowledged${lastLines()}` };
    }
    case 'timeout':
      await stopChild('SIGKILL');
      return { ok: false, reason: `no report acknowledged within ${seconds} s${lastLines()}` };
    case 'stopped':
      await stopChild('SIGTERM');
      return { ok: false, reason: 'the agent was stopped during the trial', stopped: true };
  }
}

/**
 * After a passed trial: the running binary is kept as falconet-agent.previous (a hard link, so the
 * current path never goes missing) and the new one renamed over it, atomically.
 */
export function swapIn(update: StagedUpdate): void {
  const previous = previousPath(update.current);
  rmSync(previous, { force: true });
  try {
    linkSync(update.current, previous);
  } catch {
    copyFileSync(update.current, previous);
  }
  renameSync(update.next, update.current);
}

/** After a failed trial: the staged binary goes, the failure is queued for the server, and the version is not tried again. */
export function rollBack(update: StagedUpdate, reason: string): void {
  rmSync(update.next, { force: true });
  new StatusQueue(update.updateDir).push({
    rolloutId: update.rolloutId,
    state: pb.UpdateState.UPDATE_STATE_ROLLED_BACK,
    fromVersion: update.fromVersion,
    toVersion: update.toVersion,
    reason,
    timeMs: Date.now(),
  });
  const failed = rolledBackVersions(update.updateDir);
  if (!failed.includes(update.toVersion)) {
    writeFileAtomic(join(update.updateDir, ROLLED_BACK_FILE), `${JSON.stringify([...failed, update.toVersion])}\n`);
  }
}

/** Records SWAPPED for the server (the child, or whatever runs next, sends it). */
export function recordSwapped(update: StagedUpdate): void {
  new StatusQueue(update.updateDir).push({
    rolloutId: update.rolloutId,
    state: pb.UpdateState.UPDATE_STATE_SWAPPED,
    fromVersion: update.fromVersion,
    toVersion: update.toVersion,
    reason: '',
    timeMs: Date.now(),
  });
}

/**
 * The whole trial from the parent's seat, once its own work is stopped: run the new binary, swap
 * it in or roll it back, then exec the binary at the current path (same pid: systemd and the
 * pidfile stay right). Returns only when the agent was stopped during the trial (it exits then).
 */
export async function trialAndExec(
  update: StagedUpdate,
  opts: TrialOptions & { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => void },
): Promise<TrialOutcome> {
  const { log } = opts;
  recordSwapped(update);
  let outcome = await runTrial(update, opts);
  if (outcome.ok) {
    try {
      swapIn(update);
      recordSwap(update);
      log.info(
        { from: update.fromVersion, to: update.toVersion },
        `trial passed: version ${update.toVersion} swapped in, restarting into it`,
      );
    } catch (err) {
      // The rename over the current path is the last step: when anything fails, the old binary is still there and runs again.
      outcome = { ok: false, reason: `the new version passed its trial, but the swap failed: ${(err as Error).message}` };
    }
  }
  if (!outcome.ok) {
    rollBack(update, outcome.reason);
    log.error(
      { from: update.fromVersion, to: update.toVersion, reason: outcome.reason },
      `trial failed: version ${update.toVersion} rolled back`,
    );
    if (outcome.stopped) return outcome;
  }
  const env = { ...opts.env };
  delete env[TRIAL_ENV];
  const execve = opts.execve ?? process.execve;
  if (!execve) throw new Error(`this Node.js (${process.version}) has no process.execve; restart the agent by hand`);
  execve(update.current, [update.current, ...opts.argv], env);
  return outcome;
}
