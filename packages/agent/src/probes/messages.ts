import type { ProbeConfig } from '@falconet/protocol/probes';
import type { MetricFamily } from '../metrics.ts';

/** What the agent's main thread tells the probe worker. */
export type ToProbeWorker = { type: 'update'; probes: ProbeConfig[] } | { type: 'stop' };

/** What the probe worker tells the main thread: a result (with the settings key it ran with), or why a run failed. */
export type FromProbeWorker =
  | { type: 'result'; id: string; key: string; families: MetricFamily[] }
  | { type: 'setup-error'; id: string; message: string }
  | { type: 'debug'; fields: Record<string, unknown>; message: string };

/** Given to the worker at its start. */
export interface ProbeWorkerData {
  /** Post why each failed run failed (the agent logs at debug level). */
  debug: boolean;
  /** The native helpers' file when not the build tree's (a single-file build). */
  addonFile?: string | undefined;
}
