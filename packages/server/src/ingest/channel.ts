import {
  AgentChannelService,
  CompactDecoder,
  decodeLogPayload,
  decodePayload,
  isValidLabelName,
  isValidMetricName,
  PayloadError,
  PayloadKind,
  pb,
  reportAad,
  type Sample,
  SharedDefinitions,
  unwrapPayload,
} from '@falconet/protocol';
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AuditEvent } from '../auth/audit.ts';
import { checkLogRecords, type LogSink } from '../logs/ingest.ts';
import type { MonitorChannelHooks } from '../monitors/assignments.ts';
import type { AgentRegistry } from '../registry.ts';
import type { UpdateChannelHooks } from '../releases/service.ts';
import { type Store, StoreUnwritableError } from '../store/types.ts';
import type { TaskChannelHooks } from '../tasks/streams.ts';
import { type AgentAuthenticator, printable } from './auth.ts';
import type { IngestCounters, RejectReason } from './counters.ts';
import type { ReportFanout } from './fanout.ts';

/** What one report, one stream and the clock may be; past these a report is refused with a reason. */
export interface IngestLimits {
  /** Largest AgentMessage (and Report payload) in bytes. */
  maxMessageBytes: number;
  maxSamplesPerReport: number;
  /** Samples stamped further ahead of the server's clock than this are refused. */
  maxClockSkewMs: number;
  /** Reports of one stream waiting for the store before the server stops reading that stream. */
  maxPendingPerStream: number;
  /** How far beyond the last acknowledged sequence a report may be; further is refused (ingest.max_sequence_jump). */
  maxSequenceJump: number;
  /**
   * Series one stream's compact table may hold (its memory): an agent starts its table again past
   * 50,000, so this leaves room for one more report of new series on top.
   */
  maxSeriesPerStream: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxSamplesPerReport: 100_000,
  maxClockSkewMs: 5 * 60_000,
  maxPendingPerStream: 16,
  maxSequenceJump: 100_000_000,
  maxSeriesPerStream: 200_000,
};

/**
 * The highest sequence an agent the server holds no sequence for may start at (2^40). Far above
 * what any agent numbers (ten reports a second for three thousand years) and far below 2^53, past
 * which a number can no longer grow by one: a first report near there would leave the agent no room.
 */
export const MAX_FIRST_SEQUENCE = 2 ** 40;

/** A stored sequence above this (2^50) was never made by an agent: the agent is held off until an operator resets it. */
export const MAX_STORED_SEQUENCE = 2 ** 50;

/** Declared labels an agent may send in Register (they are shown, never trusted). */
const MAX_DECLARED_LABELS = 64;

export interface ChannelDeps {
  store: Store;
  registry: AgentRegistry;
  /** The steps after a report is stored: registry, live, alerts. */
  fanout: ReportFanout;
  log: Logger;
  counters: IngestCounters;
  limits: IngestLimits;
  authenticate: AgentAuthenticator;
  /** Tasks down the stream, task output up it (server/src/tasks). */
  tasks?: TaskChannelHooks | undefined;
  /** The audit log (auth/audit.ts): enrolments, and refusals of a known token. */
  audit?: ((e: AuditEvent) => Promise<void>) | undefined;
  /** Self-update offers down the stream, fetches and statuses up it (server/src/releases). */
  updates?: UpdateChannelHooks | undefined;
  /** Where log reports go (server/src/logs); without it they are refused as an unknown kind. */
  logs?: LogSink | undefined;
  /** The probes of the monitors that choose the agent, down the stream (server/src/monitors). */
  monitors?: MonitorChannelHooks | undefined;
}

/** An AgentMessage as the handler sees it: bytes that were not one arrive marked, not as a dead stream. */
type Incoming = pb.AgentMessage & { malformed?: string; tooLarge?: number };

