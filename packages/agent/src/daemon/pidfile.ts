import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What a pidfile says about the agent, as `status` reports it. */
export type PidState =
  | { state: 'running'; pid: number }
  | { state: 'stopped' }
  | { state: 'stale'; pid: number | undefined; why: string }
  | { state: 'unknown'; why: string };

/** The title a running agent gives itself; `ps` shows it and the pidfile check looks for it. */
export const PROCESS_TITLE = 'falconet-agent';

export function readPid(file: string): number | undefined {
  const text = readFileSync(file, 'utf8').trim();
  const pid = Number(text);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` is alive: signal 0 checks without sending anything. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a live pid is a falconet agent and not an unrelated process that reused the number
 * after a crash. Where /proc is missing the answer is yes: better a false "running" than
 * starting a second agent.
 */
export function looksLikeAgent(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !isAlive(pid);
  }
  return cmdline.startsWith(PROCESS_TITLE) || /falconet-agent|agent\/(src|dist)\/cli\.[jt]s/.test(cmdline);
}

export function pidState(file: string): PidState {
  let pid: number | undefined;
  try {
    pid = readPid(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'stopped' };
    return { state: 'unknown', why: `cannot read ${file} (${code ?? String(err)})` };
  }
  if (pid === undefined) return { state: 'stale', pid, why: `${file} holds no pid` };
  if (!isAlive(pid)) return { state: 'stale', pid, why: `pid ${pid} is not running` };
  if (!looksLikeAgent(pid)) return { state: 'stale', pid, why: `pid ${pid} is another program` };
  return { state: 'running', pid };
}

/** Writes the pid atomically, so a reader never sees a half-written number. */
export function writePidfile(file: string, pid = process.pid): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${pid}.tmp`;
  // Owner-only like everything in the data directory, its default place; `status` runs as the same user.
  writeFileSync(tmp, `${pid}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Removes the pidfile if it still names `pid` (a newer agent may have taken it over). */
export function removePidfile(file: string, pid = process.pid): void {
  try {
    if (readPid(file) === pid) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}
