/**
 * V8 settings for a process that runs for months and mostly sleeps: a 1 MB young generation, the
 * old generation kept close to what is live (--optimize-for-size), and no optimizing compiler:
 * neither TurboFan, whose code in the node binary and whose output take memory for little gain on
 * a scrape, nor Maglev, the mid-tier one. Maglev took about a seventh off the CPU of a scrape, but
 * under a scraper every 50 ms it kept compiling: some 4 MB more of the binary stayed resident and
 * its compilations' C heap came and went, some 6 MB at the highest, which put the agent over
 * 60 MB (bench/agent-scrape). Sparkplug, the baseline compiler, stays. WebAssembly stays available,
 * which running .ts files needs.
 *
 * No allocation-site pretenuring: a collection's samples live from the first collector to the
 * rendered text, long enough for V8 to see the sites that make them as long-lived and allocate
 * them straight in the old generation, where they die a moment later and the old generation,
 * kept small, has to be marked every few dozen scrapes. Left young, they die young: about a fifth
 * less CPU per scrape, and the same memory once the C heap is trimmed.
 *
 * No background threads in V8 (--single-threaded): its concurrent marking and concurrent
 * compiles each malloc on a worker thread, into that thread's own C heap (arena), which grew by
 * 9-12 MB for a second or more at a time under a scrape every 50 ms (bench/agent-scrape). On the
 * main thread the same work reuses the main C heap; a scrape of a few milliseconds over a heap of
 * some 20 MB does not need the extra threads.
 *
 * All are given on the command line: no V8 flag is changed after the process has started.
 */
export const AGENT_NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--no-turbofan',
  '--no-maglev',
  '--optimize-for-size',
  '--no-allocation-site-pretenuring',
  '--single-threaded',
];

const flagName = (f: string) => f.split('=')[0] as string;

/** The flags of AGENT_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const have = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(flagName));
  return AGENT_NODE_FLAGS.filter((f) => !have.has(flagName(f)));
}

/**
 * Replaces this process (same pid, so systemd and pidfiles are unaffected) with one running
 * under AGENT_NODE_FLAGS, when it was started without them. FALCONET_NODE_FLAGS=off keeps
 * Node's defaults. Node 22.12-22.14 have no process.execve: there the process goes on with
 * Node's defaults, and unappliedNodeFlags() says so for the log.
 */
export function reexecWithAgentFlags(env: NodeJS.ProcessEnv = process.env): void {
  if (env.FALCONET_NODE_FLAGS === 'off' || typeof process.execve !== 'function') return;
  const missing = missingNodeFlags();
  if (missing.length === 0) return;
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], env);
}

/** The agent's flags this process runs without though it was not told to (a Node.js without process.execve); empty otherwise. */
export function unappliedNodeFlags(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  return env.FALCONET_NODE_FLAGS === 'off' ? [] : missingNodeFlags(execArgv, env.NODE_OPTIONS ?? '');
}
