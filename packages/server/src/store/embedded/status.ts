import type { StoreLog } from '../types.ts';

/** Whether the store still takes work: closed by its owner, or failed on a write it could not make. */
export class StoreStatus {
  closed = false;
  failed: Error | undefined;
  readonly #log: StoreLog;

  constructor(log: StoreLog) {
    this.#log = log;
  }

  get stopped(): boolean {
    return this.closed || this.failed !== undefined;
  }

  /** Marks the store failed (the first error wins); it refuses writes until restarted. */
  fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.#log.error({ err: err.message }, 'store failed; it refuses writes until restarted');
  }

  /** Throws the failure, or that the store is closed. */
  assertWritable(): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('store is closed');
  }
}
