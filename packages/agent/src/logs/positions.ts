import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';

/** Where reading a file resumes, and how the file is recognised again (device, inode, first bytes). */
export interface FilePosition {
  source: string;
  /** The path the file had when first seen: the records' `stream`. */
  stream: string;
  /** Its latest known path (a rotated file has moved). */
  path: string;
  dev: number;
  ino: number;
  /** SHA-256 (hex) of the file's first `fpLen` bytes (at most 1 KiB): tells a reused inode from the file it was. */
  fp: string;
  fpLen: number;
  /** The first byte not yet handed over: everything before it is in the spool (or was dropped and counted). */
  offset: number;
  /** A journald source's position: the cursor of the last entry handed over (the file fields are then empty). */
  cursor?: string;
}

interface Saved {
  version: 1;
  /** Positions whose lines are all in the spool. */
  committed: FilePosition[];
  /**
   * Positions after batch `seq`, written before that batch is appended to the spool. Whether
   * they or `committed` hold is decided at the next start by whether the spool got `seq`.
   */
  pending?: { seq: number; positions: FilePosition[] };
}

/**
 * Read positions, saved durably (write to a temporary file, fsync, rename, fsync the directory).
 *
 * The ordering that makes a SIGKILL at any instant repeat nothing and lose nothing:
 *
 *   1. The shipper cuts a batch and snapshots each file's offset just past the batch's last line.
 *   2. The report stream numbers the batch `seq` and, before appending it, calls `savePending`:
 *      the file now holds { committed: before the batch, pending: { seq, after the batch } }.
 *   3. The batch is appended to the spool and fsynced; `commit()` then makes "after" the committed
 *      positions in memory (written with the next save).
 *
 * Killed before 2 completes: the old file (or the old temporary one) says `committed` = before the
 * batch, and the batch is not in the spool: its lines are read again, once. Killed between 2 and 3:
 * the spool's last sequence is below `seq`, so `load` takes `committed`: the lines are read again
 * and the half-appended record (if any) is a torn tail the spool cuts. Killed after 3: the spool's
 * last sequence is at least `seq`, so `load` takes `pending`: nothing is read twice. Sequence
 * numbers only grow and the spool keeps its last sequence even after acknowledged segments are
 * removed (it saves the acknowledged pointer first), so "the spool got `seq`" is lastSeq >= seq.
 */
export class PositionStore {
  readonly #path: string;
  #committed: FilePosition[] = [];
  #pending: { seq: number; positions: FilePosition[] } | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /**
   * The positions to resume from, given the highest sequence the spool holds. A missing file is a
   * first start; a damaged one is an error naming the file, as resuming blind would repeat or skip lines.
   */
  async load(spoolLastSeq: number): Promise<FilePosition[]> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let saved: Saved;
    try {
      saved = JSON.parse(text) as Saved;
      if (saved.version !== 1 || !Array.isArray(saved.committed)) throw new Error('unknown layout');
    } catch (err) {
      throw new Error(
        `log read positions in ${this.#path} are unreadable (${(err as Error).message}); move the file away to read every file from the start`,
      );
    }
    const handedOver = saved.pending && saved.pending.seq <= spoolLastSeq;
    this.#committed = handedOver ? (saved.pending as { positions: FilePosition[] }).positions : saved.committed;
    // Settled now, before anything else is numbered: a later report reaching `seq` must not make
    // an abandoned pending batch look handed over at the start after this one.
    if (saved.pending) await this.#write({ version: 1, committed: this.#committed });
    return this.#committed;
  }

  /** Step 2 above: durable before the batch numbered `seq` is appended. */
  async savePending(seq: number, positions: FilePosition[]): Promise<void> {
    this.#pending = { seq, positions };
    await this.#write({ version: 1, committed: this.#committed, pending: this.#pending });
  }

  /** Step 3: the pending batch is in the spool. */
  commit(): void {
    if (this.#pending) this.#committed = this.#pending.positions;
    this.#pending = undefined;
  }

  /** Positions that moved with nothing handed over (lines dropped, files closed): no batch to wait for. */
  async saveCommitted(positions: FilePosition[]): Promise<void> {
    this.#committed = positions;
    this.#pending = undefined;
    await this.#write({ version: 1, committed: positions });
  }

  async #write(saved: Saved): Promise<void> {
    const tmp = `${this.#path}.tmp`;
    const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await fh.writeFile(JSON.stringify(saved));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#path);
    const dir = await open(dirname(this.#path), 'r').catch(() => undefined);
    try {
      await dir?.sync();
    } catch {
      // a filesystem that refuses fsync on a directory: the rename is still atomic
    } finally {
      await dir?.close();
    }
  }
}
