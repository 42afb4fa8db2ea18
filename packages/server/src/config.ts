import { fileURLToPath } from 'node:url';
import { TrafficPlan } from '@falconet/protocol/api';
import { byteSize, duration, parseHostPort } from '@falconet/protocol/config';
import { z } from 'zod';
import { alertsConfigSchema } from './alerts/config.ts';
import { masterKeyProblem } from './db/secrets.ts';
import { remoteWriteOutListSchema } from './remote-write/out/config.ts';
import { SERVER_TASKS_DEFAULTS, serverTasksSchema } from './tasks/config.ts';

const address = (what: string) =>
  z.string().superRefine((v, ctx) => {
    try {
      parseHostPort(v, what);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/** The dashboard's built files, put here by the web package's build. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../public', import.meta.url));

const authSchema = z
  .object({
    /** A session lasts this long after sign-in, renewed while it is used (sliding past half its life). */
    session_ttl: duration()
      .default(12 * 3_600_000)
      .pipe(z.number().min(60_000, 'must be at least 1m')),
    /** Mark cookies Secure: auto = when http_tls is on. Set always behind a TLS-terminating proxy. */
    cookie_secure: z.enum(['auto', 'always', 'never']).default('auto'),
    /** Take the client address from X-Forwarded-For (only behind a proxy you run). */
    trust_proxy: z.boolean().default(false),
    sign_in: z
      .object({
        /** Sign-in attempts one address may make at once... */
        burst: z.number().int().min(1).max(10_000).default(10),
        /** ...and per minute after that. */
        per_minute: z.number().int().min(1).max(10_000).default(10),
        /** Wrong passwords in a row that lock a user... */
        max_failures: z.number().int().min(1).max(1000).default(5),
        /** ...for this long. */
        lockout: duration().default(15 * 60_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type AuthConfig = z.output<typeof authSchema>;
const boundedDuration = (minMs: number, maxMs: number, label: string) =>
  duration().refine((ms) => ms >= minMs && ms <= maxMs, `must be between ${label}`);

/** What one pusher (an API token, a user, or a tokenless local sender) may send, on every push path (docs/transport.md). */
const pushCapsSchema = z
  .object({
    /** Distinct series one sender pushed within the last hour. */
    max_series_per_sender: z.number().int().min(1).max(10_000_000).default(10_000),
    /** Distinct hosts (push:<host> entries) one sender pushed within the last hour. */
    max_hosts_per_sender: z.number().int().min(1).max(1_000_000).default(100),
    /** Labels of one series, host included. */
    max_labels_per_series: z.number().int().min(1).max(1000).default(30),
    /** Characters of a label name (and of a metric name). */
    max_label_name_length: z.number().int().min(16).max(65_536).default(256),
    /** Characters of a label value. */
    max_label_value_length: z.number().int().min(16).max(1_048_576).default(2048),
    /** Samples per second one sender may push, on average... */
    samples_per_second: z.number().min(1).max(100_000_000).default(10_000),
    /** ...and at once. */
    burst: z.number().int().min(1).max(100_000_000).default(100_000),
  })
  .strict()
  .prefault({});

/** Series the embedded store takes by default: about 1 GB of server memory (docs/adr/0004-server-memory.md). */
export const DEFAULT_MAX_SERIES = 3_000_000;

/** The samples store (docs/storage.md). */
const storeConfigSchema = z
  .object({
    /** auto: PostgreSQL when database.url is set, else the embedded engine under data_dir; victoriametrics: store.victoriametrics. */
    engine: z.enum(['auto', 'embedded', 'postgres', 'victoriametrics']).default('auto'),
    /** VictoriaMetrics (single node) as the samples store: remote_write in, its query API out (docs/storage.md). */
    victoriametrics: z
      .object({
        /** Its base URL, e.g. http://127.0.0.1:8428 (remote_write goes to <url>/api/v1/write). */
        url: z.url({
          protocol: /^https?$/,
          error: 'must be the http:// or https:// base URL of VictoriaMetrics, e.g. http://127.0.0.1:8428',
        }),
        /** How long one request to it may take before the write or query fails. */
        timeout: duration().default(30_000),
      })
      .strict()
      .optional(),
    retention: z
      .object({
        raw: duration().default(15 * 86_400_000),
        '1m': duration().default(90 * 86_400_000),
        '1h': duration().default(730 * 86_400_000),
      })
      .strict()
      .default({ raw: 15 * 86_400_000, '1m': 90 * 86_400_000, '1h': 730 * 86_400_000 }),
    /** Total size of the samples on disk beyond which the oldest data goes; 0 = no cap. */
    max_size: byteSize().default(0),
    /** Embedded engine: samples held in memory (and in the write-ahead log) before a flush to parts. */
    head_max_samples: z.number().int().min(1000).max(100_000_000).default(2_000_000),
    /** Embedded engine: a head older than this is flushed even when not full. */
    head_max_age: duration().default(300_000),
    /** Embedded engine: live series past which samples of new series are refused (memory bound); 0 = none. */
    max_series: z.number().int().min(0).max(1_000_000_000).default(DEFAULT_MAX_SERIES),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.engine === 'victoriametrics' && !s.victoriametrics) {
      ctx.addIssue({
        code: 'custom',
        path: ['victoriametrics', 'url'],
        message: 'is required when store.engine is victoriametrics (e.g. http://127.0.0.1:8428)',
      });
    }
  })
  .default({
    engine: 'auto',
    retention: { raw: 15 * 86_400_000, '1m': 90 * 86_400_000, '1h': 730 * 86_400_000 },
    max_size: 0,
    head_max_samples: 2_000_000,
    head_max_age: 300_000,
    max_series: DEFAULT_MAX_SERIES,
  });

export const serverConfigSchema = z
  .object({
    /** HTTP UI + REST + WebSocket. */
    listen: address('listen address').default('127.0.0.1:7070'),
    /** gRPC agent channel. */
    grpc_listen: address('gRPC listen address').default('127.0.0.1:7071'),
    /** Open-Falcon TCP JSON-lines listener; off (empty) unless set. */
    transfer_listen: z
      .string()
      .default('')
      .superRefine((v, ctx) => {
        if (v === '') return;
        try {
          parseHostPort(v, 'transfer listen address');
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /** The Open-Falcon TCP listener's senders and connections (docs/transport.md). */
    transfer: z
      .object({
        /** Also ask senders on a loopback transfer_listen for a token (beyond loopback one is always required). */
        require_token: z.boolean().default(false),
        /** A sender that must present a token has this long to send its first line. */
        auth_timeout: boundedDuration(100, 300_000, '100ms and 5m').default(10_000),
        /** A connection silent this long is closed. */
        idle_timeout: boundedDuration(1000, 86_400_000, '1s and 1d').default(120_000),
        /** A longer line is answered with an error and skipped. */
        max_line_bytes: byteSize()
          .default(1024 * 1024)
          .refine((n) => n >= 1024 && n <= 64 * 1024 * 1024, 'must be between 1KiB and 64MiB'),
        /** Open connections at most. */
        max_connections: z.number().int().min(1).max(100_000).default(1024),
      })
      .strict()
      .prefault({}),
    /** Timeouts of the HTTP listener (dashboard, REST, push): a client too slow to send its request is cut. */
    http: z
      .object({
        /** The request line and headers must arrive within this. */
        headers_timeout: boundedDuration(1000, 3_600_000, '1s and 1h').default(15_000),
        /** The whole request, body included, must arrive within this. */
        request_timeout: boundedDuration(1000, 3_600_000, '1s and 1h').default(60_000),
        /** An idle kept-alive connection is closed after this (longer than a proxy's idle timeout in front). */
        keep_alive_timeout: boundedDuration(1000, 3_600_000, '1s and 1h').default(72_000),
      })
      .strict()
      .prefault({})
      .refine((h) => h.headers_timeout <= h.request_timeout, {
        message: 'headers_timeout must not be longer than request_timeout',
        path: ['headers_timeout'],
      }),
    /** TLS of the gRPC agent channel (docs/transport.md). */
    grpc_tls: z
      .object({
        /** auto: TLS unless grpc_listen is on loopback; on; off. */
        mode: z.enum(['auto', 'on', 'off']).default('auto'),
        /** Allow mode off on an address beyond loopback: agents' traffic and first contact go unprotected. */
        allow_plaintext: z.boolean().default(false),
        /** PEM certificate (chain) and key; empty makes a self-signed pair under data_dir/tls on first start. */
        cert_file: z.string().default(''),
        key_file: z.string().default(''),
        /** Extra DNS names or IPs for the self-signed certificate. */
        hosts: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({})
      .refine((t) => Boolean(t.cert_file) === Boolean(t.key_file), {
        message: 'set both cert_file and key_file, or neither',
        path: ['cert_file'],
      }),
    /** Limits on what agents and pushers may send. */
    ingest: z
      .object({
        max_message_bytes: z
          .number()
          .int()
          .min(64 * 1024)
          .max(256 * 1024 * 1024)
          .default(4 * 1024 * 1024),
        max_samples_per_report: z.number().int().min(1).max(10_000_000).default(100_000),
        /** Samples stamped further ahead of the server's clock than this are refused. */
        max_clock_skew: duration()
          .default(300_000)
          .refine((ms) => ms >= 1000, 'must be at least 1s'),
        /** Require a token even from agents on loopback before any token exists. */
        require_token: z.boolean().default(false),
        /** A stream must send Register within this. */
        register_timeout: boundedDuration(1000, 600_000, '1s and 10m').default(30_000),
        /** A gRPC connection with no stream open is closed after this. */
        idle_timeout: boundedDuration(1000, 86_400_000, '1s and 1d').default(300_000),
        /** Caps of the push paths (TCP, POST /api/v1/push). */
        push: pushCapsSchema,
        /**
         * How far a report's sequence may run ahead of the last one acknowledged; further is refused
         * and never stored. Sequences count reports (one per interval, 100 ms at the fastest) plus
         * at most 999 skipped per agent restart; a spool replays in order, so only reports it dropped
         * unsent widen a gap. 10^8 is 115 days of such drops at 100 ms, 31 years at the default 10 s.
         */
        max_sequence_jump: z
          .number()
          .int()
          .min(1000)
          .max(2 ** 40)
          .default(100_000_000),
      })
      .strict()
      .prefault({}),
    data_dir: z.string().min(1).default('./data'),
    /**
     * The master key sealing the secrets in the metadata database, base64 (32 bytes); meant for
     * FALCONET_SECRET_KEY, the same on every server sharing one PostgreSQL. Empty: the key file.
     */
    secret_key: z
      .string()
      .default('')
      .superRefine((k, ctx) => {
        const problem = k === '' ? undefined : masterKeyProblem(k);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /** The master key file, made 0600 on first start; empty: data_dir/secret.key. */
    secret_key_file: z.string().default(''),
    database: z
      .object({
        /** `postgres://user@host/db` for PostgreSQL; empty keeps everything in files under data_dir. */
        url: z.string().default(''),
      })
      .strict()
      .default({ url: '' }),
    store: storeConfigSchema,
    /** The log store (docs/logs.md): embedded under data_dir/logs, or PostgreSQL. */
    logs: z
      .object({
        /** auto: PostgreSQL when database.url is a postgres:// URL, else files under data_dir/logs. */
        engine: z.enum(['auto', 'embedded', 'postgres']).default('auto'),
        /** Lines older than this go (a whole segment, about a day, at a time); 0 keeps them. */
        retention: duration().default(7 * 86_400_000),
        /** Bytes of logs on disk beyond which the oldest segments go; 0 = no cap. */
        max_bytes: byteSize().default(0),
      })
      .strict()
      .prefault({}),
    /** The syslog receiver (docs/logs.md): RFC 5424 and RFC 3164 over UDP and TCP; off (empty) unless set. */
    syslog: z
      .object({
        /** HOST:PORT for both UDP and TCP. */
        listen: z
          .string()
          .default('')
          .superRefine((v, ctx) => {
            if (v === '') return;
            try {
              parseHostPort(v, 'syslog listen address');
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
            }
          }),
        /** Take the host from the message's HOSTNAME field instead of the sender's address. */
        trust_hostname: z.boolean().default(false),
        /** A longer message is cut to this many bytes (and marked fields.truncated). */
        max_message_bytes: byteSize()
          .default(64 * 1024)
          .refine((n) => n >= 480 && n <= 64 * 1024, 'must be between 480B and 64KiB'),
      })
      .strict()
      .prefault({}),
    web_root: z.string().default(DEFAULT_WEB_ROOT),
    offline_after_intervals: z.number().int().min(1).max(100).default(3),
    auth: authSchema.prefault({}),
    alerts: alertsConfigSchema.prefault({}),
    /** Traffic accounting plans (docs/traffic.md): the first whose hosts and host_labels match an agent applies. */
    traffic: z
      .object({
        plans: z
          .array(
            TrafficPlan.extend({
              hosts: z.array(z.string()).optional(),
              host_labels: z.record(z.string(), z.string()).optional(),
            }),
          )
          .default([]),
        /** How often each host's quota use is given to the alert evaluator. */
        alert_every: duration().default(60_000).pipe(z.number().min(1000, 'at least 1s')),
      })
      .strict()
      .prefault({}),
    /** HTTPS for the dashboard, REST and WebSocket: PEM files. Both or neither. */
    http_tls: z
      .object({ cert_file: z.string().default(''), key_file: z.string().default('') })
      .strict()
      .default({ cert_file: '', key_file: '' })
      .refine((t) => Boolean(t.cert_file) === Boolean(t.key_file), 'set both cert_file and key_file, or neither'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        format: z.enum(['json', 'pretty', 'auto']).default('json'),
      })
      .strict()
      .default({ level: 'info', format: 'json' }),
    /** The one-line agent install served at /install/agent.sh (docs/install.md). */
    install: z
      .object({
        /** HOST:PORT agents dial for the agent channel; empty: the host the script was fetched from, with grpc_listen's port. */
        grpc_address: z
          .string()
          .default('')
          .refine(
            (v) => v === '' || /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/.test(v),
            'expected HOST:PORT, e.g. monitor.example.com:7071',
          ),
      })
      .strict()
      .prefault({}),
    /** Commands and cron jobs sent to agents (docs/tasks.md). */
    tasks: serverTasksSchema.default(SERVER_TASKS_DEFAULTS),
    /** Destinations that get what the server stores, by Prometheus remote_write 1.0 (docs/prometheus.md). */
    remote_write: remoteWriteOutListSchema,
    /** The PromQL API's limits (docs/prometheus.md), Prometheus' --query.timeout and --query.max-samples. */
    query: z
      .object({
        /** A query still evaluating after this is stopped and answered with errorType timeout. */
        timeout: boundedDuration(10, 86_400_000, '10ms and 1d').default(120_000),
        /** Samples one query may hold at once; more is refused with errorType execution. */
        max_samples: z.number().int().min(1).max(1_000_000_000).default(50_000_000),
      })
      .strict()
      .prefault({}),
    /** Several servers as one (docs/scale.md): off unless cluster.nats is set. */
    cluster: z
      .object({
        /** NATS server addresses, comma-separated (nats://host:port); empty: this server is alone. */
        nats: z
          .string()
          .default('')
          .superRefine((v, ctx) => {
            for (const url of natsUrls(v)) {
              if (!/^nats:\/\/[^/\s@]+$/.test(url)) ctx.addIssue({ code: 'custom', message: `"${url}" is not a nats://host:port address` });
            }
          }),
        /** Nodes of one cluster share a name; it keeps two clusters on one NATS apart. */
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"')
          .default('falconet'),
        /** This node's name, unique in the cluster; empty: the host name and the HTTP port. */
        node: z.string().max(128).default(''),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** The addresses of cluster.nats. */
export function natsUrls(list: string): string[] {
  return list
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

export type ServerConfig = z.output<typeof serverConfigSchema>;
