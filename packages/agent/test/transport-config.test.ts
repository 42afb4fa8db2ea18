import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_CLI, runToEnd, SERVER_CLI, tempDir } from '../../../testing/processes.ts';

// Each case starts real processes from source; on a busy machine that takes seconds.
describe('transport configuration', { timeout: 30_000 }, () => {
  it('agent: bad transport and spool keys are named with file:line:col', async () => {
    const file = join(tempDir(), 'falconet-agent.yaml');
    writeFileSync(
      file,
      [
        'server:',
        '  url: grpc://10.0.0.5:7071',
        'transport:',
        '  encrypt: true',
        '  tls:',
        '    fingerprint: "12:34"',
        'spool:',
        '  max_bytes: 10MiB',
        '  segment_bytes: 4 apples',
        '  max_age: 10s',
        '',
      ].join('\n'),
    );
    const { code, out } = await runToEnd(AGENT_CLI, ['check-config', '--config', file]);
    expect(code).toBe(2);
    const text = out.join('\n');
    expect(text).toMatch(new RegExp(`${file}:6:\\d+: transport\\.tls\\.fingerprint: expected a SHA-256 fingerprint`));
    expect(text).toMatch(/spool\.segment_bytes: "4 apples" is not a size/);
    expect(text).toMatch(/spool\.max_age: must be at least 1m/);
  });

  it('agent: encrypt without a token, and a CA with plaintext grpc://, are refused', async () => {
    const file = join(tempDir(), 'falconet-agent.yaml');
    writeFileSync(file, 'server:\n  url: grpc://10.0.0.5:7071\ntransport:\n  encrypt: true\n  tls:\n    ca_file: /etc/ca.pem\n');
    const { code, out } = await runToEnd(AGENT_CLI, ['check-config', '--config', file]);
    expect(code).toBe(2);
    const text = out.join('\n');
    expect(text).toMatch(/transport\.encrypt: needs server\.token: the payload key is derived from the token/);
    expect(text).toMatch(/server\.url: grpc:\/\/ is plaintext, but transport\.tls\.ca_file or fingerprint is set; use grpcs:\/\//);
  });

  it('agent: the effective configuration shows the defaults', async () => {
    const { code, out } = await runToEnd(AGENT_CLI, ['check-config', '--data-dir', tempDir()], { FALCONET_SPOOL_MAX_BYTES: '64MiB' });
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/transport:\n\s+gzip: true\n\s+compact: true\n\s+encrypt: false\n\s+max_in_flight: 32/);
    expect(text).toMatch(/spool:\n\s+max_bytes: 67108864\n\s+max_age: 604800000\n\s+segment_bytes: 8388608/);
  });

  it('server: half a certificate pair, a bad transfer address and a bad --expires are named', async () => {
    const file = join(tempDir(), 'falconet-server.yaml');
    writeFileSync(file, 'grpc_tls:\n  cert_file: /etc/server.crt\ntransfer_listen: "6000"\n');
    const { code, out } = await runToEnd(SERVER_CLI, ['check-config', '--config', file]);
    expect(code).toBe(2);
    const text = out.join('\n');
    expect(text).toMatch(/grpc_tls\.cert_file: set both cert_file and key_file, or neither/);
    expect(text).toMatch(/transfer_listen: transfer listen address "6000": expected HOST:PORT/);
    const expires = await runToEnd(SERVER_CLI, ['create-token', '--data-dir', tempDir(), '--agent', 'a', '--expires', 'soon']);
    expect(expires.code).toBe(2);
    expect(expires.out).toEqual(['falconet-server: flag --expires: "soon" is not a duration (e.g. 500ms, 10s, 5m, 1h)']);
  });
});
