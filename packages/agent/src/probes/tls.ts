import { readFile } from 'node:fs/promises';
import type { ProbeTlsOptions } from '@falconet/protocol/probes';

/** node:tls options for a probe's TLS settings: a CA file replaces the system roots, as blackbox_exporter's ca_file does. */
export async function tlsConnectOptions(
  o: ProbeTlsOptions,
  host: string,
): Promise<{ ca?: string[]; servername?: string; rejectUnauthorized: boolean }> {
  const ca = o.ca_file ? [await readFile(o.ca_file, 'utf8')] : undefined;
  const name = o.server_name || host;
  // SNI takes host names only; an address literal goes without it.
  const servername = /^[\d.]+$|:/.test(name) ? undefined : name;
  return { ...(ca ? { ca } : {}), ...(servername ? { servername } : {}), rejectUnauthorized: !o.insecure_skip_verify };
}
