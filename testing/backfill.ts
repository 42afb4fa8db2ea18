/**
 * History for a simulated host: reports stamped in the past, sent over its real gRPC stream as
 * if it had been reporting all along, so its host page has full charts for the hour range
 * without the test waiting an hour.
 */
import { eventually, getJson } from './processes.ts';
import type { AgentSimulator } from './simulator.ts';

export interface BackfillOptions {
  /** How far back the history starts. */
  spanMs: number;
  /** Time between two reports; the simulator's own interval, so no gap shows where none was. */
  stepMs: number;
  /** Stamp of the last backfilled report (default: now). */
  untilMs?: number;
}

/**
 * Enqueues one report per agent of `sim` every `stepMs` from `spanMs` before `untilMs`, oldest
 * first, and resolves once the streams have had them all acknowledged. Call it right after
 * `sim.start()`, before the simulator's own first tick, so reports stay in time order.
 * Resolves with the stamps sent.
 */
export async function backfill(sim: AgentSimulator, opts: BackfillOptions, timeoutMs = 120_000): Promise<number[]> {
  const until = opts.untilMs ?? Date.now();
  const stamps: number[] = [];
  for (let t = until - opts.spanMs; t <= until; t += opts.stepMs) stamps.push(t);
  for (const t of stamps) sim.tick(t);
  await eventually(() => sim.queued === 0 && sim.enqueueErrors === 0, timeoutMs, 250);
  return stamps;
}

/** Raw points the server holds for one series of `agent` between `fromMs` and now. */
export async function storedPoints(baseUrl: string, agent: string, name: string, fromMs: number): Promise<number> {
  const q = new URLSearchParams({ agent, name, from: String(fromMs), step: '0' });
  const r = await getJson<{ series: { points: unknown[] }[] }>(`${baseUrl}/api/metrics?${q}`);
  return r.series.reduce((n, s) => n + s.points.length, 0);
}
