import { isValidLabelName, isValidMetricName, type Sample } from '@falconet/protocol';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import '../api/access.ts';
import { ApiError } from '../api/errors.ts';
import type { IngestCounters } from '../ingest/counters.ts';
import { PushError, type PushWriter } from '../ingest/push.ts';
import { httpSender } from '../ingest/push-auth.ts';
import type { PushedSample, PushLimits } from '../ingest/push-limits.ts';
import { SnappyError, snappyDecode } from './snappy.ts';
import { decodeWriteRequest, decodeWriteRequestV2, type RemoteSeries, WriteRequestError } from './write-request.ts';

export interface RemoteWriteOptions {
  writer: PushWriter;
  counters: IngestCounters;
  limits: PushLimits;
  /** Largest compressed body, and (times 8) largest decompressed one. */
  maxMessageBytes: number;
  maxClockSkewMs: number;
}

/** What a remote_write sender names in Content-Type's proto= (1.0 may leave it out). */
const V1_PROTO = 'prometheus.WriteRequest';
const V2_PROTO = 'io.prometheus.write.v2.Request';

/**
 * The host a written series is stored under (`push:<host>`): its `instance` label as Prometheus sets
 * it for every scraped target, else its `host` label, else the sender (one token's recording rules).
 */
export function remoteHost(labels: Record<string, string>, senderName: string): string {
  const h = labels.instance || labels.host || senderName;
  return h.length > 255 || /[\s\p{Cc}]/u.test(h) ? senderName : h;
}

/**
 * Turns decoded series into pushed samples, checking names. A staleness marker is stored as a NaN
 * sample: the query API reads a NaN in a written series as the series ending there, as Prometheus does.
 */
export function remoteSamples(series: readonly RemoteSeries[], senderName: string, nowMs: number, maxSkewMs: number): PushedSample[] {
  const out: PushedSample[] = [];
  for (let i = 0; i < series.length; i++) {
    const s = series[i] as RemoteSeries;
    const where = `timeseries[${i}]`;
    const labels: Record<string, string> = {};
    let name: string | undefined;
    for (const l of s.labels) {
      if (l.name === '__name__') {
        name = l.value;
        continue;
      }
      if (!isValidLabelName(l.name)) throw new PushError('bad_sample', `${where}: "${l.name.slice(0, 80)}" is not a valid label name`);
      if (Object.hasOwn(labels, l.name)) throw new PushError('bad_sample', `${where}: label ${l.name} appears twice`);
      if (l.value !== '') labels[l.name] = l.value;
    }
    if (name === undefined) throw new PushError('bad_sample', `${where}: has no __name__ label`);
    if (!isValidMetricName(name)) throw new PushError('bad_sample', `${where}: __name__ "${name.slice(0, 80)}" is not a valid metric name`);
    const host = remoteHost(labels, senderName);
    for (const p of s.samples) {
      if (p.timestampMs - nowMs > maxSkewMs) {
        throw new PushError(
          'clock_skew',
          `${where} (${name}): timestamp is ${Math.round((p.timestampMs - nowMs) / 1000)} s ahead of the server's clock (limit ${Math.round(maxSkewMs / 1000)} s)`,
        );
      }
      if (p.timestampMs <= 0)
        throw new PushError('bad_sample', `${where} (${name}): timestamp ${p.timestampMs} is not milliseconds since 1970`);
      out.push({ host, sample: { name, labels, value: p.stale ? Number.NaN : p.value, timestampMs: p.timestampMs } });
    }
  }
  return out;
}

/**
 * POST /api/v1/write: a Prometheus remote_write 1.0 and 2.0 receiver (snappy-compressed protobuf
 * WriteRequest, or 2.0's Request with its symbols table). The sender is an API token of the operator role, as for POST /api/v1/push, and
 * shares that path's caps (series per sender, samples per second). All or nothing per request:
 * a refused request stores nothing, so the sender's retry does not duplicate.
 */
