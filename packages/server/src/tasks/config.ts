import { duration } from '@falconet/protocol/config';
import { z } from 'zod';

/** A comma-separated string (from the environment) or a list of etcd endpoints. */
const endpoints = z.union([z.string(), z.array(z.string())]).transform((v) =>
  (Array.isArray(v) ? v : v.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`)),
);

export const serverTasksSchema = z
  .object({
    /** `etcd`: cron jobs are written to etcd for agents to watch, and agents' health leases are watched. */
    backend: z.enum(['stream', 'etcd']).default('stream'),
    etcd: z
      .object({ endpoints: endpoints.default([]) })
      .strict()
      .default({ endpoints: [] }),
    /** Tasks, runs and their output older than this are deleted. */
    retention: duration()
      .default(30 * 86_400_000)
      .refine((ms) => ms >= 60_000, 'must be at least 1m'),
    /** Audit entries older than this are deleted. */
    audit_retention: duration()
      .default(365 * 86_400_000)
      .refine((ms) => ms >= 60_000, 'must be at least 1m'),
    /** Output stored per run, at most (the agent caps it too, with tasks.output_limit). */
    output_limit: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.backend === 'etcd' && t.etcd.endpoints.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['etcd', 'endpoints'], message: 'tasks.backend etcd needs at least one endpoint' });
    }
  });

export type ServerTasksConfig = z.output<typeof serverTasksSchema>;

export const SERVER_TASKS_DEFAULTS: ServerTasksConfig = serverTasksSchema.parse({});
