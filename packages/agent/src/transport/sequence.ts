import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import { writeFileAtomic } from '../identity.ts';

/** Hands out report sequence numbers; the server needs them to increase per agent. */
export interface SequenceSource {
  next(): number;
  /** The server already holds `seq`; never hand out a number at or below it. */
  advancePast(seq: number): void;
}

/**
 * Report sequence numbers, increasing across restarts. A block is reserved on disk ahead of
 * use, so a crash skips numbers (harmless: the server only needs them to increase) and the
 * file is written once per block, not once per report.
 */
export class SequenceCounter implements SequenceSource {
  readonly #file: string;
  readonly #block: number;
  #next: number;
  #reservedUpTo: number;

  constructor(dataDir: string, block = 1000) {
    mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    this.#file = join(dataDir, 'seq');
    this.#block = block;
    let start = 1;
    try {
      const n = Number(readFileSync(this.#file, 'utf8').trim());
      if (Number.isSafeInteger(n) && n > 0) start = n;
    } catch {
      // first start
    }
    this.#next = start;
    this.#reservedUpTo = start - 1;
  }

  next(): number {
    if (this.#next > this.#reservedUpTo) this.#reserve();
    return this.#next++;
  }

  /** The server already holds `seq`; never hand out a number at or below it. */
  advancePast(seq: number): void {
    if (seq < this.#next) return;
    this.#next = seq + 1;
    if (this.#next > this.#reservedUpTo) this.#reserve();
  }

  #reserve(): void {
    const upTo = this.#next + this.#block - 1;
    try {
      writeFileAtomic(this.#file, `${upTo + 1}\n`);
      this.#reservedUpTo = upTo;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
      // A full disk must not stop collection: hand out this one number and try to reserve again
      // at the next. Numbers used unreserved can only come again after a restart on a disk that
      // stayed full, and the server's last_seq at Register is skipped past then as always.
      this.#reservedUpTo = this.#next;
    }
  }
}
