import { z } from 'zod';

export const ErrorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).meta({ id: 'Error' });

export const AgentSchema = z
  .object({
    id: z.string(),
    hostname: z.string(),
    ips: z.array(z.string()),
    primaryIp: z.string(),
    os: z.string(),
    kernel: z.string(),
    arch: z.string(),
    platform: z.string(),
    version: z.string(),
    labels: z
      .record(z.string(), z.string())
      .describe('declared by the agent itself: shown and filtered on, never used to choose it for tasks'),
    tokenLabels: z.record(z.string(), z.string()).describe('fixed in the token it registered with (create-token --label)'),
    serverLabels: z.record(z.string(), z.string()).describe('set on the server (PUT /api/agents/:id/labels)'),
    trustedLabels: z
      .record(z.string(), z.string())
      .describe('tokenLabels overridden by serverLabels: the only labels that choose it for label-targeted tasks'),
    bootTimeMs: z.number(),
    intervalMs: z.number(),
    firstSeenMs: z.number(),
    lastSeenMs: z.number(),
    summary: z.record(z.string(), z.number()),
    status: z.enum(['online', 'offline']),
    connected: z.boolean(),
    sequenceRefused: z
      .object({ seq: z.number(), lastSeq: z.number(), atMs: z.number() })
      .nullable()
      .describe('its reports are refused for their sequence (too far beyond the last acknowledged); an operator may reset it'),
  })
  .meta({ id: 'Agent' });

/** A query-string timestamp: milliseconds since the epoch, or an ISO 8601 time. */
export const timeParam = z.union([z.string(), z.number()]).transform((v, ctx) => {
  // Date.parse alone is lenient (it reads "' OR '1'='1" as a year): only digits or an ISO 8601 date get that far.
  const n =
    typeof v === 'number'
      ? v
      : /^\d+$/.test(v)
        ? Number(v)
        : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)
          ? Date.parse(v)
          : Number.NaN;
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a time (milliseconds since the epoch or ISO 8601)` });
    return z.NEVER;
  }
  return n;
});
