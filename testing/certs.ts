import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * A self-signed P-256 certificate and its key made with openssl in `dir` (cert.pem, key.pem):
 * for a test's own TLS servers, trusted by pointing a client at the certificate itself.
 */
export function selfSignedCert(dir: string, opts: { days: number; cn: string; san: string }): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      String(opts.days),
      '-subj',
      `/CN=${opts.cn}`,
      '-addext',
      `subjectAltName=${opts.san}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
