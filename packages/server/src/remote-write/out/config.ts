/** `remote_write:` in falconet-server.yaml: where the server sends what it stores (docs/prometheus.md). */
import { byteSize, duration } from '@falconet/protocol/config';
import { z } from 'zod';

const relabelSchema = z
  .object({
    source_labels: z.array(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name')).default([]),
    separator: z.string().default(';'),
    regex: z.string().default('(.*)'),
    target_label: z.string().default(''),
    replacement: z.string().default('$1'),
    action: z.enum(['keep', 'drop', 'replace', 'labeldrop', 'labelkeep']).default('replace'),
  })
  .strict()
  .refine((r) => r.action !== 'replace' || r.target_label !== '', {
    message: 'action replace needs a target_label',
    path: ['target_label'],
  });

export const remoteWriteOutSchema = z
  .object({
    /** The receiver's write endpoint, e.g. http://prometheus:9090/api/v1/write. */
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
    /** A short name for /metrics and the queue directory; defaults to the URL's host and port. */
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (it names a directory)')
      .optional(),
    bearer_token: z.string().default(''),
    basic_auth: z
      .object({ username: z.string().min(1), password: z.string().default('') })
      .strict()
      .optional(),
    headers: z.record(z.string(), z.string()).default({}),
    remote_timeout: duration().default(30_000),
    write_relabel_configs: z.array(relabelSchema).default([]),
    /** Series selectors; when given, only series matching one are sent. */
    match: z.array(z.string()).default([]),
    queue: z
      .object({
        /** Requests in flight at once; series are split among them by a hash of their labels. */
        shards: z.number().int().min(1).max(64).default(4),
        max_samples_per_send: z.number().int().min(1).max(100_000).default(2000),
        /** A partial batch is sent once its oldest sample has waited this long. */
        batch_send_deadline: duration().default(5_000),
        /** Samples held in memory before they are written to the on-disk queue. */
        capacity: z.number().int().min(1).max(10_000_000).default(10_000),
        /** The on-disk queue's cap; past it the oldest unsent samples are dropped (and counted). */
        max_backlog_bytes: byteSize().default(256 * 1024 * 1024),
        min_backoff: duration().default(30),
        max_backoff: duration().default(5_000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((d) => !(d.bearer_token && d.basic_auth), { message: 'set bearer_token or basic_auth, not both', path: ['bearer_token'] });

export type RemoteWriteOutConfig = z.output<typeof remoteWriteOutSchema>;

export const remoteWriteOutListSchema = z
  .array(remoteWriteOutSchema)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((d, i) => {
      const name = destinationName(d);
      if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `two destinations named ${name}; give one a name`, path: [i, 'name'] });
      seen.add(name);
    });
  });

export function destinationName(d: Pick<RemoteWriteOutConfig, 'name' | 'url'>): string {
  return d.name ?? new URL(d.url).host.replace(/[^a-zA-Z0-9_.-]/g, '_');
}
