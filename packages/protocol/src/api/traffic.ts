import { z } from 'zod';

/** Interfaces left out of a host total unless named: loopback and the virtual ones containers, VMs, bridges and tunnels make. */
export const DEFAULT_TRAFFIC_EXCLUDE =
  '^(lo|veth.*|docker.*|br-.*|virbr.*|vnet.*|tun.*|tap.*|cali.*|flannel.*|cni.*|kube-.*|dummy.*|ifb.*|lxc.*|lxd.*)$';

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function validPattern(p: string): boolean {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}

/** Which counter a quota measures: outbound, inbound, their sum, or the larger of the two. */
export const TrafficQuotaDirection = z.enum(['out', 'in', 'sum', 'max']);
export type TrafficQuotaDirection = z.infer<typeof TrafficQuotaDirection>;

/** A host's billing plan: what is counted, when a cycle starts, the quota and when to warn. */
export const TrafficPlan = z
  .object({
    /** Devices to count; empty = every device not matching `exclude` (the host total). */
    interfaces: z.array(z.string().min(1).max(64)).max(64).default([]),
    exclude: z.string().max(1024).default(DEFAULT_TRAFFIC_EXCLUDE).refine(validPattern, 'exclude: not a valid regular expression'),
    /** Day of the month a cycle starts; past a short month's end it is that month's last day. */
    reset_day: z.number().int().min(1).max(31).default(1),
    reset_time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'reset_time: HH:MM, 00:00 to 23:59')
      .default('00:00'),
    time_zone: z.string().default('UTC').refine(validTimeZone, 'time_zone: not an IANA time zone such as Asia/Shanghai'),
    /** Bytes per cycle; 0 = no quota. */
    quota_bytes: z.number().int().min(0).default(0),
    quota_direction: TrafficQuotaDirection.default('sum'),
  })
  .strict();
export type TrafficPlan = z.infer<typeof TrafficPlan>;
export type TrafficPlanInput = z.input<typeof TrafficPlan>;

export const TrafficQuery = z.object({
  host: z.string().min(1).describe('agent id or host name'),
  /** Any instant inside the cycle to report; default now. */
  at: z.coerce.number().int().min(0).optional().describe('ms since the epoch inside the cycle wanted; default now'),
  cycles: z.coerce.number().int().min(1).max(24).default(1).describe('how many cycles, newest first'),
});

export const TrafficDay = z.object({
  /** YYYY-MM-DD in the plan's time zone. */
  date: z.string(),
  startMs: z.number(),
  rxBytes: z.number(),
  txBytes: z.number(),
});
export type TrafficDay = z.infer<typeof TrafficDay>;

export const TrafficCycle = z.object({
  startMs: z.number(),
  endMs: z.number(),
  /** Counted from the stored counters, before correction. */
  measuredRxBytes: z.number(),
  measuredTxBytes: z.number(),
  /** Measured plus the manual correction's offset. */
  rxBytes: z.number(),
  txBytes: z.number(),
  correction: z.object({ rxBytes: z.number(), txBytes: z.number(), atMs: z.number() }).nullable(),
  /** Bytes counted against the quota (by its direction). */
  usedBytes: z.number(),
  quotaBytes: z.number(),
  /** usedBytes / quotaBytes × 100; null without a quota. */
  usedPercent: z.number().nullable(),
  days: z.array(TrafficDay),
});
export type TrafficCycle = z.infer<typeof TrafficCycle>;

export const TrafficReport = z.object({
  agent: z.string(),
  hostname: z.string(),
  plan: TrafficPlan,
  /** The devices counted in the newest cycle. */
  interfaces: z.array(z.string()),
  cycles: z.array(TrafficCycle),
});
export type TrafficReport = z.infer<typeof TrafficReport>;

export const TrafficHostParams = z.object({ host: z.string().min(1) });

/** Sets the current cycle's used bytes as the provider counts them; kept as an offset to what was measured. */
export const TrafficCorrection = z
  .object({
    rx_bytes: z.number().min(0).optional(),
    tx_bytes: z.number().min(0).optional(),
  })
  .strict()
  .refine((c) => c.rx_bytes !== undefined || c.tx_bytes !== undefined, 'give rx_bytes, tx_bytes or both');
export type TrafficCorrection = z.infer<typeof TrafficCorrection>;

export const TrafficFleetRow = z.object({
  agent: z.string(),
  hostname: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  rxBytes: z.number(),
  txBytes: z.number(),
  usedBytes: z.number(),
  quotaBytes: z.number(),
  usedPercent: z.number().nullable(),
});
export const TrafficFleet = z.object({ hosts: z.array(TrafficFleetRow) });
export type TrafficFleet = z.infer<typeof TrafficFleet>;
