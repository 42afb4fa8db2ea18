import { isAbsolute } from 'node:path';
import { byteSize, duration } from '@falconet/protocol/config';
import { z } from 'zod';

/** A pattern an argument must match in full; checked to compile when the config loads. */
const argPattern = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(`^(?:${v})$`, 'u');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid pattern: ${(err as Error).message}` });
  }
});

const absolutePath = (what: string) => z.string().refine((v) => v === '' || isAbsolute(v), `${what} must be an absolute path`);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _');

/** A comma-separated string (from the environment) or a list of etcd endpoints. */
const endpoints = z.union([z.string(), z.array(z.string())]).transform((v) =>
  (Array.isArray(v) ? v : v.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^https?:\/\//.test(s) ? s : `http://${s}`)),
);

export const allowEntrySchema = z
  .object({
    /** A short name a task may use instead of the path. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'names are letters, digits, ".", "_" and "-"')
      .optional(),
    /** The executable or script, by absolute path; it is run directly, never through a shell. */
    command: z.string().refine(isAbsolute, 'command must be an absolute path'),
    /** Argument N must match pattern N in full. */
    args: z.array(argPattern).default([]),
    /** Every argument past the positional ones must match this; without it, none are allowed. */
    rest: argPattern.optional(),
    /** Environment variables a task may set for this command. */
    env: z.array(envName).default([]),
    working_dir: absolutePath('working_dir').optional(),
    user: z.string().optional(),
    timeout: duration().optional(),
  })
  .strict();

export const agentTasksSchema = z
  .object({
    /** Off unless switched on: an agent runs nothing it was not configured to run. */
    enabled: z.boolean().default(false),
    allow: z.array(allowEntrySchema).default([]),
    /** Where commands run unless their entry says otherwise. */
    working_dir: absolutePath('working_dir').default('/'),
    /** Who commands run as; empty runs them as the agent's user, or as nobody when the agent is root. */
    user: z.string().default(''),
    /** The whole environment a command gets (the agent's own is not passed on). */
    env: z.record(envName, z.string()).default({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }),
    /** The longest a command may run; a task may ask for less. */
    timeout: duration()
      .default(60_000)
      .refine((ms) => ms >= 100 && ms <= 86_400_000, 'must be between 100ms and 1d'),
    /** stdout and stderr together, per run; past this the output is cut (the command keeps running). */
    output_limit: byteSize()
      .default(1024 * 1024)
      .refine((n) => n >= 1024 && n <= 256 * 1024 * 1024, 'must be between 1KiB and 256MiB'),
    /** Commands running at once; more wait in a queue of `queue`, and past that are refused as busy. */
    concurrency: z.number().int().min(1).max(64).default(2),
    queue: z.number().int().min(0).max(10_000).default(16),
    /** A task issued longer ago than this (by the server's clock) is refused as expired. */
    max_age: duration()
      .default(300_000)
      .refine((ms) => ms >= 1000, 'must be at least 1s'),
    /** Output waiting for the server on disk, at most; the oldest finished runs go first past it. */
    outbox_limit: byteSize().default(64 * 1024 * 1024),
    /**
     * The server's task-signing key (base64 of the 32-byte Ed25519 key, or a PEM file's text).
     * Empty: the first key the server presents is pinned in the data directory.
     */
    server_public_key: z.string().default(''),
    /** `etcd`: cron jobs come from etcd and the agent keeps a health key there. */
    backend: z.enum(['stream', 'etcd']).default('stream'),
    etcd: z
      .object({
        endpoints: endpoints.default([]),
        lease_ttl: duration()
          .default(15_000)
          .refine((ms) => ms >= 1000 && ms % 1000 === 0, 'must be whole seconds, at least 1s'),
        renew_interval: duration()
          .default(5_000)
          .refine((ms) => ms >= 100, 'must be at least 100ms'),
      })
      .strict()
      .default({ endpoints: [], lease_ttl: 15_000, renew_interval: 5_000 }),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.backend === 'etcd' && t.etcd.endpoints.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['etcd', 'endpoints'], message: 'tasks.backend etcd needs at least one endpoint' });
    }
    if (t.etcd.renew_interval >= t.etcd.lease_ttl) {
      ctx.addIssue({ code: 'custom', path: ['etcd', 'renew_interval'], message: 'must be shorter than lease_ttl' });
    }
  });

export type AgentTasksConfig = z.output<typeof agentTasksSchema>;
export type AllowEntry = z.output<typeof allowEntrySchema>;

export const AGENT_TASKS_DEFAULTS: AgentTasksConfig = agentTasksSchema.parse({});
