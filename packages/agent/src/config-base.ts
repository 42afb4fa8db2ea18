import { join } from 'node:path';
import { parseHostPort } from '@falconet/protocol/config-base';
import { isLoopbackHost } from '@falconet/protocol/net';

/**
 * What the running agent needs of its configuration besides the validated object itself, in a
 * module without zod: the agent process gets its configuration parsed and checked by a
 * short-lived child (runtime/config-child.ts) and never loads the schema, about 6 MB of memory.
 */

export { ConfigError, parseHostPort } from '@falconet/protocol/config-base';

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

/**
 * server.url: one address, or several servers of one cluster separated by commas (the agent ranks
 * them by rendezvous hashing). Every address must take the same scheme: TLS is decided once.
 */
export function parseServerUrls(input: string): ServerAddress[] {
  const parts = input.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new Error(`server address list "${input}" has an empty entry`);
  const all = parts.map(parseServerUrl);
  const schemes = new Set(all.map((a) => a.scheme));
  if (schemes.size > 1) throw new Error(`server address list "${input}": give every address the same scheme (grpcs://, grpc:// or none)`);
  const seen = new Set<string>();
  for (const a of all) {
    const k = `${a.host}:${a.port}`;
    if (seen.has(k)) throw new Error(`server address list "${input}" names ${k} twice`);
    seen.add(k);
  }
  return all;
}

/**
 * Why a server address may not be dialled in plaintext, or undefined when it may: `grpc://` to a
 * host beyond loopback carries the agent's token, reports and tasks in the clear, and lets a man in
 * the middle answer as the server and pin its own task-signing key on first contact.
 */
export function plaintextProblem(address: ServerAddress, allowPlaintext: boolean): string | undefined {
  if (address.scheme !== 'grpc' || allowPlaintext || isLoopbackHost(address.host)) return undefined;
  return (
    `grpc://${address.host}:${address.port} is plaintext to a host beyond loopback: this agent's token, reports and tasks would cross the network unprotected; ` +
    'use grpcs:// (or HOST:PORT, TLS by default), or accept the risk with transport.tls.allow_plaintext: true (--grpc-allow-plaintext)'
  );
}
