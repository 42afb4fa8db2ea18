import { readFile } from 'node:fs/promises';
import type { ProbeOf } from '@falconet/protocol/probes';
import { Client, credentials, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { type ProbeOut, resolveTarget, splitHostPort, writeResolved } from './out.ts';

/** grpc.health.v1 HealthCheckResponse.ServingStatus, by number. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * grpc.health.v1.Health/Check. The two messages are one string field and one enum field, so
 * they are encoded here by hand rather than loading a .proto for them.
 */
export async function probeGrpc(p: ProbeOf<'grpc'>, out: ProbeOut, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  const { host, port } = splitHostPort(p.target);
  const resolved = await resolveTarget(host);
  writeResolved(out, resolved);
  const o = p.options;
  const tls = o.tls_config;
  const creds = o.tls
    ? credentials.createSsl(
        tls.ca_file ? await readFile(tls.ca_file) : null,
        null,
        null,
        tls.insecure_skip_verify ? { checkServerIdentity: () => undefined, rejectUnauthorized: false } : undefined,
      )
    : credentials.createInsecure();
  const address = resolved.family === 6 ? `[${resolved.address}]:${port}` : `${resolved.address}:${port}`;
  const options =
    tls.server_name || (o.tls && host !== resolved.address) ? { 'grpc.ssl_target_name_override': tls.server_name || host } : {};
  const client = new Client(address, creds, options);
  const started = performance.now();
  try {
    const { code, servingStatus } = await new Promise<{ code: number; servingStatus: number }>((resolve) => {
      const call = client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (service: string) => encodeRequest(service),
        (b: Buffer) => decodeStatus(b),
        o.service,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, value?: number) => resolve({ code: err ? err.code : grpcStatus.OK, servingStatus: value ?? 0 }),
      );
      signal.addEventListener('abort', () => call.cancel(), { once: true });
    });
    out.gauge('probe_grpc_duration_seconds', 'Duration of gRPC request by phase', (performance.now() - started) / 1000, { phase: 'check' });
    out.gauge('probe_grpc_status_code', 'Response gRPC status code', code);
    for (const [n, name] of SERVING_STATUS.entries())
      out.gauge('probe_grpc_healthcheck_response', 'Response HealthCheck response', code === grpcStatus.OK && n === servingStatus ? 1 : 0, {
        serving_status: name,
      });
    return code === grpcStatus.OK && servingStatus === 1;
  } finally {
    client.close();
  }
}

function encodeRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (!name.length) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** Field 1 (varint) of HealthCheckResponse; an empty message means UNKNOWN (0). */
export function decodeStatus(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const tag = b[i++] as number;
    let v = 0;
    let shift = 0;
    if ((tag & 7) !== 0) throw new Error('unexpected field in HealthCheckResponse');
    for (;;) {
      const byte = b[i++] as number;
      v |= (byte & 0x7f) << shift;
      shift += 7;
      if (!(byte & 0x80) || i >= b.length) break;
    }
    if (tag >> 3 === 1) return v;
  }
  return 0;
}
