import type { Sample } from '@falconet/protocol';
import { ErrorBody, PushAnswer, PushBody, PushQuery } from '@falconet/protocol/api';
import type { FastifyError, FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { ApiError } from '../api/errors.ts';
import type { IngestCounters, RejectReason } from './counters.ts';
import { PushError, type PushWriter, pushedSample } from './push.ts';
import { httpSender } from './push-auth.ts';
import type { PushedSample, PushLimits } from './push-limits.ts';

export interface PushApiOptions {
  writer: PushWriter;
  counters: IngestCounters;
  limits: PushLimits;
  maxMessageBytes: number;
  maxSamplesPerReport: number;
  maxClockSkewMs: number;
}

/**
 * POST /api/v1/push: a JSON array of Open-Falcon records or Falconet samples, for scripts. All or
 * nothing: the first bad record, or a request past the caller's push caps, refuses the request with
 * a message naming it, and nothing is stored.
 */
export const pushApi: FastifyPluginAsyncZod<PushApiOptions> = async (app, opts) => {
  const { writer, counters, limits, maxSamplesPerReport, maxClockSkewMs } = opts;
  const refuse = (err: PushError, reply: FastifyReply): never => {
    counters.reject('http', err.reason);
    if (err.reason === 'rate_limited' && err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs)) {
      reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
    }
    throw new ApiError(err.reason === 'rate_limited' && Number.isFinite(err.retryAfterMs) ? 429 : 400, err.reason, err.message);
  };
  app.post(
    '/api/v1/push',
    {
      config: { minRole: 'operator' },
      bodyLimit: opts.maxMessageBytes,
      // Count what Fastify refuses before the handler (bad JSON, too large), then answer as usual.
      errorHandler: (err: FastifyError) => {
        const status = err.statusCode ?? 500;
        const reason: RejectReason | undefined =
          err instanceof ApiError ? undefined : status === 413 ? 'too_large' : status === 400 || status === 415 ? 'malformed' : undefined;
        if (reason) counters.reject('http', reason);
        throw err;
      },
      schema: {
        summary: 'Push samples: Open-Falcon records or Falconet samples, as a JSON array',
        description:
          'Each element is either an Open-Falcon record {metric, endpoint, tags, value, timestamp, step, counterType} ' +
          '(the endpoint becomes the host label) or a Falconet sample {name, labels, value, timestampMs}, whose host is its ' +
          '"host" label or ?host=. Samples are stored under the agent id push:<host>.',
        tags: ['ingest'],
        querystring: PushQuery,
        body: PushBody,
        response: { 200: PushAnswer, 400: ErrorBody, 413: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const records = req.body;
      if (records.length > maxSamplesPerReport) {
        counters.reject('http', 'too_many_samples');
        throw new ApiError(400, 'too_many_samples', `body: ${records.length} records; at most ${maxSamplesPerReport} per request`);
      }
      const now = Date.now();
      const pushed: PushedSample[] = [];
      try {
        for (let i = 0; i < records.length; i++) {
          const p = pushedSample(records[i], `body ${i}`, req.query.host, now, maxClockSkewMs);
          limits.checkShape(p.sample, `body ${i}`);
          pushed.push(p);
        }
        limits.admit(httpSender(req.identity, req.ip), pushed, 'body');
      } catch (err) {
        if (!(err instanceof PushError)) throw err;
        return refuse(err, reply);
      }
      const byHost = new Map<string, Sample[]>();
      for (const { host, sample } of pushed) {
        const list = byHost.get(host);
        if (list) list.push(sample);
        else byHost.set(host, [sample]);
      }
      await writer.write('http', byHost);
      return { accepted: records.length, hosts: byHost.size };
    },
  );
};
