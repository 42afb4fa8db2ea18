import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isLoopbackHost } from '@falconet/protocol/net';
import { type ChannelCredentials, type ChannelOptions, credentials } from '@grpc/grpc-js';

/** How the agent checks the server it streams to. */
export interface TlsSettings {
  /** `on` (grpcs://), `off` (grpc://) or `auto`: TLS unless the server is on loopback, or when a CA or pin is set. */
  mode: 'on' | 'off' | 'auto';
  /** PEM file of the CA (or the server's own self-signed certificate) to trust. */
  caFile: string;
  /** SHA-256 fingerprint of the server's self-signed certificate (hex, colons optional). */
  fingerprint: string;
  /** Name to check the certificate against, when it differs from the host dialled. */
  serverName: string;
  /** Plaintext (mode off) to a host beyond loopback; refused without it. */
  allowPlaintext?: boolean;
}

/** A TLS problem the user must fix in the configuration; retrying will not help. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[:\s]/g, '').toLowerCase();
}

export function tlsEnabled(host: string, s: TlsSettings): boolean {
  if (s.mode !== 'auto') return s.mode === 'on';
  return Boolean(s.caFile || s.fingerprint) || !isLoopbackHost(host);
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/** The certificate the server presents, read over a TLS handshake that checks nothing (the pin does). */
async function presentedCertificate(host: string, port: number, serverName: string, timeoutMs: number): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const servername = serverName || (isIP(host) ? undefined : host);
    const socket = tlsConnect({ host, port, servername, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      if (!cert?.raw) reject(new Error('the server presented no certificate'));
      else resolve(cert.raw);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`TLS handshake with ${host}:${port} timed out`)));
    socket.once('error', reject);
  });
}

export interface ChannelSecurity {
  credentials: ChannelCredentials;
  options: ChannelOptions;
  /** What was checked, for logs. */
  describe: string;
}

/**
 * Credentials for one connection attempt. With a pinned fingerprint, the presented certificate is
 * fetched first and, when its SHA-256 matches, trusted as the only root for this attempt; gRPC's
 * own handshake then checks the fingerprint again, so a certificate swapped in between fails.
 */
export async function channelSecurity(host: string, port: number, s: TlsSettings, timeoutMs = 10_000): Promise<ChannelSecurity> {
  if (!tlsEnabled(host, s)) {
    if (!isLoopbackHost(host) && !s.allowPlaintext) {
      throw new TlsConfigError(
        `plaintext to ${host}:${port}, a host beyond loopback, is refused: use TLS, or set transport.tls.allow_plaintext: true (--grpc-allow-plaintext)`,
      );
    }
    return { credentials: credentials.createInsecure(), options: {}, describe: 'plaintext' };
  }
  const options: ChannelOptions = s.serverName
    ? { 'grpc.ssl_target_name_override': s.serverName, 'grpc.default_authority': s.serverName }
    : {};
  if (s.fingerprint) {
    const pin = normalizeFingerprint(s.fingerprint);
    if (!/^[0-9a-f]{64}$/.test(pin))
      throw new TlsConfigError(`transport.tls.fingerprint "${s.fingerprint}": expected 64 hex digits (SHA-256)`);
    const der = await presentedCertificate(host, port, s.serverName, timeoutMs);
    const seen = createHash('sha256').update(der).digest('hex');
    if (seen !== pin) {
      throw Object.assign(
        new Error(
          `server certificate SHA-256 ${formatFingerprint(seen)} does not match transport.tls.fingerprint ${formatFingerprint(pin)}`,
        ),
        { tls: true },
      );
    }
    const checkServerIdentity = (_host: string, cert: { fingerprint256?: string }) =>
      normalizeFingerprint(cert.fingerprint256 ?? '') === pin ? undefined : new Error('server certificate changed during the handshake');
    return {
      credentials: credentials.createSsl(Buffer.from(toPem(der)), null, null, { checkServerIdentity }),
      options,
      describe: `TLS, certificate pinned ${formatFingerprint(pin).slice(0, 23)}...`,
    };
  }
  if (s.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(s.caFile);
    } catch (err) {
      throw new TlsConfigError(`transport.tls.ca_file ${s.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new TlsConfigError(`transport.tls.ca_file ${s.caFile}: not a PEM certificate`);
    return { credentials: credentials.createSsl(ca), options, describe: `TLS, CA ${s.caFile}` };
  }
  return { credentials: credentials.createSsl(), options, describe: 'TLS, system CAs' };
}

export function formatFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/.{2}/g) ?? []).join(':');
}
