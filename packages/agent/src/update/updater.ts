import { createHash, type KeyObject } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pb, type ReleaseManifest } from '@falconet/protocol';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../identity.ts';
import type { UpdateConfig } from './config.ts';
import { parseReleaseKey } from './keys.ts';
import { judgeDownload, judgeOffer } from './offer.ts';
import { nextPath, type SelfBinary, TRIAL_ENV, updateBlocked } from './self.ts';
import { StatusQueue } from './status-queue.ts';

const S = pb.UpdateState;

/** Largest chunk asked for at once (the contract's bound). */
export const CHUNK_BYTES = 1024 * 1024;

/** The stream as the updater uses it (ReportStream). */
export interface UpdateChannel {
  /** Writes on the registered stream; false when there is none. */
  sendUpdate(body: NonNullable<pb.AgentMessage['body']>): boolean;
  /** The seq of the last report written on the current stream (0 for none). */
  readonly lastSentSeq: number;
}

/** A verified binary staged beside the running one, ready for its trial. */
export interface StagedUpdate {
  rolloutId: string;
  fromVersion: string;
  toVersion: string;
  /** The running binary and the staged one (falconet-agent.next). */
  current: string;
  next: string;
  updateDir: string;
}

export interface UpdaterOptions {
  config: UpdateConfig;
  dataDir: string;
  log: Logger;
  self: SelfBinary;
  env?: NodeJS.ProcessEnv;
  /** A verified binary is staged: the process stops its work and runs the trial (runtime/run.ts). */
  onStaged(update: StagedUpdate): void;
  /** How long to wait for one chunk. */
  chunkTimeoutMs?: number;
}

/** Written by the parent just before it execs the new binary, read by that binary to report SUCCEEDED. */
export const SWAP_FILE = 'swapped.json';
/** Versions that failed their trial here: not tried again when offered again. */
export const ROLLED_BACK_FILE = 'rolled-back.json';

export const updateDirOf = (dataDir: string) => join(dataDir, 'update');

