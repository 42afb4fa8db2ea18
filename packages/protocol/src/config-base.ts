/**
 * The parts of configuration handling that need no schema, in a module without zod: a process
 * that only receives an already validated configuration (the running agent, see the agent's
 * runtime/config-child.ts) imports these and never loads the schema library.
 */

/** A configuration that cannot be used; runMain prints its problems, one a line, and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Parses `HOST:PORT` (IPv6 as `[::1]:PORT`; an empty host listens everywhere); throws a message naming what is wrong. */
export function parseHostPort(input: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/[\]]*)):(\d{1,5})$/.exec(input.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`${what} "${input}": expected HOST:PORT, e.g. 127.0.0.1:7071`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
