import { z } from 'zod';
import { probeSchema } from '../probes.ts';
import { paging } from './common.ts';

/**
 * Monitors: probes kept by the server and run by the agents a selector chooses (by agent id or by
 * label), each agent a "location". The server sends every agent the probes of the monitors that
 * choose it (ProbeAssignment in agent.proto); their probe_* series come back in the agent's
 * reports, each carrying the label `monitor="<monitor id>"`, and the monitor's figures are computed
 * from those series.
 */

/** The probe id an agent runs for a monitor, and the label its series carry. */
export const monitorProbeId = (monitorId: string): string => `monitor.${monitorId}`;
export const MONITOR_LABEL = 'monitor';

export const MONITOR_STATUSES = ['up', 'down', 'partial', 'pending', 'paused'] as const;
/** up: every location succeeds; down: the alert threshold of locations fail; partial: some fail, fewer than that; pending: no result yet. */
export const MonitorStatus = z.enum(MONITOR_STATUSES);
export type MonitorStatus = z.infer<typeof MonitorStatus>;

/** Which agents run a monitor: those listed by id, and those carrying every one of the labels. */
export const MonitorAgents = z
  .object({
    ids: z.array(z.string().min(1).max(200)).max(1000).default([]),
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and _'), z.string()).default({}),
  })
  .strict()
  .refine((a) => a.ids.length > 0 || Object.keys(a.labels).length > 0, 'choose the agents by ids or by labels');
export type MonitorAgents = z.infer<typeof MonitorAgents>;

/** The probe part of a monitor: the agent config's probe without its id (the server gives it). */
const probeFields = probeSchema.options.map((o) => o.omit({ id: true }));
export const MonitorProbe = z.discriminatedUnion('kind', probeFields as unknown as [(typeof probeFields)[0], ...typeof probeFields], {
  error: 'kind must be one of http, tcp, icmp, dns, grpc',
});
export type MonitorProbe = z.infer<typeof MonitorProbe>;
export type MonitorProbeInput = z.input<typeof MonitorProbe>;

/** What an operator writes: a name, the probe, the agents that run it, and when to alert. */
export const MonitorSpec = z
  .object({
    name: z.string().trim().min(1, 'a name').max(200),
    probe: MonitorProbe,
    agents: MonitorAgents,
    /** Alert when at least this many locations fail at once (N of M); 1 alerts on any failure. */
    alert_failing_locations: z.number().int().min(1).max(1000).default(1),
    /** Alert channels by id (api/alerts.ts); empty notifies nobody, the status still shows. */
    channels: z.array(z.string().min(1)).max(50).default([]),
    paused: z.boolean().default(false),
  })
  .strict();
export type MonitorSpec = z.infer<typeof MonitorSpec>;
export type MonitorSpecInput = z.input<typeof MonitorSpec>;

/**
 * The spec as answers carry it: as MonitorSpec parsed it (interval and timeout in milliseconds),
 * described without the text-to-milliseconds transform, which a response cannot be encoded through.
 */
const probeViews = probeFields.map((o) => o.extend({ interval: z.number(), timeout: z.number() }));
export const MonitorProbeView = z.discriminatedUnion('kind', probeViews as unknown as [(typeof probeViews)[0], ...typeof probeViews]);
export const MonitorSpecView = MonitorSpec.extend({ probe: MonitorProbeView });

/** One location's latest result. */
export const MonitorLocation = z.object({
  agentId: z.string(),
  hostname: z.string(),
  up: z.boolean().nullable(),
  latencyMs: z.number().nullable(),
  lastCheckMs: z.number().nullable(),
});
export type MonitorLocation = z.infer<typeof MonitorLocation>;

/** A monitor as the list and the page show it. */
export const Monitor = z.object({
  id: z.string(),
  spec: MonitorSpecView,
  status: MonitorStatus,
  /** Agents the selector chooses now (M). */
  locationCount: z.number(),
  failingLocations: z.number(),
  /** Share of successful checks, 0..1; null without results in the span. */
  uptime24h: z.number().nullable(),
  uptime30d: z.number().nullable(),
  /** Mean over locations of the latest probe_duration_seconds, in ms. */
  latencyMs: z.number().nullable(),
  /** Earliest probe_ssl_earliest_cert_expiry over locations, ms since the epoch; null if not TLS. */
  certExpiryMs: z.number().nullable(),
  lastCheckMs: z.number().nullable(),
  createdMs: z.number(),
  updatedMs: z.number(),
});
export type Monitor = z.infer<typeof Monitor>;

export const MonitorDetail = Monitor.extend({ locations: z.array(MonitorLocation) });
export type MonitorDetail = z.infer<typeof MonitorDetail>;

export const MONITOR_SORTS = ['name', 'status', 'uptime', 'latency', 'cert'] as const;
export const MonitorListQuery = z.object({
  /** Words matched against name, target and kind. */
  q: z.string().max(200).default(''),
  status: MonitorStatus.optional(),
  sort: z.enum(MONITOR_SORTS).default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
  ...paging(500, 50),
});
export const MonitorList = z.object({
  items: z.array(Monitor),
  total: z.number(),
  /** Counts by status over every monitor matching q (not only this page). */
  counts: z.record(MonitorStatus, z.number()),
});
export type MonitorList = z.infer<typeof MonitorList>;

export const MonitorParams = z.object({ id: z.string().min(1).max(200) });

/** `GET /api/monitors/:id/history?from=&to=&step=`: per location, latency and success over time. */
export const MonitorHistoryQuery = z.object({
  from: z.coerce.number().int().min(0),
  to: z.coerce.number().int().min(0),
  step: z.coerce.number().int().min(1000).optional(),
});
export const MonitorHistory = z.object({
  locations: z.array(
    z.object({
      agentId: z.string(),
      hostname: z.string(),
      /** [tMs, latency ms or null, success 0..1 or null] */
      points: z.array(z.tuple([z.number(), z.number().nullable(), z.number().nullable()])),
    }),
  ),
});
export type MonitorHistory = z.infer<typeof MonitorHistory>;
