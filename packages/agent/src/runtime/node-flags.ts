/**
 * V8 settings for a process that runs for months and mostly sleeps: a 1 MB young generation
 * and no optimizing compilers (TurboFan and Maglev are code in the node binary that the agent
 * would otherwise page in, some 8 MB, and their output takes memory of its own). Sparkplug, the
 * baseline compiler, stays: it only translates bytecode, costs under 1 MB (measured idle), and takes
 * about a tenth off the CPU of a scrape. Measured on the agent: about 20 MB less resident
 * memory than Node's defaults (see docs/agent.md). WebAssembly stays available, which running
 * .ts files needs.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--no-maglev', '--optimize-for-size'];

const flagName = (f: string) => f.split('=')[0] as string;

/** The flags of AGENT_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const have = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(flagName));
  return AGENT_NODE_FLAGS.filter((f) => !have.has(flagName(f)));
}

/**
 * Replaces this process (same pid, so systemd and pidfiles are unaffected) with one running
 * under AGENT_NODE_FLAGS, when it was started without them. FALCONET_NODE_FLAGS=off keeps
 * Node's defaults.
 */
export function reexecWithAgentFlags(env: NodeJS.ProcessEnv = process.env): void {
  if (env.FALCONET_NODE_FLAGS === 'off' || typeof process.execve !== 'function') return;
  const missing = missingNodeFlags();
  if (missing.length === 0) return;
  process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], env);
}
