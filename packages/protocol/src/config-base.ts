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

/** The known key nearest to a mistyped one, when it is near enough to be a likely typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}
