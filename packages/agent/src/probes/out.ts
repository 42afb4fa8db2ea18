import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { MetricWriter } from '../metrics.ts';

/** The probe cannot work on this host as set up (no `ping`, ICMP not allowed): worth a warning, once. */
export class ProbeSetupError extends Error {}

/** What one run of a probe writes: gauges carrying the probe's own labels, as blackbox_exporter names them. */
export class ProbeOut {
  readonly writer: MetricWriter;
  readonly labels: Record<string, string>;
  constructor(writer: MetricWriter, labels: Record<string, string>) {
    this.writer = writer;
    this.labels = labels;
  }

  gauge(name: string, help: string, value: number, extra: Record<string, string> = {}): void {
    this.writer.gauge(name, help, value, { ...this.labels, ...extra });
  }
}

/** Splits HOST:PORT ([v6]:PORT too); the config has checked the shape already. */
export function splitHostPort(target: string, defaultPort?: number): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/[\]]+))(?::(\d{1,5}))?$/.exec(target.trim());
  const port = m?.[3] ? Number(m[3]) : defaultPort;
  if (!m || port === undefined) throw new Error(`target "${target}": expected HOST:PORT`);
  return { host: (m[1] ?? m[2]) as string, port };
}

export interface Resolved {
  address: string;
  family: 4 | 6;
  seconds: number;
}

/** Resolves the target's host as blackbox_exporter does before each probe (an address literal takes no time). */
export async function resolveTarget(host: string): Promise<Resolved> {
  const started = performance.now();
  const literal = isIP(host.replace(/^\[|\]$/g, ''));
  const r = literal
    ? { address: host.replace(/^\[|\]$/g, ''), family: literal as 4 | 6 }
    : ((await lookup(host, { verbatim: false })) as { address: string; family: 4 | 6 });
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

/** probe_dns_lookup_time_seconds and probe_ip_protocol, as every blackbox prober writes them. */
export function writeResolved(out: ProbeOut, r: Resolved, seconds = r.seconds): void {
  out.gauge('probe_dns_lookup_time_seconds', 'Returns the time taken for probe dns lookup in seconds', seconds);
  out.gauge('probe_ip_protocol', 'Specifies whether probe ip protocol is IP4 or IP6', r.family);
}

/** The earliest NotAfter over the chain the peer presented, in Unix seconds; undefined without a certificate. */
export function earliestCertExpiry(socket: TLSSocket): number | undefined {
  let cert = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
  if (!cert?.valid_to) return undefined;
  let earliest = Number.POSITIVE_INFINITY;
  const seen = new Set<string>();
  while (cert?.valid_to && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    earliest = Math.min(earliest, Date.parse(cert.valid_to) / 1000);
    cert = cert.issuerCertificate as typeof cert;
  }
  return earliest;
}

export interface TlsFacts {
  expiry?: number | undefined;
  version?: string | null;
}

/** What a TLS connection showed, read while it is open. */
export function tlsFacts(socket: TLSSocket): TlsFacts {
  return { expiry: earliestCertExpiry(socket), version: socket.getProtocol() };
}

/** probe_ssl_earliest_cert_expiry and probe_tls_version_info for a TLS connection. */
export function writeTls(facts: TlsFacts, out: ProbeOut): void {
  const { expiry, version } = facts;
  if (expiry !== undefined) out.gauge('probe_ssl_earliest_cert_expiry', 'Returns earliest SSL cert expiry in unixtime', expiry);
  if (version) out.gauge('probe_tls_version_info', 'Contains the TLS version used', 1, { version: version.replace('TLSv', 'TLS ') });
}
