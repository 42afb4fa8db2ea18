import { type EtcdHealth, type EtcdJob, etcdKeys } from '@falconet/protocol';
import { etcdClient, PrefixMirror } from '@falconet/protocol/etcd';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';

export interface EtcdBackendOptions {
  endpoints: string[];
  log: Logger;
  /** An agent's health key appeared or changed (`health`), or went away (undefined: its lease expired). */
  onHealth(agentId: string, health: EtcdHealth | undefined): void;
  /** Connected (again) to etcd: every health key there is now; jobs etcd may have lost can be written back. */
  onConnected(health: Map<string, EtcdHealth>): void;
}

/**
 * The server's side of etcd task mode: writes cron jobs under /falconet/jobs/<agent>/<task> and
 * watches /falconet/health/ for agents' leased health keys.
 */
export class EtcdTaskBackend {
  readonly #client: Etcd3;
  readonly #mirror: PrefixMirror;
  readonly #opts: EtcdBackendOptions;
  /** Whether the health watch holds (false from etcd failing to answer until it answers again). */
  connected = false;
  /** Times etcd became unreachable since the start. */
  outages = 0;

  constructor(opts: EtcdBackendOptions) {
    this.#opts = opts;
    this.#client = etcdClient(opts.endpoints);
    const agentOf = (key: string) => key.slice(etcdKeys.healthPrefix.length);
    const parse = (key: string, value: string): EtcdHealth => {
      try {
        return JSON.parse(value) as EtcdHealth;
      } catch {
        opts.log.warn({ key }, 'unreadable etcd health value');
        return { status: 'up', version: '', hostname: '', started_ms: 0 };
      }
    };
    this.#mirror = new PrefixMirror(
      this.#client,
      etcdKeys.healthPrefix,
      {
        snapshot: (entries) => {
          if (this.outages > 0 && !this.connected)
            opts.log.info({ endpoints: opts.endpoints }, 'etcd reachable again; writing back the task changes made meanwhile');
          this.connected = true;
          opts.onConnected(new Map([...entries].map(([k, v]) => [agentOf(k), parse(k, v)])));
        },
        unreachable: (err) => {
          if (!this.connected) return;
          this.outages++;
          this.connected = false;
          opts.log.warn(
            { endpoints: opts.endpoints, err: err.message },
            'etcd unavailable: agents keep running the cron jobs they hold; task changes are saved and written to etcd when it is back',
          );
        },
        put: (key, value) => opts.onHealth(agentOf(key), parse(key, value)),
        delete: (key) => opts.onHealth(agentOf(key), undefined),
      },
      opts.log,
    );
  }

  start(): void {
    this.#mirror.start();
    this.#opts.log.info({ endpoints: this.#opts.endpoints }, 'etcd task mode: watching agent health, writing jobs');
  }

  async putJob(agentId: string, taskId: string, job: EtcdJob): Promise<void> {
    await this.#client.put(etcdKeys.job(agentId, taskId)).value(JSON.stringify(job));
  }

  async deleteJob(agentId: string, taskId: string): Promise<void> {
    await this.#client.delete().key(etcdKeys.job(agentId, taskId));
  }

  /** Every job key etcd holds now, with its value. */
  async jobs(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.#client.getAll().prefix('/falconet/jobs/').strings()));
  }

  /** The scheduler id an agent recorded for a job, if it holds it. */
  async cronId(agentId: string, taskId: string): Promise<string | null> {
    return await this.#client.get(etcdKeys.cronId(agentId, taskId)).string();
  }

  async stop(): Promise<void> {
    await this.#mirror.stop();
    this.#client.close();
  }
}
