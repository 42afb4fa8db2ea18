import type { StoreLog } from '../types.ts';

/**
 * Whether an error says the filesystem has no room left (ENOSPC) or the quota is spent (EDQUOT).
 * Errors from the store's worker threads and the write-ahead log keep only the message, so that is read too.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err as (Error & { code?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
    if (typeof e.message === 'string' && /\b(ENOSPC|EDQUOT)\b|no space left on device|disk quota exceeded/i.test(e.message)) return true;
  }
  return false;
}

/** Whether the store still takes work: closed by its owner, or failed on a write it could not make. */
export class StoreStatus {
  closed = false;
  failed: Error | undefined;
  readonly #log: StoreLog;
  readonly #onFail: ((err: Error) => void) | undefined;

  constructor(log: StoreLog, onFail?: (err: Error) => void) {
    this.#log = log;
    this.#onFail = onFail;
  }

  get stopped(): boolean {
    return this.closed || this.failed !== undefined;
  }

  /**
   * Marks the store failed (the first error wins); it refuses writes from then on. A full disk is
   * its owner's to report and recover from (engine.ts reopens the store once there is room).
   */
  fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    if (!isDiskFull(err)) this.#log.error({ err: err.message }, 'store failed; it refuses writes until restarted');
    this.#onFail?.(err);
  }

  /** Throws the failure, or that the store is closed. */
  assertWritable(): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('store is closed');
  }
}
