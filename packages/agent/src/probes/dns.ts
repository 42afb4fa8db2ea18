import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { ProbeOf } from '@falconet/protocol/probes';
import { decodeResponse, encodeQuery, RCODE_NAMES } from './dns-message.ts';
import { type ProbeOut, resolveTarget, splitHostPort, writeResolved } from './out.ts';

/**
 * One query over UDP to one server (the target), checked for its answer code and, when asked,
 * its answers. Timed as blackbox_exporter times it: `connect` the socket's setup, `request` from
 * sending the query to its answer.
 */
export async function probeDns(p: ProbeOf<'dns'>, out: ProbeOut, signal: AbortSignal): Promise<boolean> {
  const { host, port } = splitHostPort(p.target, 53);
  const resolved = await resolveTarget(host);
  writeResolved(out, resolved);
  const o = p.options;
  const id = randomInt(0x10000);
  const query = encodeQuery(id, o.query_name, o.query_type);
  const r = await exchange(resolved.address, resolved.family, port, query, id, signal);
  const help = 'Duration of DNS request by phase';
  out.gauge('probe_dns_duration_seconds', help, resolved.seconds, { phase: 'resolve' });
  out.gauge('probe_dns_duration_seconds', help, r.connectS, { phase: 'connect' });
  out.gauge('probe_dns_duration_seconds', help, r.requestS, { phase: 'request' });
  if (!r.reply) {
    out.gauge('probe_dns_query_succeeded', 'Displays whether or not the query was executed successfully', 0);
    throw new Error(`dns: ${r.error?.message ?? 'no answer'}`);
  }
  const answer = decodeResponse(r.reply);
  out.gauge('probe_dns_answer_rrs', 'Returns number of entries in the answer resource record list', answer.answerCount);
  out.gauge('probe_dns_authority_rrs', 'Returns number of entries in the authority resource record list', answer.authorityCount);
  out.gauge('probe_dns_additional_rrs', 'Returns number of entries in the additional resource record list', answer.additionalCount);
  out.gauge('probe_dns_query_succeeded', 'Displays whether or not the query was executed successfully', 1);
  for (const code of RCODE_NAMES)
    out.gauge('probe_dns_rcode', 'The answer code of the query (1 for the one received)', code === answer.rcode ? 1 : 0, { rcode: code });
  const contained = o.answers_contain.every((want) => answer.answers.some((t) => t.includes(want)));
  return o.valid_rcodes.includes(answer.rcode as (typeof o.valid_rcodes)[number]) && contained;
}

interface Exchange {
  connectS: number;
  requestS: number;
  reply?: Buffer;
  error?: Error;
}

/** Sends the query from a socket connected to the server and waits for the answer with its id (or the signal). */
function exchange(address: string, family: 4 | 6, port: number, query: Buffer, id: number, signal: AbortSignal): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    let connected = 0;
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const finish = (r: { reply?: Buffer; error?: Error }) => {
      signal.removeEventListener('abort', onAbort);
      socket.close();
      const now = performance.now();
      resolve({ connectS: ((connected || now) - started) / 1000, requestS: connected ? (now - connected) / 1000 : 0, ...r });
    };
    const onAbort = () => finish({ error: new Error('timed out') });
    signal.addEventListener('abort', onAbort, { once: true });
    // A refused port shows as an error on a connected socket (the ICMP unreachable it got).
    socket.once('error', (error) => finish({ error }));
    socket.on('message', (m: Buffer) => {
      if (m.length >= 12 && m.readUInt16BE(0) === id) finish({ reply: m });
    });
    socket.connect(port, address, () => {
      connected = performance.now();
      socket.send(query);
    });
  });
}