/** Versions that failed their trial on this host (update/rolled-back.json). */
export function rolledBackVersions(updateDir: string): string[] {
  try {
    const v = JSON.parse(readFileSync(join(updateDir, ROLLED_BACK_FILE), 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The running agent's side of self-update (docs/update.md): judges each UpdateOffer, downloads the
 * binary over the stream to falconet-agent.next, checks it against the signed manifest, and hands
 * it to the trial; sends every status, kept on disk until the server has it. In a new binary on
 * trial it also tells the waiting parent once its first report is acknowledged.
 */
export class Updater {
  readonly #opts: UpdaterOptions;
  readonly #log: Logger;
  readonly #queue: StatusQueue;
  readonly #keys: KeyObject[];
  readonly #updateDir: string;
  readonly #env: NodeJS.ProcessEnv;
  #channel: UpdateChannel | undefined;
  #busy = false;
  #trialReported = false;
  #chunkWaiter: { rolloutId: string; offset: number; resolve(c: pb.UpdateChunk): void } | undefined;

  constructor(opts: UpdaterOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'update' });
    this.#env = opts.env ?? process.env;
    this.#updateDir = updateDirOf(opts.dataDir);
    this.#queue = new StatusQueue(this.#updateDir);
    // The schema has checked every key; a bad one here would be a bug, not a user's mistake.
    this.#keys = opts.config.public_keys.map((k) => parseReleaseKey(k));
    this.#afterSwap();
  }

  /** What Register says: this build's release target and, when it cannot update, why. */
  registerInfo(): { releaseTarget: string; updateBlocked: string } {
    return { releaseTarget: this.#opts.self.target, updateBlocked: updateBlocked(this.#opts.config, this.#opts.self, this.#env) };
  }

  get pendingStatuses(): number {
    return this.#queue.pending.length;
  }

  attach(channel: UpdateChannel): void {
    this.#channel = channel;
  }

  /** A stream registered: what the server has not yet got is written again. */
  onRegistered(): void {
    this.#queue.reconnected();
    this.#sendPending();
  }

  onAck(seq: number): void {
    if (this.#queue.pending.length) this.#queue.acked(seq);
    const trialFile = this.#env[TRIAL_ENV];
    if (trialFile && !this.#trialReported) {
      // Registered and a report acknowledged: this binary works; the parent waiting on it swaps it in.
      this.#trialReported = true;
      writeFileSync(trialFile, '{"ok":true}\n', { mode: 0o600 });
      this.#log.info({ trialFile }, 'first report acknowledged: trial passed');
    }
  }

  onChunk(chunk: pb.UpdateChunk): void {
    const w = this.#chunkWaiter;
    if (!w || w.rolloutId !== chunk.rolloutId || w.offset !== chunk.offset) {
      this.#log.debug({ rolloutId: chunk.rolloutId, offset: chunk.offset }, 'an update chunk nobody asked for: dropped');
      return;
    }
    this.#chunkWaiter = undefined;
    w.resolve(chunk);
  }

  /** Judges the offer at once (a refusal is answered at once, even during a download); a download runs one at a time. */
  onOffer(offer: pb.UpdateOffer): void {
    const self = this.#opts.self;
    const { rolloutId } = offer;
    const verdict = judgeOffer(offer.manifest, offer.manifestSignature, {
      version: self.version,
      target: self.target,
      keys: this.#keys,
      blocked: updateBlocked(this.#opts.config, self, this.#env),
    });
    if (verdict.kind === 'ignore') {
      this.#log.debug({ rolloutId, why: verdict.why }, 'update offer ignored');
      return;
    }
    if (verdict.kind === 'refuse') {
      this.#log.warn({ rolloutId, reason: verdict.reason }, 'update refused');
      this.#status(rolloutId, S.UPDATE_STATE_REFUSED, verdict.manifest?.version ?? '', verdict.reason);
      return;
    }
    const m = verdict.manifest;
    if (rolledBackVersions(this.#updateDir).includes(m.version)) {
      this.#log.info({ rolloutId, version: m.version }, `version ${m.version} failed its trial on this host before; not trying it again`);
      return;
    }
    if (this.#busy) {
      this.#log.info({ rolloutId }, 'an update offer while another update runs: ignored');
      return;
    }
    this.#busy = true;
    this.#install(rolloutId, m)
      .catch((err: Error) => {
        this.#log.error({ err, rolloutId }, 'update failed');
        this.#status(rolloutId, S.UPDATE_STATE_FAILED, m.version, `${err.message}; nothing was changed`);
      })
      .finally(() => {
        this.#busy = false;
      });
  }

  async #install(rolloutId: string, m: ReleaseManifest): Promise<void> {
    const self = this.#opts.self;
    this.#log.info({ rolloutId, from: self.version, to: m.version, size: m.size }, 'update offered: downloading');
    this.#status(rolloutId, S.UPDATE_STATE_DOWNLOADING, m.version, '');
    const next = nextPath(self.binary);
    let got: { size: number; sha256: string };
    try {
      got = await this.#download(rolloutId, m, next);
    } catch (err) {
      rmSync(next, { force: true });
      throw err;
    }
    const wrong = judgeDownload(got.size, got.sha256, m);
    if (wrong) {
      rmSync(next, { force: true });
      this.#log.warn({ rolloutId, reason: wrong }, 'update refused');
      this.#status(rolloutId, S.UPDATE_STATE_REFUSED, m.version, wrong);
      return;
    }
    this.#status(rolloutId, S.UPDATE_STATE_VERIFIED, m.version, '');
    this.#log.info({ rolloutId, to: m.version, next }, 'new binary verified: starting its trial');
    this.#opts.onStaged({
      rolloutId,
      fromVersion: self.version,
      toVersion: m.version,
      current: self.binary,
      next,
      updateDir: this.#updateDir,
    });
  }

  /** Fetches the binary chunk by chunk into `path` (0755, fsynced), hashing as it goes. */
  async #download(rolloutId: string, m: ReleaseManifest, path: string): Promise<{ size: number; sha256: string }> {
    const hash = createHash('sha256');
    const fd = openSync(path, 'w', 0o755);
    let offset = 0;
    try {
      fchmodSync(fd, 0o755);
      while (offset < m.size) {
        const length = Math.min(CHUNK_BYTES, m.size - offset);
        const chunk = await this.#fetch(rolloutId, offset, length);
        if (chunk.error) throw new Error(`the server could not send the binary at offset ${offset}: ${chunk.error}`);
        if (chunk.data.length === 0) break; // the server's file is shorter than the manifest: judged below
        if (chunk.data.length > length)
          throw new Error(`the server sent ${chunk.data.length} bytes at offset ${offset}, ${length} were asked for`);
        writeSync(fd, chunk.data);
        hash.update(chunk.data);
        offset += chunk.data.length;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return { size: offset, sha256: hash.digest('hex') };
  }

  async #fetch(rolloutId: string, offset: number, length: number): Promise<pb.UpdateChunk> {
    const ms = this.#opts.chunkTimeoutMs ?? 30_000;
    return await new Promise<pb.UpdateChunk>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#chunkWaiter = undefined;
        reject(new Error(`the server sent no chunk for offset ${offset} within ${ms / 1000} s`));
      }, ms);
      this.#chunkWaiter = {
        rolloutId,
        offset,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      };
      if (!this.#channel?.sendUpdate({ $case: 'updateFetch', value: { rolloutId, offset, length } })) {
        clearTimeout(timer);
        this.#chunkWaiter = undefined;
        reject(new Error('the connection to the server was lost during the download'));
      }
    });
  }

  #status(rolloutId: string, state: pb.UpdateState, toVersion: string, reason: string): void {
    this.#queue.push({ rolloutId, state, fromVersion: this.#opts.self.version, toVersion, reason, timeMs: Date.now() });
    this.#sendPending();
  }

  #sendPending(): void {
    const channel = this.#channel;
    if (!channel) return;
    for (const s of this.#queue.unwritten()) {
      const { id, ...status } = s;
      if (!channel.sendUpdate({ $case: 'updateStatus', value: status })) return;
      this.#queue.written(id, channel.lastSentSeq);
    }
  }

  /** After an exec into a new binary: the parent left swapped.json; this process says how the swap ended. */
  #afterSwap(): void {
    const file = join(this.#updateDir, SWAP_FILE);
    let swap: { rolloutId: string; fromVersion: string; toVersion: string };
    try {
      swap = JSON.parse(readFileSync(file, 'utf8')) as typeof swap;
    } catch {
      return;
    }
    const self = this.#opts.self.version;
    if (self === swap.toVersion) {
      this.#queue.push({ ...swap, state: S.UPDATE_STATE_SUCCEEDED, reason: '', timeMs: Date.now() });
      this.#log.info({ rolloutId: swap.rolloutId, from: swap.fromVersion, to: self }, 'update succeeded');
    } else {
      const reason = `after the swap version ${self} started instead of ${swap.toVersion}`;
      this.#queue.push({ ...swap, state: S.UPDATE_STATE_FAILED, reason, timeMs: Date.now() });
      this.#log.error({ rolloutId: swap.rolloutId }, reason);
    }
    rmSync(file, { force: true });
  }
}

/** The parent, just before exec'ing the swapped-in binary: what that binary reads to report SUCCEEDED. */
export function recordSwap(update: StagedUpdate): void {
  writeFileAtomic(
    join(update.updateDir, SWAP_FILE),
    `${JSON.stringify({ rolloutId: update.rolloutId, fromVersion: update.fromVersion, toVersion: update.toVersion })}\n`,
  );
}
