/**
 * V8 settings for a process that runs for months and mostly sleeps: a 1 MB young generation, the
 * old generation kept close to what is live (--optimize-for-size), and no TurboFan, whose code in
 * the node binary and whose output take memory for little gain on a scrape. Maglev, the mid-tier
 * compiler, stays: it takes about a seventh off the CPU of a scrape (bench/exporter, 0.49 -> 0.42
 * of node_exporter's), and the binary pages and C heap it uses while warming up are given back
 * with the rest of the start's (startup-pages.ts). Sparkplug stays too. Measured on the agent:
 * about 20 MB less resident memory than Node's defaults (see docs/agent.md). WebAssembly stays
 * available, which running .ts files needs.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--no-opt', '--optimize-for-size'];

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
