/** Self-update: stored releases and rollouts (docs/update.md). */
import { z } from 'zod';
import { Labels } from './common.ts';

export const ROLLOUT_STATUSES = ['active', 'paused', 'cancelled'] as const;
export const RolloutStatus = z.enum(ROLLOUT_STATUSES);
export type RolloutStatus = z.infer<typeof RolloutStatus>;

/**
 * Where one agent of a rollout stands: `selected` (chosen, not yet offered: not connected, or the
 * rollout is paused), `offered`, then the agent's own UpdateStatus states in lower case.
 */
export const ROLLOUT_AGENT_STATES = [
  'selected',
  'offered',
  'downloading',
  'verified',
  'swapped',
  'succeeded',
  'refused',
  'rolled_back',
  'failed',
] as const;
export const RolloutAgentState = z.enum(ROLLOUT_AGENT_STATES);
export type RolloutAgentState = z.infer<typeof RolloutAgentState>;

export const Release = z
  .object({
    version: z.string(),
    target: z.string(),
    sha256: z.string(),
    size: z.number(),
    minVersion: z.string(),
    createdMs: z.number(),
  })
  .meta({ id: 'Release' });
export type Release = z.infer<typeof Release>;

/** The stored releases, newest first, and the public half of the key that signs their manifests. */
export const ReleaseList = z.object({ items: z.array(Release), publicKey: z.string() });
export type ReleaseList = z.infer<typeof ReleaseList>;

export const NewRolloutBody = z
  .object({
    version: z.string().min(1).max(64),
    /** Share of the eligible agents, 1 to 100. */
    percent: z.number().int().min(1).max(100),
    /** Labels an agent must carry, `k=v,k2=v2`; empty for every agent. */
    selector: z.string().max(2000).optional(),
    /** One target, or every target the release is stored for. */
    target: z.string().max(32).optional(),
  })
  .strict();
export type NewRolloutBody = z.infer<typeof NewRolloutBody>;

export const Rollout = z
  .object({
    id: z.string(),
    version: z.string(),
    /** '' when the rollout covers every target the release is stored for. */
    target: z.string(),
    percent: z.number(),
    selector: Labels,
    status: RolloutStatus,
    createdBy: z.string(),
    createdMs: z.number(),
    updatedMs: z.number(),
    /** Agents chosen so far, and how many are in each state. */
    selected: z.number(),
    counts: z.record(z.string(), z.number()),
  })
  .meta({ id: 'Rollout' });
export type Rollout = z.infer<typeof Rollout>;

export const RolloutAgent = z.object({
  agentId: z.string(),
  hostname: z.string(),
  state: RolloutAgentState,
  fromVersion: z.string(),
  toVersion: z.string(),
  reason: z.string(),
  selectedMs: z.number(),
  updatedMs: z.number(),
});
export type RolloutAgent = z.infer<typeof RolloutAgent>;

export const RolloutDetail = Rollout.extend({ agents: z.array(RolloutAgent) });
export type RolloutDetail = z.infer<typeof RolloutDetail>;

export const RolloutList = z.object({ items: z.array(Rollout) });
export type RolloutList = z.infer<typeof RolloutList>;

export const RolloutParams = z.object({ id: z.string().min(1).max(64) });
