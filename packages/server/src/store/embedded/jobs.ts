import { Worker } from 'node:worker_threads';
import type { WorkerMemory } from '../types.ts';
import type { FlushJob, MergeJob, MergeResult } from './build.ts';
import type { PartMeta } from './part.ts';

let bundledWorker: string | undefined;

/** A single-file build (npm run package) has no worker file to start: it hands over the worker's bundled code. */
export function useBundledStoreWorker(code: string): void {
  bundledWorker = code;
}

/** A worker thread that runs flush and merge jobs one at a time, in the order given. */
export class JobWorker {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #dead: Error | undefined;
  readonly name: string;
  /** The worker's heap and off-heap buffers as it reported them after its last job. */
  memory: WorkerMemory = { heapUsed: 0, heapTotal: 0, external: 0 };

  constructor(name: string) {
    this.name = name;
    const self = import.meta.url;
    const url = new URL(self.endsWith('.ts') ? './worker.ts' : './worker.js', self);
    const execArgv = [...process.execArgv, '--disable-warning=ExperimentalWarning'];
    this.#worker = bundledWorker ? new Worker(bundledWorker, { eval: true, name, execArgv }) : new Worker(url, { name, execArgv });
    this.#worker.unref();
    this.#worker.on('message', (msg: { seq?: number; result?: unknown; error?: string; memory?: WorkerMemory }) => {
      if (msg.memory) this.memory = msg.memory;
      if (msg.seq === undefined) return;
      const w = this.#waiting.get(msg.seq);
      if (!w) return;
      this.#waiting.delete(msg.seq);
      if (msg.error !== undefined) w.reject(new Error(msg.error));
      else w.resolve(msg.result);
    });
    const die = (err: Error) => {
      this.#dead = err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', die);
    this.#worker.on('exit', (code) => die(new Error(`store worker ${name} exited with code ${code}`)));
  }

  get pending(): number {
    return this.#waiting.size;
  }

  flush(job: FlushJob): Promise<PartMeta[]> {
    return this.#run(job) as Promise<PartMeta[]>;
  }

  merge(job: MergeJob): Promise<MergeResult> {
    return this.#run(job) as Promise<MergeResult>;
  }

  #run(job: FlushJob | MergeJob): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#waiting.set(seq, { resolve, reject });
      this.#worker.postMessage({ seq, job });
    });
  }

  async close(): Promise<void> {
    this.#dead ??= new Error('store worker closed');
    await this.#worker.terminate();
  }
}