/**
 * The service definition with a deserializer that never throws: gRPC would otherwise answer bad
 * bytes itself, unseen and uncounted. gRPC's own limit is kept above ours so an oversized message
 * still reaches the handler to be refused with a reason.
 */
export function agentChannelDefinition(limits: IngestLimits) {
  const connect = AgentChannelService.connect;
  return {
    connect: {
      ...connect,
      requestDeserialize: (buf: Buffer): Incoming => {
        if (buf.length > limits.maxMessageBytes) return { body: undefined, tooLarge: buf.length };
        try {
          return pb.AgentMessage.decode(buf);
        } catch (err) {
          return { body: undefined, malformed: (err as Error).message };
        }
      },
    },
  } as typeof AgentChannelService;
}

/** gRPC's hard limit on one message: above ours, so what lies between is refused with a reason. */
export function grpcMessageLimit(limits: IngestLimits): number {
  return limits.maxMessageBytes * 2 + 64 * 1024;
}

const AGENT_ID = /^[A-Za-z0-9._-]{1,128}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** What is wrong with a Register beyond its token, or undefined. */
function registerProblem(reg: pb.Register): string | undefined {
  if (!AGENT_ID.test(reg.agentId)) return `invalid agent id "${printable(reg.agentId, 64)}" (letters, digits, . _ -; at most 128)`;
  if (reg.hostname.length === 0 || reg.hostname.length > 255 || CONTROL.test(reg.hostname)) {
    return `invalid hostname "${printable(reg.hostname, 64)}" (1 to 255 characters, no control characters)`;
  }
  const labels = Object.entries(reg.labels);
  if (labels.length > MAX_DECLARED_LABELS) return `${labels.length} labels; at most ${MAX_DECLARED_LABELS}`;
  for (const [k, v] of labels) {
    if (!isValidLabelName(k) || v.length > 1024) return `label "${printable(k, 64)}": not a label name, or a value over 1024 characters`;
  }
  return undefined;
}

/** Why a report's sequence is refused before anything is stored, or undefined when it may be. */
function sequenceProblem(seq: number, floor: number, maxJump: number): string | undefined {
  const hint = 'if this agent really numbers from there, reset its sequence state (POST /api/agents/ID/sequence/reset)';
  if (floor === 0 && seq > MAX_FIRST_SEQUENCE) {
    return `report sequence ${seq} refused: an agent the server holds no sequence for starts at or below ${MAX_FIRST_SEQUENCE}; ${hint}`;
  }
  if (floor > 0 && seq - floor > maxJump) {
    return `report sequence ${seq} is ${seq - floor} beyond the last acknowledged ${floor} (ingest.max_sequence_jump ${maxJump}): refused, not stored; ${hint}`;
  }
  return undefined;
}

class Refusal extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * Labels objects already checked, with the metric name they were checked with: a stream's decoder
 * hands every sample of a series the same (unchanged) labels object, so a series is checked once.
 */
const checkedNames = new WeakMap<Sample['labels'], string>();

/** Checks a decoded batch against the limits; the first problem names the sample and what is wrong. */
export function checkSamples(samples: readonly Sample[], limits: IngestLimits, nowMs: number): void {
  if (samples.length > limits.maxSamplesPerReport) {
    throw new Refusal('too_many_samples', `${samples.length} samples in one report; the limit is ${limits.maxSamplesPerReport}`);
  }
  let ahead = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    if (checkedNames.get(s.labels) !== s.name) {
      if (!isValidMetricName(s.name)) throw new Refusal('bad_sample', `sample ${i}: "${s.name.slice(0, 80)}" is not a valid metric name`);
      for (const k of Object.keys(s.labels)) {
        if (!isValidLabelName(k)) throw new Refusal('bad_sample', `sample ${i} (${s.name}): "${k.slice(0, 80)}" is not a valid label name`);
      }
      checkedNames.set(s.labels, s.name);
    }
    ahead = Math.max(ahead, s.timestampMs - nowMs);
  }
  if (ahead > limits.maxClockSkewMs) {
    throw new Refusal(
      'clock_skew',
      `samples are stamped ${Math.round(ahead / 1000)} s ahead of the server's clock (limit ${Math.round(limits.maxClockSkewMs / 1000)} s); fix the agent host's clock (NTP)`,
    );
  }
}

