/** The server's `alerts.*` configuration keys (docs/alerts.md). */
import { duration } from '@falconet/protocol/config';
import { z } from 'zod';

const atLeast = (msValue: number, text: string) => z.number().min(msValue, `must be at least ${text}`);

export const alertsConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** How often every rule is evaluated. */
    evaluation_interval: duration().default(10_000).pipe(atLeast(500, '500ms')),
    /** A YAML file of rules, channels and maintenance windows, read at start and when it changes. */
    rules_file: z.string().default(''),
    /** A series not heard from for this long has no data: its alerts resolve. */
    stale_after: duration().default(300_000).pipe(atLeast(1000, '1s')),
    /** After start, agents have this long to reconnect before offline alerts, and missing data resolves nothing. */
    startup_grace: duration().default(60_000),
    /** Defaults for rules that set none (Alertmanager's). */
    group_wait: duration().default(30_000),
    group_interval: duration().default(300_000),
    repeat_interval: duration()
      .default(4 * 3_600_000)
      .pipe(atLeast(60_000, '1m')),
    /** Channels (by name) for rules that name none. */
    default_channels: z.array(z.string()).default([]),
    /** The dashboard's address as people reach it, for links in messages; empty = the listen address. */
    external_url: z.string().default(''),
    /** History and delivery records older than this are deleted. */
    history_retention: duration().default(30 * 86_400_000),
    /** Fill rule windows from the store at start and when a rule reads a new metric. */
    warm_from_store: z.boolean().default(true),
    delivery: z
      .object({
        /** One attempt's limit. */
        timeout: duration().default(10_000),
        /** Attempts in all, the first included, for failures a retry can fix (timeouts, 5xx, 429). */
        max_attempts: z.number().int().min(1).max(20).default(6),
        initial_backoff: duration().default(1000),
        max_backoff: duration().default(60_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type AlertsConfig = z.output<typeof alertsConfigSchema>;
