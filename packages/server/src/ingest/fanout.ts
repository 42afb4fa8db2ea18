import type { Sample } from '@falconet/protocol';
import type { LiveHub } from '../live/hub.ts';
import type { AgentRegistry } from '../registry.ts';

export interface ReportFanoutDeps {
  registry: AgentRegistry;
  live: LiveHub;
  /** The alert evaluator's windows. */
  observe?: ((agentId: string, samples: readonly Sample[]) => void) | undefined;
}

/**
 * What follows a batch of samples once it is durable, the same after a report on the agent channel
 * and after a push (HTTP, TCP lines): the registry's last-seen time and summary, the live push to
 * the dashboards watching the agent, and the alert evaluator's windows.
 */
export class ReportFanout {
  readonly #deps: ReportFanoutDeps;

  constructor(deps: ReportFanoutDeps) {
    this.#deps = deps;
  }

  /** Call only once `samples` are stored: a dashboard or an alert must never see what a crash would lose. */
  async stored(agentId: string, samples: readonly Sample[]): Promise<void> {
    await this.#deps.registry.seen(agentId, samples);
    this.#deps.live.samples(agentId, samples);
    this.#deps.observe?.(agentId, samples);
  }
}
