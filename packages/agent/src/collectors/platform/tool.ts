/**
 * Runs a monitoring tool (nvidia-smi, smartctl, systemctl) for a collector: its output as text,
 * a missing tool as a NoDataError (one log line, then the collector is switched off), and the
 * collector's time limit as the tool's.
 */
import { execFile } from 'node:child_process';
import { NoDataError } from '../../procfs/fs.ts';

export interface ToolResult {
  stdout: string;
  /** The exit status; smartctl's is a bit mask that says more than success or failure. */
  code: number;
}

export function runTool(command: string, args: string[], signal: AbortSignal): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { signal, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout) => {
        if (!err) return resolve({ stdout, code: 0 });
        const e = err as NodeJS.ErrnoException & { code?: string | number };
        if (e.code === 'ENOENT') return reject(new NoDataError(`${command} is not installed (not found in PATH)`));
        if (e.code === 'EACCES') return reject(new NoDataError(`${command} may not be run by this user`));
        if (typeof e.code === 'number') return resolve({ stdout, code: e.code });
        reject(err);
      },
    );
  });
}