/**
 * The server's half of the agent channel. A stream opens with Register, which must carry a valid
 * token when one is required; its reports are then checked, stored one after another, and each is
 * acknowledged only once the store says it is durable. A refused report gets Ack{seq, error} and is
 * counted; a refused stream ends with a status naming why. One stream's trouble stays its own.
 */
export function agentChannelHandler(deps: ChannelDeps) {
  // One copy of each series definition alike agents share, whichever stream brought it (docs/adr/0004-server-memory.md).
  const definitions = new SharedDefinitions();
  return (call: ServerDuplexStream<Incoming, pb.ServerMessage>): void => {
    const { log, store, registry, fanout, counters, limits } = deps;
    let agentId: string | undefined;
    let tokenId: string | undefined;
    let payloadKey: Buffer | undefined;
    /** Highest sequence this stream may not send again: the store's at Register, then each report's. */
    let floor = 0;
    let chain: Promise<void> = Promise.resolve();
    /** The compact encoding's table of this stream, when the agent offered it at Register. */
    let compact: CompactDecoder | undefined;
    let pending = 0;
    let closed = false;
    let detachTasks: (() => void) | undefined;
    let detachUpdates: (() => void) | undefined;
    let detachMonitors: (() => void) | undefined;
    const sendDown = (m: pb.ServerMessage): boolean => {
      if (closed) return false;
      call.write(m);
      return true;
    };
    counters.streams++;
    const peer = call.getPeer();

    const fail = (code: GrpcStatus, reason: RejectReason | undefined, message: string) => {
      if (closed) return;
      closed = true;
      if (reason) counters.reject('grpc', reason);
      // A full store says so once in its own log line; each agent's retry would repeat it.
      if (reason === 'store_full') log.debug({ peer, agentId, code, reason, message }, 'agent stream refused');
      else log.warn({ peer, agentId, code, reason, message }, 'agent stream refused');
      call.emit('error', { code, details: message });
    };

    /** An audit entry about this stream's agent: the token is the actor (or the agent id, without one). */
    const audit = async (
      claimed: { agentId: string; hostname: string },
      token: string | undefined,
      action: string,
      outcome: 'ok' | 'denied',
      detail: Record<string, unknown>,
    ) => {
      await deps.audit?.({
        actor: token ? `agent-token:${token}` : `agent:${printable(claimed.agentId)}`,
        action,
        target: printable(claimed.agentId),
        address: peer.replace(/^ipv[46]:/, ''),
        outcome,
        detail: { agentId: printable(claimed.agentId), hostname: printable(claimed.hostname), ...(token ? { token } : {}), ...detail },
      });
    };

    const refuseReport = (seq: number, reason: RejectReason, message: string) => {
      counters.rejected++;
      counters.reject('grpc', reason);
      log.warn({ agentId, seq, reason, message }, 'report refused');
      if (!closed) call.write({ body: { $case: 'ack', value: { seq, error: message } } });
    };

    /** A LOGS report: decoded, checked, stored with its sequence in one step, acknowledged, then tailed. */
    const storeLogs = async (agent: string, r: pb.Report, arrived: number, logs: LogSink): Promise<void> => {
      let records: pb.LogRecord[];
      try {
        records = decodeLogPayload(r.encoding, r.payload, {
          key: payloadKey,
          aad: reportAad(agent, r.seq),
          maxBytes: limits.maxMessageBytes * 16,
        }).records;
        const problem = checkLogRecords(records, limits, Date.now());
        if (problem) return refuseReport(r.seq, problem.reason, problem.message);
      } catch (err) {
        const message = err instanceof PayloadError ? err.message : String(err);
        return refuseReport(r.seq, /authentication|no key/.test(message) ? 'decrypt_failed' : 'malformed', message);
      }
      const host = registry.get(agent)?.hostname ?? agent;
      const { duplicate, lines } = await logs.store.appendReport(agent, host, r.seq, records);
      if (duplicate) counters.duplicates++;
      else counters.reports++;
      if (!closed) call.write({ body: { $case: 'ack', value: { seq: r.seq, error: '' } } });
      counters.ackSeconds.observe((performance.now() - arrived) / 1000);
      if (!duplicate) {
        await registry.seen(agent);
        logs.stored(lines);
      }
    };

    const handle = async (msg: Incoming, arrived: number): Promise<void> => {
      if (closed) return;
      if (msg.malformed !== undefined)
        return fail(GrpcStatus.INVALID_ARGUMENT, 'malformed', `malformed AgentMessage protobuf: ${msg.malformed}`);
      if (msg.tooLarge !== undefined) {
        return fail(GrpcStatus.RESOURCE_EXHAUSTED, 'too_large', `message of ${msg.tooLarge} bytes; the limit is ${limits.maxMessageBytes}`);
      }
      const body = msg.body;
      if (!body) return;
      if (body.$case === 'register') {
        const reg = body.value;
        if (agentId) return fail(GrpcStatus.FAILED_PRECONDITION, 'protocol', 'Register may only open a stream');
        const problem = registerProblem(reg);
        if (problem) return fail(GrpcStatus.INVALID_ARGUMENT, 'protocol', problem);
        const auth = await deps.authenticate(reg, peer);
        if (!auth.ok) {
          // A known token refused is worth an audit entry; an unknown one is anyone's to try (server log only).
          if (auth.tokenId) await audit(reg, auth.tokenId, 'agent.register', 'denied', { reason: auth.reason, message: auth.message });
          return fail(GrpcStatus.UNAUTHENTICATED, auth.reason, auth.message);
        }
        if (closed) return;
        // Refused before it counts as connected: the agent keeps its reports and backs off, growing
        // the wait each time, rather than registering and losing the stream on every report.
        const full = store.unwritable?.();
        if (full) return fail(GrpcStatus.RESOURCE_EXHAUSTED, 'store_full', `${full}; reports stay in the agent's spool until it has room`);
        if (auth.enrolled) await audit(reg, auth.tokenId, 'agent.enrol', 'ok', {});
        // Sample and log reports share one sequence: the agent resumes after the higher of the two stores.
        const stored = Math.max(await store.lastSeq(reg.agentId), (await deps.logs?.store.lastSeq(reg.agentId)) ?? 0);
        if (stored > MAX_STORED_SEQUENCE) {
          // Left by a report no agent makes (an attack before this check existed): telling the agent
          // would make it drop its whole spool and number from there, so it is held off instead.
          const message = `the server holds sequence ${stored} for agent "${reg.agentId}", beyond any an agent makes; an operator must reset its sequence state (POST /api/agents/${reg.agentId}/sequence/reset) before it may report`;
          await audit(reg, auth.tokenId, 'agent.register', 'denied', { reason: 'sequence_jump', message, lastSeq: stored });
          registry.sequenceRefused(reg.agentId, { seq: stored, lastSeq: stored });
          return fail(GrpcStatus.FAILED_PRECONDITION, 'sequence_jump', message);
        }
        // The stream may have ended while the audit and the store answered: it must not count as connected.
        if (closed) return;
        agentId = reg.agentId;
        tokenId = auth.tokenId;
        payloadKey = auth.payloadKey;
        await registry.connected(reg, { tokenLabels: auth.labels ?? {} });
        floor = stored;
        compact = reg.compactSamples ? new CompactDecoder(limits.maxSeriesPerStream, definitions) : undefined;
        const taskPublicKey = deps.tasks?.publicKey ?? Buffer.alloc(0);
        call.write({
          body: {
            $case: 'registered',
            value: {
              agentId,
              lastSeq: floor,
              intervalMs: 0,
              serverTimeMs: Date.now(),
              taskPublicKey,
              compactSamples: compact !== undefined,
            },
          },
        });
        log.info({ agentId, hostname: reg.hostname, peer, lastSeq: floor, token: auth.tokenId }, 'agent connected');
        detachTasks?.();
        detachTasks = deps.tasks?.attach(agentId, sendDown);
        detachUpdates?.();
        detachUpdates = deps.updates?.attach(reg, sendDown);
        detachMonitors?.();
        detachMonitors = deps.monitors?.attach(agentId, sendDown);
        return;
      }
      if (!agentId) return fail(GrpcStatus.FAILED_PRECONDITION, 'protocol', 'the first message on a stream must be Register');
      // The stream may end while this message awaits the store, and its end clears `agentId`: what
      // follows the await (the fan-out to registry, live and alert windows) names the agent it had.
      const streamAgent = agentId;
      if (body.$case === 'report') {
        const r = body.value;
        // A compact report is decoded before anything may refuse it: the stream's table must take
        // every batch the agent's did, refused or not. One that does not fit ends the stream (the
        // agent keeps the report and sends it again on a new stream, with a new table).
        let compactSamples: Sample[] | undefined;
        if (r.kind === PayloadKind.PAYLOAD_KIND_COMPACT_SAMPLES) {
          if (!compact)
            return fail(GrpcStatus.FAILED_PRECONDITION, 'protocol', 'a compact report on a stream that did not offer them at Register');
          try {
            const opts = { key: payloadKey, aad: reportAad(agentId, r.seq), maxBytes: limits.maxMessageBytes * 16 };
            compactSamples = compact.decodeBytes(unwrapPayload(r.encoding, r.payload, opts));
          } catch (err) {
            const message = err instanceof PayloadError ? err.message : String(err);
            return fail(GrpcStatus.ABORTED, 'malformed', `report ${r.seq}: ${message}; the stream must start again`);
          }
        }
        if (r.seq <= floor) {
          // The agent learned the server's last_seq at Register; sending at or below it is a replay.
          return refuseReport(
            r.seq,
            'replayed_sequence',
            `sequence ${r.seq} replayed: this server already holds up to ${floor} for this agent`,
          );
        }
        const jump = sequenceProblem(r.seq, floor, limits.maxSequenceJump);
        if (jump) {
          // The stream ends rather than acknowledging with an error: the agent keeps the report in its
          // spool and retries, so nothing is lost if an operator decides the jump is real and resets.
          counters.rejected++;
          registry.sequenceRefused(agentId, { seq: r.seq, lastSeq: floor });
          await audit({ agentId, hostname: registry.get(agentId)?.hostname ?? '' }, tokenId, 'agent.report', 'denied', {
            reason: 'sequence_jump',
            message: jump,
            seq: r.seq,
            lastSeq: floor,
          });
          return fail(GrpcStatus.FAILED_PRECONDITION, 'sequence_jump', jump);
        }
        floor = r.seq;
        if (r.sampleCount > limits.maxSamplesPerReport) {
          return refuseReport(
            r.seq,
            'too_many_samples',
            `${r.sampleCount} ${r.kind === PayloadKind.PAYLOAD_KIND_LOGS ? 'log records' : 'samples'} in one report; the limit is ${limits.maxSamplesPerReport}`,
          );
        }
        if (r.kind === PayloadKind.PAYLOAD_KIND_LOGS && deps.logs) return storeLogs(agentId, r, arrived, deps.logs);
        if (r.kind !== PayloadKind.PAYLOAD_KIND_SAMPLES && !compactSamples) {
          return refuseReport(r.seq, 'unknown_kind', `report kind ${r.kind} is not one this server stores (it stores samples)`);
        }
        let samples: Sample[];
        try {
          samples =
            compactSamples ??
            decodePayload(r.encoding, r.payload, {
              key: payloadKey,
              aad: reportAad(agentId, r.seq),
              maxBytes: limits.maxMessageBytes * 16,
            });
          checkSamples(samples, limits, Date.now());
        } catch (err) {
          if (err instanceof Refusal) return refuseReport(r.seq, err.reason, err.message);
          const message = err instanceof PayloadError ? err.message : String(err);
          return refuseReport(r.seq, /authentication|no key/.test(message) ? 'decrypt_failed' : 'malformed', message);
        }
        const { duplicate, refusedSamples = 0, refusal = '' } = await store.appendReport(agentId, r.seq, samples);
        if (duplicate) counters.duplicates++;
        else {
          counters.reports++;
          counters.reportsBy[compactSamples ? 'compact' : 'sample_batch']++;
          counters.stored('grpc', samples.length - refusedSamples);
          // Stored in part (new series past store.max_series): the agent reads why; there is nothing to resend.
          if (refusal) counters.reject('grpc', 'too_many_series');
        }
        if (!closed) call.write({ body: { $case: 'ack', value: { seq: r.seq, error: refusal } } });
        counters.ackSeconds.observe((performance.now() - arrived) / 1000);
        if (!duplicate) await fanout.stored(streamAgent, samples);
        return;
      }
      if (body.$case === 'heartbeat') await registry.seen(agentId);
      if (body.$case === 'updateFetch') {
        if (deps.updates) await deps.updates.fetch(agentId, body.value, sendDown);
        else {
          const { rolloutId, offset } = body.value;
          sendDown({
            body: { $case: 'updateChunk', value: { rolloutId, offset, data: Buffer.alloc(0), error: 'this server offers no updates' } },
          });
        }
      }
      if (body.$case === 'updateStatus') await deps.updates?.status(agentId, body.value);
      if (body.$case === 'taskOutput') {
        const refused = await deps.tasks?.output(agentId, body.value, sendDown);
        if (refused) {
          await audit({ agentId, hostname: registry.get(agentId)?.hostname ?? '' }, tokenId, 'task.output', 'denied', {
            taskId: printable(body.value.taskId),
            runId: printable(body.value.runId),
            message: refused,
          });
        }
      }
    };

    call.on('data', (msg: Incoming) => {
      // Reports of one agent are stored strictly in order, so an ack for N implies all before N.
      // Past maxPendingPerStream the stream stops being read: HTTP/2 flow control slows the agent.
      pending++;
      if (pending >= limits.maxPendingPerStream && !call.isPaused()) call.pause();
      const arrived = msg.body?.$case === 'report' ? performance.now() : 0;
      chain = chain
        .then(() => handle(msg, arrived))
        .catch((err: unknown) => {
          if (err instanceof StoreUnwritableError) {
            counters.rejected++;
            return fail(GrpcStatus.RESOURCE_EXHAUSTED, 'store_full', `${err.message}; reports stay in the agent's spool until it has room`);
          }
          log.error({ err, agentId }, 'report could not be stored');
          fail(GrpcStatus.UNAVAILABLE, undefined, 'the server could not store the report; it will be resent');
        })
        .finally(() => {
          pending--;
          if (pending <= limits.maxPendingPerStream / 2 && call.isPaused() && !closed) call.resume();
        });
    });
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      closed = true;
      counters.streams--;
      detachTasks?.();
      detachUpdates?.();
      detachMonitors?.();
      if (agentId) {
        registry.disconnected(agentId);
        log.info({ agentId, peer }, 'agent disconnected');
      }
      agentId = undefined;
    };
    call.on('end', () => {
      call.end();
      done();
    });
    call.on('cancelled', done);
    call.on('error', done);
  };
}
