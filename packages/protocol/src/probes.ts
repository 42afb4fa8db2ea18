import { z } from 'zod';
import { duration, parseHostPort } from './config.ts';

/**
 * A probe: a service check, listed under `probes:` in the agent config or assigned by the server
 * as a monitor (api/monitors.ts), each run on its own timer and shown as blackbox_exporter's
 * probe_* series (docs/probes.md). The options of each kind are checked by that kind's schema, so
 * a typo names the probe's index and the key.
 */

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const tlsOptions = z
  .object({
    /** PEM file of the CA (or the self-signed certificate) to trust instead of the system's. */
    ca_file: z.string().default(''),
    /** The name the certificate must carry, when it differs from the target's host. */
    server_name: z.string().default(''),
    /** Accept any certificate (expiry is still reported). */
    insecure_skip_verify: z.boolean().default(false),
  })
  .strict()
  .prefault({});

export type ProbeTlsOptions = z.output<typeof tlsOptions>;

const hostPortTarget = z.string().superRefine((v, ctx) => {
  try {
    parseHostPort(v, 'target');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const httpOptions = z
  .object({
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']).default('GET'),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().default(''),
    /** Accepted status codes; empty accepts 200-299, as blackbox_exporter. */
    valid_status_codes: z.array(z.number().int().min(100).max(599)).default([]),
    follow_redirects: z.boolean().default(true),
    /** Redirects followed at most; one more fails the probe. */
    max_redirects: z.number().int().min(0).max(50).default(10),
    /** The body must contain this text. */
    keyword: z.string().default(''),
    /** The body must not contain this text. */
    keyword_absent: z.string().default(''),
    /** The body is JSON and this path exists in it: `$.a.b[0].c`. */
    json_path: z
      .string()
      .default('')
      .refine((p) => p === '' || /^\$(\.[A-Za-z0-9_-]+|\[\d+\])*$/.test(p), 'expected a path like $.status or $.items[0].name'),
    /** With json_path: the value there, as text, must equal this. */
    json_value: z.string().optional(),
    fail_if_not_ssl: z.boolean().default(false),
    tls: tlsOptions,
  })
  .strict()
  .prefault({})
  .refine((o) => o.json_value === undefined || o.json_path !== '', { message: 'json_value needs json_path', path: ['json_value'] });

const tcpOptions = z
  .object({ tls: z.boolean().default(false), tls_config: tlsOptions })
  .strict()
  .prefault({});

const icmpOptions = z.object({}).strict().prefault({});

export const DNS_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SRV', 'TXT', 'CAA', 'NAPTR'] as const;
export const DNS_RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'] as const;

const dnsOptions = z
  .object({
    query_name: z.string().min(1, 'the name to ask the server about'),
    query_type: z.enum(DNS_TYPES).default('A'),
    /** Answer codes that count as success; NOERROR by default, as blackbox_exporter. */
    valid_rcodes: z.array(z.enum(DNS_RCODES)).min(1).default(['NOERROR']),
    /** Each of these must appear in one of the answers (as text). */
    answers_contain: z.array(z.string()).default([]),
  })
  .strict();

const grpcOptions = z
  .object({
    /** The service name asked about; empty asks about the server as a whole. */
    service: z.string().default(''),
    tls: z.boolean().default(false),
    tls_config: tlsOptions,
  })
  .strict()
  .prefault({});

const common = {
  /** Names the probe in the `probe` label and in logs. */
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'probe ids are letters, digits, _, . and -'),
  interval: duration()
    .default(60_000)
    .refine((ms) => ms >= 10_000 && ms <= 86_400_000, 'must be between 10s and 1d'),
  timeout: duration()
    .default(5_000)
    .refine((ms) => ms >= 100 && ms <= 120_000, 'must be between 100ms and 2m'),
  labels: z.record(z.string().regex(labelName, 'label names are letters, digits and _'), z.string()).default({}),
};

export const probeSchema = z.discriminatedUnion(
  'kind',
  [
    z
      .object({
        ...common,
        kind: z.literal('http'),
        target: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
        options: httpOptions,
      })
      .strict(),
    z.object({ ...common, kind: z.literal('tcp'), target: hostPortTarget, options: tcpOptions }).strict(),
    z.object({ ...common, kind: z.literal('icmp'), target: z.string().min(1, 'a host name or address'), options: icmpOptions }).strict(),
    z
      .object({ ...common, kind: z.literal('dns'), target: z.string().min(1, 'the DNS server, HOST or HOST:PORT'), options: dnsOptions })
      .strict(),
    z.object({ ...common, kind: z.literal('grpc'), target: hostPortTarget, options: grpcOptions }).strict(),
  ],
  { error: 'kind must be one of http, tcp, icmp, dns, grpc' },
);

export type ProbeConfig = z.output<typeof probeSchema>;
export type ProbeKind = ProbeConfig['kind'];
export type ProbeOf<K extends ProbeKind> = Extract<ProbeConfig, { kind: K }>;

export const probesSchema = z
  .array(probeSchema)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `probe id "${p.id}" is used twice` });
      seen.add(p.id);
      if (p.timeout >= p.interval) ctx.addIssue({ code: 'custom', path: [i, 'timeout'], message: 'must be shorter than interval' });
    });
  });
