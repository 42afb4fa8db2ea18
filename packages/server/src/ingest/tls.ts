import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { selfSignedCertificate } from './x509.ts';

export interface GrpcTlsConfig {
  /** `auto`: TLS unless the agent channel listens on loopback; `on`; `off`. */
  mode: 'auto' | 'on' | 'off';
  cert_file: string;
  key_file: string;
  /** Extra names (DNS or IP) for the self-signed certificate. */
  hosts: string[];
}

export interface GrpcSecurity {
  credentials: ServerCredentials;
  tls: boolean;
  certFile?: string;
  /** SHA-256 of the certificate, as agents pin it. */
  fingerprint?: string;
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new StartupError(`${key} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * The agent channel's transport security: the configured certificate, or one the server made for
 * itself on first start under data_dir/tls (self-signed; agents trust it by CA file or fingerprint).
 */
export function grpcServerSecurity(cfg: GrpcTlsConfig, listenHost: string, loopback: boolean, dataDir: string, log: Logger): GrpcSecurity {
  if (cfg.mode === 'off' || (cfg.mode === 'auto' && loopback)) return { credentials: ServerCredentials.createInsecure(), tls: false };
  let certFile = cfg.cert_file;
  let keyFile = cfg.key_file;
  if (!certFile) {
    const dir = join(dataDir, 'tls');
    certFile = join(dir, 'server.crt');
    keyFile = join(dir, 'server.key');
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const names = ['localhost', '127.0.0.1', '::1', hostname(), ...cfg.hosts];
      if (listenHost && listenHost !== '0.0.0.0' && listenHost !== '::') names.push(listenHost);
      const { certPem, keyPem } = selfSignedCertificate(hostname() || 'falconet-server', names);
      writeFileSync(keyFile, keyPem, { mode: 0o600 });
      writeFileSync(certFile, certPem, { mode: 0o600 }); // public, but nothing in the data directory is for others
      log.info({ certFile, names: [...new Set(names)] }, 'generated a self-signed TLS certificate for the agent channel');
    }
  }
  const cert = readPem(certFile, 'grpc_tls.cert_file');
  const key = readPem(keyFile, 'grpc_tls.key_file');
  let fingerprint: string;
  try {
    fingerprint = new X509Certificate(cert).fingerprint256;
  } catch (err) {
    throw new StartupError(`grpc_tls.cert_file ${certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  let credentials: ServerCredentials;
  try {
    credentials = ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
  } catch (err) {
    throw new StartupError(`grpc_tls.key_file ${keyFile}: ${(err as Error).message}`);
  }
  log.info(
    { certFile, fingerprint },
    'agent channel uses TLS; agents trust it with transport.tls.ca_file set to the certificate or transport.tls.fingerprint set to this fingerprint',
  );
  return { credentials, tls: true, certFile, fingerprint };
}
