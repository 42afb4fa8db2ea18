/**
 * The PromQL engine's view of Falconet's store: every agent's and pushed host's series, with the
 * labels PromQL matches on. A NaN in a pushed host's series is a staleness marker written by
 * remote_write (JSON pushes cannot carry NaN), and ends the series there. Series written by remote_write keep their labels as sent; an agent's own
 * series get `instance` (its hostname) and `job="falconet"` when they do not carry them, so
 * dashboards written for node_exporter find them.
 */
import type { Store } from '../store/types.ts';
import type { LabelMatcher } from './ast.ts';
import type { SeriesSource } from './engine.ts';
import { type CompiledMatcher, compileMatchers } from './matchers.ts';
import type { Metric, MSeries } from './values.ts';

export interface SourceAgent {
  id: string;
  hostname: string;
}

/** The job label given to an agent's own series that carry none. */
export const AGENT_JOB = 'falconet';

export class StoreSeriesSource implements SeriesSource {
  readonly #store: Store;
  readonly #agents: () => readonly SourceAgent[];
  readonly #names = new Map<string, Promise<string[]>>();

  constructor(store: Store, agents: () => readonly SourceAgent[]) {
    this.#store = store;
    this.#agents = agents;
  }

  #namesOf(agentId: string): Promise<string[]> {
    let p = this.#names.get(agentId);
    if (!p) {
      p = this.#store.metricNames(agentId);
      this.#names.set(agentId, p);
    }
    return p;
  }

  async select(matchers: readonly LabelMatcher[], minT: number, maxT: number): Promise<MSeries[]> {
    if (this.#store.selectSeries) return this.#selectIndexed(this.#store.selectSeries.bind(this.#store), matchers, minT, maxT);
    return this.#selectByHost(matchers, minT, maxT);
  }

  /** Through the store's cross-host index: only the series the matchers pick are read. */
  async #selectIndexed(
    selectSeries: NonNullable<Store['selectSeries']>,
    matchers: readonly LabelMatcher[],
    minT: number,
    maxT: number,
  ): Promise<MSeries[]> {
    const agents = this.#agents();
    const defaults = new Map<string, Readonly<Record<string, string>>>();
    const hosts = new Map<string, SourceAgent>();
    for (const a of agents) {
      hosts.set(a.id, a);
      if (!a.id.startsWith('push:')) defaults.set(a.id, { instance: a.hostname, job: AGENT_JOB });
    }
    const found = await selectSeries({ matchers: compileMatchers(matchers), fromMs: minT, toMs: maxT, defaults });
    const out: MSeries[] = [];
    for (const r of found) {
      const a = hosts.get(r.agentId);
      // A host the registry no longer lists (forgotten) is not queried, as by host.
      if (!a) continue;
      const metric = this.#metric(a, r.name, r.labels);
      const n = r.ts.length;
      // The store's decoded columns as they are: the engine only reads them, and copying them into
      // arrays was the largest cost of a query after decoding.
      const ts = r.ts;
      const vs = r.vs;
      let stale: boolean[] | undefined;
      // remote_write stores Prometheus' staleness markers as NaN (docs/prometheus.md).
      if (a.id.startsWith('push:')) {
        for (let i = 0; i < n; i++) {
          if (!Number.isNaN(vs[i] as number)) continue;
          stale ??= new Array<boolean>(n).fill(false);
          stale[i] = true;
        }
      }
      out.push({ metric, ts, vs, stale });
    }
    return out;
  }

  /** Host by host, for a store without a cross-host index. */
  async #selectByHost(matchers: readonly LabelMatcher[], minT: number, maxT: number): Promise<MSeries[]> {
    const compiled = compileMatchers(matchers);
    const nameMatchers = compiled.filter((m) => m.name === '__name__');
    const rest = compiled.filter((m) => m.name !== '__name__');
    const out: MSeries[] = [];
    const instanceMatchers = rest.filter((m) => m.name === 'instance');
    await Promise.all(
      this.#agents().map(async (a) => {
        const pushed = a.id.startsWith('push:');
        // A written series is stored under push:<its instance label> (remote-write/routes.ts remoteHost), or
        // carries no instance at all: an instance matcher that takes neither rules the whole host out unread.
        const host = a.id.slice('push:'.length);
        if (pushed && !instanceMatchers.every((m) => m.test(host) || m.test(''))) return;
        const names = (await this.#namesOf(a.id)).filter((n) => nameMatchers.every((m) => m.test(n)));
        // Equality matchers go to the store, which skips other series before reading their points; an
        // agent's instance and job may be filled in here (see #metric), so those stay for the check below.
        const equal: Record<string, string> = {};
        for (const m of rest)
          if (m.op === '=' && m.value !== '' && (pushed || (m.name !== 'instance' && m.name !== 'job'))) equal[m.name] = m.value;
        const labels = Object.keys(equal).length ? equal : undefined;
        for (const name of names) {
          const found = await this.#store.querySeries({ agentId: a.id, name, labels, fromMs: minT, toMs: maxT });
          for (const r of found) {
            const metric = this.#metric(a, name, r.labels);
            if (!rest.every((m) => m.test(metric[m.name]))) continue;
            const ts: number[] = [];
            const vs: number[] = [];
            let stale: boolean[] | undefined;
            for (const [t, v] of r.points) {
              if (t < minT || t > maxT) continue;
              // remote_write stores Prometheus' staleness markers as NaN (docs/prometheus.md).
              if (pushed && Number.isNaN(v)) {
                stale ??= ts.map(() => false);
                stale[ts.length] = true;
              } else if (stale) stale[ts.length] = false;
              ts.push(t);
              vs.push(v);
            }
            if (ts.length) out.push({ metric, ts, vs, stale });
          }
        }
      }),
    );
    return out;
  }

  #metric(a: SourceAgent, name: string, labels: Readonly<Record<string, string>>): Metric {
    const m: Metric = { ...labels, __name__: name };
    if (!a.id.startsWith('push:')) {
      if (m.instance === undefined) m.instance = a.hostname;
      if (m.job === undefined) m.job = AGENT_JOB;
    }
    return m;
  }
}

export type { CompiledMatcher };
