import { readdirSync } from 'node:fs';
import { parsePidStat, parseSingleNumber, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** A process may exit between listing /proc and reading its files; that is not an error. */
function readGone(path: string): string | undefined {
  try {
    return readKernelFileOptional(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'EACCES') return undefined;
    throw err;
  }
}

function listNumeric(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
}

export default defineCollector({
  name: 'processes',
  // Off by default as in node_exporter: it reads a file per process and per thread.
  defaultEnabled: false,
  description: 'Processes and threads per state, and the kernel limits on them, from /proc/<pid>.',
  create: () => ({
    update(out, { roots }) {
      const states = new Map<string, number>();
      const threadStates = new Map<string, number>();
      let pids = 0;
      let threads = 0;
      for (const pid of listNumeric(roots.proc)) {
        const text = readGone(procPath(roots, pid, 'stat'));
        if (text === undefined) continue;
        const s = parsePidStat(text);
        pids++;
        threads += s.numThreads;
        states.set(s.state, (states.get(s.state) ?? 0) + 1);
        for (const tid of listNumeric(procPath(roots, pid, 'task'))) {
          const t = readGone(procPath(roots, pid, 'task', tid, 'stat'));
          if (t === undefined) continue;
          const ts = parsePidStat(t).state;
          threadStates.set(ts, (threadStates.get(ts) ?? 0) + 1);
        }
      }
      out.gauge('node_processes_pids', 'Processes (thread group leaders).', pids);
      out.gauge('node_processes_threads', 'Threads of all processes.', threads);
      for (const [state, n] of [...states].sort()) out.gauge('node_processes_state', 'Processes in each state.', n, { state });
      for (const [state, n] of [...threadStates].sort()) {
        out.gauge('node_processes_threads_state', 'Threads in each state.', n, { thread_state: state });
      }
      const pidMax = procPath(roots, 'sys/kernel/pid_max');
      const threadsMax = procPath(roots, 'sys/kernel/threads-max');
      out.gauge(
        'node_processes_max_processes',
        'Highest process id the kernel hands out (pid_max).',
        parseSingleNumber(readRequired(pidMax), pidMax),
      );
      out.gauge(
        'node_processes_max_threads',
        'Most threads the kernel allows (threads-max).',
        parseSingleNumber(readRequired(threadsMax), threadsMax),
      );
    },
  }),
});
