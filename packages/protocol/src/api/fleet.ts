import { z } from 'zod';
import { Labels, oneOrMany, Point } from './common.ts';
import { FLEET_HISTORY_SPANS } from './enums.ts';

export const FleetHistorySpan = z.enum(FLEET_HISTORY_SPANS);
export type FleetHistorySpan = z.infer<typeof FleetHistorySpan>;

/** GET /api/fleet/summary */
export const FleetSummaryQuery = z.object({
  label: oneOrMany(z.string()).optional().describe('only agents with this label NAME=VALUE; repeat for several'),
  by: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a label name')
    .optional()
    .describe('also break the counts and averages down by this agent label'),
  history: FleetHistorySpan.optional().describe('also the fleet averages over this range, from the store (recomputed at most every 10 s)'),
});

/** cpu, memory, disk, load1: the mean over the agents that have it, null when none has. */
const Averages = z.record(z.string(), z.number().nullable());

export const FleetHistory = z.object({ stepMs: z.number(), series: z.record(z.string(), z.array(Point)) });
export type FleetHistory = z.infer<typeof FleetHistory>;

export const FleetSummary = z.object({
  agents: z.number(),
  online: z.number(),
  offline: z.number(),
  averages: Averages,
  totals: z.object({ networkReceiveBytesPerSecond: z.number(), networkTransmitBytesPerSecond: z.number() }),
  groups: z.array(z.object({ labels: Labels, agents: z.number(), online: z.number(), averages: Averages })).optional(),
  history: FleetHistory.optional(),
  storeUnwritable: z
    .string()
    .optional()
    .describe('present while the samples store refuses reports (its data directory is full): why, for a dashboard banner'),
});
export type FleetSummary = z.infer<typeof FleetSummary>;
