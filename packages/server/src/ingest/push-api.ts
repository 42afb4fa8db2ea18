import type { Sample } from '@falconet/protocol';
import type { FastifyError } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import '../api/access.ts';
import { ApiError } from '../api/errors.ts';
import { ErrorResponse } from '../api/schemas.ts';
import type { IngestCounters, RejectReason } from './counters.ts';
import { PushError, type PushWriter, pushedSample } from './push.ts';

export interface PushApiOptions {
  writer: PushWriter;
  counters: IngestCounters;
  maxMessageBytes: number;
  maxSamplesPerReport: number;
  maxClockSkewMs: number;
}

/**
 * POST /api/v1/push: a JSON array of Open-Falcon records or Falconet samples, for scripts. All or
 * nothing: the first bad record refuses the request with a message naming it, and nothing is stored.
 */
export const pushApi: FastifyPluginAsyncZod<PushApiOptions> = async (app, opts) => {
  const { writer, counters, maxSamplesPerReport, maxClockSkewMs } = opts;
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
        querystring: z.object({ host: z.string().min(1).max(255).optional().describe('host of Falconet samples without a host label') }),
        body: z.array(z.unknown()).describe('Open-Falcon records or Falconet samples'),
        response: {
          200: z.object({ accepted: z.number(), hosts: z.number() }),
          400: ErrorResponse,
          413: ErrorResponse,
        },
      },
    },
    async (req) => {
      const records = req.body;
      if (records.length > maxSamplesPerReport) {
        counters.reject('http', 'too_many_samples');
        throw new ApiError(400, 'too_many_samples', `body: ${records.length} records; at most ${maxSamplesPerReport} per request`);
      }
      const now = Date.now();
      const byHost = new Map<string, Sample[]>();
      for (let i = 0; i < records.length; i++) {
        try {
          const { host, sample } = pushedSample(records[i], `body ${i}`, req.query.host, now, maxClockSkewMs);
          const list = byHost.get(host);
          if (list) list.push(sample);
          else byHost.set(host, [sample]);
        } catch (err) {
          if (!(err instanceof PushError)) throw err;
          counters.reject('http', err.reason);
          throw new ApiError(400, err.reason, err.message);
        }
      }
      await writer.write('http', byHost);
      return { accepted: records.length, hosts: byHost.size };
    },
  );
};
