import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { ProbeOf } from '@falconet/protocol/probes';
import { type ProbeOut, resolveTarget, splitHostPort, tlsFacts, writeResolved, writeTls } from './out.ts';
import { tlsConnectOptions } from './tls.ts';

/** TCP connect, with a TLS handshake when asked; the connection is closed straight after. */
export async function probeTcp(p: ProbeOf<'tcp'>, out: ProbeOut, signal: AbortSignal): Promise<boolean> {
  const { host, port } = splitHostPort(p.target);
  const resolved = await resolveTarget(host);
  writeResolved(out, resolved);
  const o = p.options;
  const tls = o.tls ? await tlsConnectOptions(o.tls_config, host) : undefined;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s: Socket = tls
      ? tlsConnect({ host: resolved.address, port, ...tls }, () => resolve(s))
      : netConnect({ host: resolved.address, port }, () => resolve(s));
    s.once('error', reject);
    signal.addEventListener('abort', () => s.destroy(new Error('timed out')), { once: true });
  });
  if (tls) writeTls(tlsFacts(socket as TLSSocket), out);
  socket.destroy();
  return true;
}
