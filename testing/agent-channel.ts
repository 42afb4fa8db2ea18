/**
 * A scripted agent speaking the real agent channel: raw AgentMessages (or raw bytes) on a real gRPC
 * stream, so a test can send what no well-behaved agent would (another agent's identity, sequence
 * jumps, task output for runs it never got) and read every answer. Also what a test hands the
 * agent's real ReportStream: a sequence in memory and a bare identity.
 */
import type { AgentIdentity, SequenceSource } from '@falconet/agent';
import { encodeLogPayload, encodePayload, type pb, pb as proto, type Sample } from '@falconet/protocol';
import { type ClientDuplexStream, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';

const RawClient = makeGenericClientConstructor(
  {
    connect: {
      path: '/falconet.v1.AgentChannel/Connect',
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (m: pb.ServerMessage) => Buffer.from(proto.ServerMessage.encode(m).finish()),
      responseDeserialize: (b: Buffer) => proto.ServerMessage.decode(b),
    },
  },
  'AgentChannel',
);

/** Report sequence numbers kept in memory, for a real ReportStream in a test (the agent keeps them on disk). */
export class MemorySequence implements SequenceSource {
  #next = 1;
  next(): number {
    return this.#next++;
  }
  advancePast(seq: number): void {
    if (seq >= this.#next) this.#next = seq + 1;
  }
}

/** An identity for a real ReportStream in a test: the id as host name, every other field empty unless given. */
export function bareIdentity(agentId: string, over: Partial<AgentIdentity> = {}): AgentIdentity {
  return { agentId, hostname: agentId, ips: [], primaryIp: '', os: '', kernel: '', arch: '', platform: '', bootTimeMs: 0, ...over };
}

export interface RawStream {
  send(msg: pb.AgentMessage | Buffer): void;
  /** The next message from the server, in order. */
  next(): Promise<pb.ServerMessage>;
  /** Every message received so far (those taken by next() included). */
  readonly received: pb.ServerMessage[];
  /** Resolves when the server ends the stream: with its status when it ended it with an error. */
  ended: Promise<ServiceError | undefined>;
  close(): void;
}

/** Opens one plaintext stream to `target` (HOST:PORT). */
export function rawStream(target: string): RawStream {
  const client = new RawClient(target, credentials.createInsecure());
  const call = (client as unknown as { connect(): ClientDuplexStream<Buffer, pb.ServerMessage> }).connect();
  const inbox: pb.ServerMessage[] = [];
  const received: pb.ServerMessage[] = [];
  const waiters: ((m: pb.ServerMessage) => void)[] = [];
  call.on('data', (m: pb.ServerMessage) => {
    received.push(m);
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('error', (e: ServiceError) => resolve(e));
    call.on('end', () => resolve(undefined));
  });
  return {
    send: (msg) => call.write(Buffer.isBuffer(msg) ? msg : Buffer.from(proto.AgentMessage.encode(msg).finish())),
    next: () => {
      const m = inbox.shift();
      return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
    },
    received,
    ended,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

/** A Register as an agent sends it; the host name defaults to `${agentId}-host`. */
export function registerMessage(agentId: string, fields: Partial<pb.Register> = {}): pb.AgentMessage {
  return {
    body: {
      $case: 'register',
      value: proto.Register.fromPartial({
        agentId,
        hostname: `${agentId}-host`,
        os: 'test',
        version: 'test',
        intervalMs: 1000,
        ...fields,
      }),
    },
  };
}

export function reportMessage(seq: number, samples: Sample[], override: Partial<pb.Report> = {}): pb.AgentMessage {
  const { encoding, payload } = encodePayload(samples, { gzip: true });
  return {
    body: {
      $case: 'report',
      value: {
        seq,
        encoding,
        payload,
        sampleCount: samples.length,
        createdMs: Date.now(),
        kind: proto.PayloadKind.PAYLOAD_KIND_SAMPLES,
        ...override,
      },
    },
  };
}

/** A LOGS report of `records` (gzip), as the agent's log shipping sends one. */
export function logReportMessage(seq: number, records: pb.LogRecord[], override: Partial<pb.Report> = {}): pb.AgentMessage {
  const { encoding, payload } = encodeLogPayload({ records, dropped: {} }, { gzip: true });
  return {
    body: {
      $case: 'report',
      value: {
        seq,
        encoding,
        payload,
        sampleCount: records.length,
        createdMs: Date.now(),
        kind: proto.PayloadKind.PAYLOAD_KIND_LOGS,
        ...override,
      },
    },
  };
}

/** Sends Register and resolves with the server's Registered; throws with the status when refused. */
export async function registerOn(s: RawStream, msg: pb.AgentMessage): Promise<pb.Registered> {
  s.send(msg);
  const m = await Promise.race([s.next(), s.ended.then((e) => e ?? new Error('the server ended the stream'))]);
  if ('body' in m && m.body?.$case === 'registered') return m.body.value;
  throw m instanceof Error ? m : new Error(`expected registered, got ${JSON.stringify(m)}`);
}

/** The value of falconet_server_ingest_rejected_total{channel, reason} in a /metrics text; 0 when absent. */
export function rejectedCount(metricsText: string, channel: string, reason: string): number {
  const m = new RegExp(`^falconet_server_ingest_rejected_total\\{channel="${channel}",reason="${reason}"\\} (\\d+)`, 'm').exec(metricsText);
  return m ? Number(m[1]) : 0;
}
