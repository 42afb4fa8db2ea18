import { join } from 'node:path';

/**
 * What the running agent needs of its configuration besides the validated object itself, in a
 * module without zod: the agent process gets its configuration parsed and checked by a
 * short-lived child (runtime/config-child.ts) and never loads the schema, about 6 MB of memory.
 */

/** A configuration the agent cannot run with; runMain prints its problems, one a line, and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** `HOST:PORT` or `[V6]:PORT`; an empty host listens everywhere. As @falconet/protocol/config's, which loads zod. */
export function parseHostPort(input: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/[\]]*)):(\d{1,5})$/.exec(input.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`${what} "${input}": expected HOST:PORT, e.g. 127.0.0.1:7071`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The pidfile path in effect. */
export function pidfilePath(config: { pidfile: string; data_dir: string }): string {
  return config.pidfile || join(config.data_dir, 'falconet-agent.pid');
}

export interface ServerAddress {
  host: string;
  port: number;
  tls: boolean;
  /** As written: `grpcs` forces TLS, `grpc` plaintext, none lets the transport decide (TLS unless loopback). */
  scheme?: 'grpc' | 'grpcs' | '';
}

/** `HOST:PORT`, `grpc://HOST:PORT` or `grpcs://HOST:PORT`. */
export function parseServerUrl(input: string): ServerAddress {
  const m = /^(grpcs?|https?):\/\/(.*)$/.exec(input);
  const scheme = m?.[1];
  const rest = m ? (m[2] as string).replace(/\/$/, '') : input;
  const { host, port } = parseHostPort(rest, 'server address');
  if (!host || host === '0.0.0.0') throw new Error(`server address "${input}": needs a host, e.g. 127.0.0.1:7071`);
  const tls = scheme === 'grpcs' || scheme === 'https';
  return { host, port, tls, scheme: tls ? 'grpcs' : scheme ? 'grpc' : '' };
}
