import { homedir } from 'node:os';
import { join } from 'node:path';
import { byteSize, duration, parseHostPort } from '@falconet/protocol/config';
import { probesSchema } from '@falconet/protocol/probes';
import { z } from 'zod';
import { collectorOptionsSchema } from './collectors/options.ts';
import { parseServerUrls, plaintextProblem, type ServerAddress } from './config-base.ts';
import { logsSchema } from './logs/config.ts';
import { AGENT_TASKS_DEFAULTS, agentTasksSchema } from './tasks/config.ts';
import { updateSchema } from './update/config.ts';

/**
 * The agent's configuration: one zod schema, one nested object per concern, so a module adds
 * its keys as one more object (`transport: {...}`) without touching the others. Every key is
 * documented in docs/agent-config.md; `check-config` prints the effective values.
 */

const hostPort = (what: string) =>
  z.string().superRefine((v, ctx) => {
    if (v === '') return;
    try {
      parseHostPort(v, what);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/** A duration within bounds, in milliseconds; `label` names the bounds in the message. */
const boundedDuration = (minMs: number, maxMs: number, label: string) =>
  duration().refine((ms) => ms >= minMs && ms <= maxMs, `must be between ${label}`);

/** Where agent state lives when `--data-dir` is not given. */
export function defaultDataDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/falconet-agent';
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'falconet-agent');
}

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const collectorName = /^[a-z0-9_]+$/;

/** `collectors.<name>`: `true`/`false`, or a mapping with the switch and this collector's schedule. */
const collectorSetting = z.union(
  [
    z.boolean(),
    z
      .object({
        enabled: z.boolean().optional(),
        /** Run at most this often; between runs the last samples are served. 0 = at every collection. */
        interval: boundedDuration(0, 86_400_000, '0s and 1d').optional(),
        timeout: boundedDuration(10, 600_000, '10ms and 10m').optional(),
      })
      .strict(),
  ],
  { error: 'expected true, false or a mapping with enabled, interval, timeout' },
);

export type CollectorSetting = z.output<typeof collectorSetting>;

const execPlugin = z
  .object({
    /** Names the plugin in logs and in node_scrape_collector_*{collector="exec:<name>"}. */
    name: z.string().regex(collectorName, 'plugin names are lower-case letters, digits and _'),
    /** A list runs the program directly; a string runs through /bin/sh -c. */
    command: z.union([z.string().min(1), z.array(z.string()).min(1)], { error: 'expected a command string or a list of arguments' }),
    format: z.enum(['prometheus', 'json', 'influx', 'nagios']).default('prometheus'),
    interval: boundedDuration(0, 86_400_000, '0s and 1d').default(60_000),
    timeout: boundedDuration(10, 600_000, '10ms and 10m').default(10_000),
    /** Output past this many bytes is an error and the command is killed. */
    max_output: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    labels: z.record(z.string().regex(labelName, 'label names are letters, digits and _'), z.string()).default({}),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().default(''),
    enabled: z.boolean().default(true),
  })
  .strict();

export type ExecPluginConfig = z.output<typeof execPlugin>;

/** How reports travel to the server (see docs/transport.md). */
const transportSchema = z
  .object({
    gzip: z.boolean().default(true),
    /** Samples as series ids and value changes against a per-stream table, when the server takes it. */
    compact: z.boolean().default(true),
    /** Seal payloads with AES-256-GCM under a key derived from server.token. */
    encrypt: z.boolean().default(false),
    /** Reports sent and not yet acknowledged, at most; a slow server slows the agent instead of filling its memory. */
    max_in_flight: z.number().int().min(1).max(1024).default(32),
    tls: z
      .object({
        /** PEM file of the CA, or of the server's own self-signed certificate, to trust. */
        ca_file: z.string().default(''),
        /** SHA-256 fingerprint of the server's self-signed certificate (falconet-server logs it). */
        fingerprint: z
          .string()
          .default('')
          .refine(
            (v) => v === '' || /^[0-9a-f]{64}$/.test(v.replace(/[:\s]/g, '').toLowerCase()),
            'expected a SHA-256 fingerprint: 64 hex digits, colons allowed',
          ),
        /** The name the certificate must carry, when it differs from the server address's host. */
        server_name: z.string().default(''),
        /** Allow grpc:// (plaintext) to a server beyond loopback. */
        allow_plaintext: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

/** The on-disk spool of unacknowledged reports under data_dir/spool. */
const spoolSchema = z
  .object({
    max_bytes: byteSize()
      .default(256 * 1024 * 1024)
      .refine((n) => n >= 1024 * 1024, 'must be at least 1MiB'),
    max_age: duration()
      .default(7 * 86_400_000)
      .refine((ms) => ms >= 60_000, 'must be at least 1m'),
    segment_bytes: byteSize()
      .default(8 * 1024 * 1024)
      .refine((n) => n >= 64 * 1024, 'must be at least 64KiB'),
  })
  .strict()
  .prefault({})
  .refine((s) => s.max_bytes >= 4 * s.segment_bytes, { message: 'max_bytes must be at least 4 x segment_bytes', path: ['max_bytes'] });

export const agentConfigSchema = z
  .object({
    server: z
      .object({
        /** The server's gRPC address, HOST:PORT; empty runs the agent exporter-only. */
        url: z
          .string()
          .default('')
          .superRefine((v, ctx) => {
            if (v === '') return;
            try {
              parseServerUrls(v);
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
            }
          }),
        token: z.string().default(''),
      })
      .strict()
      .prefault({}),
    /** The exporter's listen address; empty disables /metrics. */
    listen: hostPort('listen address').default('127.0.0.1:9101'),
    web: z
      .object({
        /** Leaves the agent's own process_* and falconet_agent_* series off /metrics (they stay in reports), as node_exporter's flag of that name. */
        disable_exporter_metrics: z.boolean().default(false),
        /** gzip level of /metrics for a scraper that asks for it: 1 is the fastest; node_exporter's Go library uses 6. */
        gzip_level: z.coerce.number().int().min(1).max(9).default(1),
        /** A scraper must send its whole request (headers included) within this, or it is cut. */
        request_timeout: boundedDuration(1000, 600_000, '1s and 10m').default(10_000),
      })
      .strict()
      .prefault({}),
    /** An Open-Falcon JSON-lines sink, HOST:PORT. */
    transfer: hostPort('transfer address').default(''),
    transport: transportSchema,
    spool: spoolSchema,
    /** The report interval while the host is neither busy nor idle. */
    interval: boundedDuration(100, 3_600_000, '100ms and 1h').default(10_000),
    report: z
      .object({
        /** Follow the host's load between min_interval and max_interval. */
        dynamic: z.boolean().default(true),
        min_interval: boundedDuration(100, 3_600_000, '100ms and 1h').default(5_000),
        max_interval: boundedDuration(100, 3_600_000, '100ms and 1h').default(60_000),
        busy: z
          .object({
            cpu_percent: z.number().min(0).max(100).default(80),
            load_per_cpu: z.number().min(0).max(1000).default(1.5),
          })
          .strict()
          .prefault({}),
        idle: z
          .object({
            cpu_percent: z.number().min(0).max(100).default(10),
            load_per_cpu: z.number().min(0).max(1000).default(0.3),
          })
          .strict()
          .prefault({}),
        /** Consecutive observations that must agree before the interval lengthens. */
        hold: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .prefault({}),
    data_dir: z.string().min(1).default(defaultDataDir()),
    labels: z.record(z.string().regex(labelName, 'label names are letters, digits and _'), z.string()).default({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** `auto`: JSON unless the console is a terminal. */
        format: z.enum(['json', 'pretty', 'auto']).default('auto'),
        /** Also write JSON records here, rotated by size. `start` defaults it to DATA_DIR/falconet-agent.log. */
        file: z.string().default(''),
        max_size: z
          .number()
          .int()
          .min(4096)
          .default(10 * 1024 * 1024),
        max_files: z.number().int().min(0).max(100).default(5),
      })
      .strict()
      .prefault({}),
    debug: z.boolean().default(false),
    /** Per-collector switches and schedules, as node_exporter's `--collector.<name>`. */
    collectors: z
      .record(z.string().regex(collectorName, 'collector names are lower-case letters, digits and _'), collectorSetting)
      .default({}),
    /** Options of individual collectors, as node_exporter's `--collector.<name>.<option>`, each declared in its collector's file (see docs/collectors.md). */
    collector_options: collectorOptionsSchema.prefault({}),
    collection: z
      .object({
        /** A collector still running after this long is reported failed; the others are not held up. */
        timeout: boundedDuration(10, 600_000, '10ms and 10m').default(5_000),
        /** Collectors running at the same time. */
        concurrency: z.number().int().min(1).max(64).default(4),
        /** A scrape reuses results younger than this; 0 collects afresh (concurrent scrapes still share one run). */
        max_age: boundedDuration(0, 3_600_000, '0s and 1h').default(0),
      })
      .strict()
      .prefault({}),
    plugins: z
      .object({
        /** A directory of JS/TS modules, each default-exporting a collector definition. */
        dir: z.string().default(''),
        exec: z.array(execPlugin).default([]),
      })
      .strict()
      .prefault({})
      .superRefine((p, ctx) => {
        const seen = new Set<string>();
        p.exec.forEach((e, i) => {
          if (seen.has(e.name))
            ctx.addIssue({ code: 'custom', path: ['exec', i, 'name'], message: `plugin name "${e.name}" is used twice` });
          seen.add(e.name);
        });
      }),
    /** Where `start`, `stop` and `status` keep the pid; DATA_DIR/falconet-agent.pid when empty. */
    pidfile: z.string().default(''),
    shutdown: z
      .object({
        /** On SIGTERM, how long to keep sending queued reports before closing the stream. */
        flush_timeout: boundedDuration(0, 600_000, '0s and 10m').default(5_000),
        /** How long `stop` waits for the agent to exit before SIGKILL. */
        stop_timeout: boundedDuration(100, 3_600_000, '100ms and 1h').default(15_000),
      })
      .strict()
      .prefault({}),
    reload: z
      .object({
        /** Reload when the config file changes (SIGHUP always reloads). */
        watch: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    procfs: z
      .object({
        proc: z.string().default('/proc'),
        sys: z.string().default('/sys'),
        rootfs: z.string().default('/'),
      })
      .strict()
      .prefault({}),
    /** The container collector (docs/containers.md). */
    containers: z
      .object({
        /**
         * The Docker Engine API's unix socket; empty leaves Docker out (cgroup data only). No default
         * here: unset, the collector takes DOCKER_HOST's socket, else /var/run/docker.sock
         * (containers/docker-socket.ts), so a value set anywhere wins over the variable.
         */
        docker_socket: z.string().optional(),
      })
      .strict()
      .prefault({}),
    /** Commands and cron jobs from the server (docs/tasks.md); off by default. */
    tasks: agentTasksSchema.default(AGENT_TASKS_DEFAULTS),
    /** Signed self-update from the server (docs/update.md). */
    update: updateSchema,
    /** Log files tailed and shipped with the reports (docs/logs.md). */
    logs: logsSchema,
    /** Service probes, shown as blackbox_exporter's probe_* series (docs/probes.md). */
    probes: probesSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.transport.encrypt && !c.server.token) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport', 'encrypt'],
        message: 'needs server.token: the payload key is derived from the token',
      });
    }
    let addresses: ServerAddress[];
    try {
      addresses = c.server.url ? parseServerUrls(c.server.url) : [];
    } catch {
      return; // server.url's own check reports it
    }
    const scheme = addresses[0]?.scheme ?? '';
    for (const address of addresses) {
      const plaintext = plaintextProblem(address, c.transport.tls.allow_plaintext);
      if (plaintext) ctx.addIssue({ code: 'custom', path: ['server', 'url'], message: plaintext });
    }
    if (scheme === 'grpc' && (c.transport.tls.ca_file || c.transport.tls.fingerprint)) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'url'],
        message: 'grpc:// is plaintext, but transport.tls.ca_file or fingerprint is set; use grpcs://',
      });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

export { parseServerUrl, parseServerUrls, pidfilePath, type ServerAddress } from './config-base.ts';
