import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { pb } from '@falconet/protocol';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import { writeFileAtomic } from '../identity.ts';

/** One UpdateStatus as kept on disk (the wire message, with the state as its number). */
export type PendingStatus = pb.UpdateStatus & { id: number };

/**
 * The update statuses the server has not yet got, in `<data dir>/update/statuses.json`: a status
 * can be made by one process (ROLLED_BACK, by the parent after its trial) and sent by the next
 * (after the exec), or be made while the stream is down. There is no ack for a status: it counts
 * as delivered once the server acknowledged a report written after it on the same stream (the
 * server handles a stream's messages in order).
 */
export class StatusQueue {
  readonly #file: string;
  #items: PendingStatus[];
  /** For each status written on the current stream, the last report seq written before it. */
  readonly #written = new Map<number, number>();

  constructor(updateDir: string) {
    mkdirSync(updateDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    this.#file = join(updateDir, 'statuses.json');
    this.#items = readStatuses(this.#file);
  }

  get pending(): readonly PendingStatus[] {
    return this.#items;
  }

  /** Keeps `status` on disk before anyone may send it. */
  push(status: pb.UpdateStatus): PendingStatus {
    const id = (this.#items.at(-1)?.id ?? 0) + 1;
    const item = { ...status, id };
    this.#items.push(item);
    this.#save();
    return item;
  }

  /** The statuses not yet written on the current stream, oldest first. */
  unwritten(): PendingStatus[] {
    return this.#items.filter((s) => !this.#written.has(s.id));
  }

  /** `status` was written on the stream after the report numbered `lastSentSeq`. */
  written(id: number, lastSentSeq: number): void {
    this.#written.set(id, lastSentSeq);
  }

  /** A new stream: nothing written on the old one counts any more. */
  reconnected(): void {
    this.#written.clear();
  }

  /** The server acknowledged reports up to `seq`: every status written before one of them has arrived. */
  acked(seq: number): number {
    const done = new Set([...this.#written].filter(([, before]) => seq > before).map(([id]) => id));
    if (done.size === 0) return 0;
    this.#items = this.#items.filter((s) => !done.has(s.id));
    for (const id of done) this.#written.delete(id);
    this.#save();
    return done.size;
  }

  #save(): void {
    if (this.#items.length === 0) rmSync(this.#file, { force: true });
    else writeFileAtomic(this.#file, `${JSON.stringify(this.#items)}\n`);
  }
}

function readStatuses(file: string): PendingStatus[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  try {
    const items = JSON.parse(text) as unknown;
    if (!Array.isArray(items)) return [];
    return items.filter((s): s is PendingStatus => typeof s === 'object' && s !== null && typeof (s as PendingStatus).id === 'number');
  } catch {
    // A torn file from a crash mid-write cannot happen (atomic rename); anything else is not ours to trust.
    return [];
  }
}
