import { execFile } from 'node:child_process';
import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { type CpuInfo, cpus, freemem, loadavg, totalmem, uptime } from 'node:os';

/**
 * What the macOS and Windows collectors ask of the machine: node:os, statfs() and the output of a
 * few system commands. Tests replace it with outputs recorded on real machines.
 */
export interface Host {
  cpus(): CpuInfo[];
  totalmem(): number;
  freemem(): number;
  loadavg(): number[];
  uptime(): number;
  now(): number;
  statfs(path: string): Promise<StatsFs>;
  /** stdout of a command; rejects when it fails or takes longer than the timeout. */
  run(command: string, args: string[], signal?: AbortSignal): Promise<string>;
}

const COMMAND_TIMEOUT_MS = 5_000;

export const realHost: Host = {
  cpus,
  totalmem,
  freemem,
  loadavg,
  uptime,
  now: () => Date.now(),
  statfs: (path) => statfs(path),
  run: (command, args, signal) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        args,
        { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, windowsHide: true, ...(signal ? { signal } : {}) },
        (err, stdout) => (err ? reject(new Error(`${command} ${args.join(' ')}: ${err.message}`)) : resolve(stdout)),
      );
    }),
};