export const remoteWriteApi: FastifyPluginAsync<RemoteWriteOptions> = async (app, opts) => {
  const { writer, counters, limits, maxMessageBytes, maxClockSkewMs } = opts;
  app.addContentTypeParser(
    ['application/x-protobuf', 'application/octet-stream'],
    { parseAs: 'buffer', bodyLimit: maxMessageBytes },
    (_req, body, done) => done(null, body),
  );
  const refuse = (reply: FastifyReply, status: number, code: string, message: string): never => {
    const v2 = String(reply.request.headers['content-type']).includes(V2_PROTO);
    reply.header('x-prometheus-remote-write-version', v2 ? '2.0.0' : '0.1.0');
    throw new ApiError(status, code, message);
  };
  app.post(
    '/api/v1/write',
    { config: { minRole: 'operator', audit: false }, bodyLimit: maxMessageBytes, schema: { hide: true } },
    async (req, reply) => {
      const type = req.headers['content-type'] ?? '';
      const proto = /;\s*proto=([^;\s]+)/.exec(type)?.[1];
      if (proto && proto !== V1_PROTO && proto !== V2_PROTO) {
        counters.reject('http', 'malformed');
        return refuse(
          reply,
          415,
          'unsupported_media_type',
          `Content-Type proto=${proto}: remote_write 1.0 (${V1_PROTO}) or 2.0 (${V2_PROTO}) are received here`,
        );
      }
      const v2 = proto === V2_PROTO;
      // 2.0 senders read what was written from these headers; nothing is, until the request is stored whole.
      const written = (samples: number) => {
        if (!v2) return;
        reply.header('x-prometheus-remote-write-samples-written', String(samples));
        reply.header('x-prometheus-remote-write-histograms-written', '0');
        reply.header('x-prometheus-remote-write-exemplars-written', '0');
      };
      written(0);
      const encoding = req.headers['content-encoding'];
      if (encoding !== 'snappy') {
        counters.reject('http', 'malformed');
        return refuse(
          reply,
          415,
          'unsupported_media_type',
          `Content-Encoding ${JSON.stringify(encoding ?? '')}: remote_write bodies must be snappy`,
        );
      }
      const body = req.body;
      if (!(body instanceof Buffer)) {
        counters.reject('http', 'malformed');
        return refuse(reply, 415, 'unsupported_media_type', 'Content-Type must be application/x-protobuf');
      }
      let series: RemoteSeries[];
      try {
        const raw = snappyDecode(body, maxMessageBytes * 8);
        series = v2 ? decodeWriteRequestV2(raw) : decodeWriteRequest(raw);
      } catch (err) {
        if (!(err instanceof SnappyError || err instanceof WriteRequestError)) throw err;
        counters.reject('http', 'malformed');
        return refuse(reply, 400, 'malformed', `body: ${err.message}`);
      }
      const sender = httpSender(req.identity, req.ip);
      let pushed: PushedSample[];
      try {
        pushed = remoteSamples(series, sender.name, Date.now(), maxClockSkewMs);
        for (let i = 0; i < pushed.length; i++) limits.checkShape((pushed[i] as PushedSample).sample, `sample ${i}`);
        limits.admit(sender, pushed, 'body');
      } catch (err) {
        if (!(err instanceof PushError)) throw err;
        counters.reject('http', err.reason);
        if (err.reason === 'rate_limited' && err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs)) {
          reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
          return refuse(reply, 429, err.reason, err.message);
        }
        // Past the series cap, the sender should back off too; a malformed series is its fault (400, not retried).
        return refuse(reply, err.reason === 'too_many_series' || err.reason === 'too_many_hosts' ? 429 : 400, err.reason, err.message);
      }
      const byHost = new Map<string, Sample[]>();
      for (const { host, sample } of pushed) {
        const list = byHost.get(host);
        if (list) list.push(sample);
        else byHost.set(host, [sample]);
      }
      await writer.write('http', byHost);
      written(series.reduce((n, s) => n + s.samples.length, 0));
      reply.header('x-prometheus-remote-write-version', v2 ? '2.0.0' : '0.1.0');
      return reply.status(204).send();
    },
  );
};
