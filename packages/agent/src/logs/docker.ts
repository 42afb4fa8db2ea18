import { stat } from 'node:fs/promises';
import { matchesGlob } from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { FilePosition } from './positions.ts';
import type { SourceRuntime } from './source.ts';

/** One line of a container's output as the shipper turns it into a record. */
export interface DockerEntry {
  follower: ContainerFollower;
  /** Docker's RFC 3339 time of the line, nanoseconds. */
  ts: string;
  message: string;
  stream: string;
  timeMs: number;
  fields: Record<string, string>;
}

/** Where a container's reading resumes: after the `n`-th line stamped `ts`. */
interface DockerPos {
  id: string;
  name: string;
  ts: string;
  n: number;
}

const MAX_QUEUED = 5_000;

/** Docker's time as nanoseconds since the epoch (its fraction has up to 9 digits, trailing zeros dropped). */
export function dockerNanos(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) return undefined;
  return BigInt(secs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * Splits Docker's multiplexed log stream (no TTY: frames of an 8-byte header, stream type and
 * big-endian length, then the bytes) or passes a TTY container's raw bytes, into lines per stream.
 */
export class Demux {
  readonly #tty: boolean;
  #buf: Buffer = Buffer.alloc(0);
  readonly #partial: Record<string, string> = { stdout: '', stderr: '' };

  constructor(tty: boolean) {
    this.#tty = tty;
  }

  push(chunk: Buffer): { std: 'stdout' | 'stderr'; line: string }[] {
    const out: { std: 'stdout' | 'stderr'; line: string }[] = [];
    if (this.#tty) {
      this.#lines('stdout', chunk.toString('utf8'), out);
      return out;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    while (this.#buf.length >= 8) {
      const size = this.#buf.readUInt32BE(4);
      if (this.#buf.length < 8 + size) break;
      const std = this.#buf[0] === 2 ? 'stderr' : 'stdout';
      this.#lines(std, this.#buf.subarray(8, 8 + size).toString('utf8'), out);
      this.#buf = this.#buf.subarray(8 + size);
    }
    return out;
  }

  #lines(std: 'stdout' | 'stderr', text: string, out: { std: 'stdout' | 'stderr'; line: string }[]): void {
    const parts = (this.#partial[std] + text).split('\n');
    this.#partial[std] = parts.pop() ?? '';
    for (const p of parts) out.push({ std, line: p.endsWith('\r') ? p.slice(0, -1) : p });
  }
}

/**
 * Follows one container's logs (`/containers/{id}/logs?follow&timestamps&since`). Docker's `since`
 * has whole-second use here, so a resumed follow starts at the second of the last line handed over
 * and skips what was handed over already: lines stamped before it, and the first `n` stamped the same.
 */
export class ContainerFollower {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  /** Position after the last line emitted. */
  pos: DockerPos;
  #skipTs: bigint | undefined;
  #skipN: number;
  #seenAtSkip = 0;
  #lastTs = '';
  #lastNanos: bigint | undefined;
  #countAtLast = 0;
  ended = false;
  #stream: NodeJS.ReadableStream | undefined;

  constructor(id: string, name: string, image: string, saved: DockerPos | undefined) {
    this.id = id;
    this.name = name;
    this.image = image;
    this.pos = saved ?? { id, name, ts: '', n: 0 };
    this.#skipTs = saved?.ts ? dockerNanos(saved.ts) : undefined;
    this.#skipN = saved?.n ?? 0;
  }

  get sinceSeconds(): number {
    return this.#skipTs === undefined ? 0 : Number(this.#skipTs / 1_000_000_000n);
  }

  /** Numbers the line within its timestamp; false for a line handed over before the restart. */
  admit(ts: string): { keep: boolean; n: number } {
    const nanos = dockerNanos(ts);
    if (nanos !== undefined && nanos === this.#lastNanos) this.#countAtLast++;
    else {
      this.#lastNanos = nanos;
      this.#lastTs = ts;
      this.#countAtLast = 1;
    }
    if (this.#skipTs !== undefined && nanos !== undefined) {
      if (nanos < this.#skipTs) return { keep: false, n: this.#countAtLast };
      if (nanos === this.#skipTs && ++this.#seenAtSkip <= this.#skipN) return { keep: false, n: this.#countAtLast };
    }
    return { keep: true, n: this.#countAtLast };
  }

  attach(stream: NodeJS.ReadableStream): void {
    this.#stream = stream;
  }

  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    this.#stream?.resume();
  }

  close(): void {
    const s = this.#stream as unknown as { destroy?: () => void } | undefined;
    s?.destroy?.();
    this.ended = true;
  }

  get lastTs(): string {
    return this.#lastTs;
  }
}

/**
 * A docker source: the running containers whose names match `containers` (all when empty),
 * listed every scan, each followed from where it was left. Positions (container id, last time
 * and count at that time) are saved with the file positions.
 */
export class DockerLogs {
  readonly source: SourceRuntime;
  readonly #socket: string;
  readonly #log: Logger;
  readonly #onData: () => void;
  readonly #saved = new Map<string, DockerPos>();
  readonly #followers = new Map<string, ContainerFollower>();
  #queue: DockerEntry[] = [];
  #paused = false;
  #api: Docker | undefined;
  #first = true;
  #warned = false;

  constructor(source: SourceRuntime, socket: string, saved: FilePosition[], log: Logger, onData: () => void) {
    this.source = source;
    this.#socket = socket;
    this.#log = log;
    this.#onData = onData;
    for (const p of saved) {
      try {
        const pos = JSON.parse(p.cursor ?? '') as DockerPos;
        if (pos.id) this.#saved.set(pos.id, pos);
      } catch {
        // not a docker position
      }
    }
  }

  async #client(): Promise<Docker> {
    if (!this.#api) {
      await stat(this.#socket);
      const { default: Dockerode } = await import('dockerode');
      this.#api = new Dockerode({ socketPath: this.#socket });
    }
    return this.#api;
  }

  /** Lists the containers again: follows the new running ones, forgets the removed ones. */
  async scan(): Promise<void> {
    let list: Docker.ContainerInfo[];
    let api: Docker;
    try {
      api = await this.#client();
      list = await api.listContainers({ all: true });
      this.#warned = false;
    } catch (err) {
      if (!this.#warned)
        this.#log.warn(
          { source: this.source.cfg.name, socket: this.#socket, err: (err as Error).message },
          'cannot list Docker containers',
        );
      this.#warned = true;
      return;
    }
    const patterns = this.source.cfg.containers;
    const present = new Set<string>();
    for (const c of list) {
      const name = (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
      if (patterns.length && !patterns.some((p) => matchesGlob(name, p))) continue;
      present.add(c.Id);
      const f = this.#followers.get(c.Id);
      if (f && !f.ended) continue;
      if (c.State !== 'running') continue;
      const saved = f?.pos ?? this.#saved.get(c.Id);
      const startAtEnd = this.#first && !saved && this.source.cfg.start_at === 'end';
      await this.#follow(api, c.Id, name, c.Image, saved, startAtEnd);
    }
    this.#first = false;
    for (const [id, f] of this.#followers) {
      if (!present.has(id)) {
        f.close();
        this.#followers.delete(id);
      }
    }
    for (const id of [...this.#saved.keys()]) if (!present.has(id) && !this.#followers.has(id)) this.#saved.delete(id);
  }

  async #follow(api: Docker, id: string, name: string, image: string, saved: DockerPos | undefined, atEnd: boolean): Promise<void> {
    const f = new ContainerFollower(id, name, image, saved);
    this.#followers.set(id, f);
    try {
      const container = api.getContainer(id);
      const info = await container.inspect();
      const since = atEnd ? Math.floor(Date.now() / 1000) : f.sinceSeconds;
      const stream = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true, since })) as NodeJS.ReadableStream;
      f.attach(stream);
      const demux = new Demux(Boolean(info.Config?.Tty));
      stream.on('data', (chunk: Buffer) => {
        for (const { std, line } of demux.push(chunk)) {
          const sp = line.indexOf(' ');
          const ts = sp > 0 ? line.slice(0, sp) : line;
          const { keep } = f.admit(ts);
          if (!keep) continue;
          const nanos = dockerNanos(ts);
          this.#queue.push({
            follower: f,
            ts,
            message: sp > 0 ? line.slice(sp + 1) : '',
            stream: name,
            timeMs: nanos === undefined ? Date.now() : Number(nanos / 1_000_000n),
            fields: { container: name, container_id: id.slice(0, 12), image, std },
          });
        }
        if (this.#queue.length >= MAX_QUEUED && !this.#paused) {
          this.#paused = true;
          for (const x of this.#followers.values()) x.pause();
        }
        this.#onData();
      });
      const end = () => {
        f.ended = true;
      };
      stream.on('end', end);
      stream.on('close', end);
      stream.on('error', end);
      this.#log.info({ source: this.source.cfg.name, container: name, since }, 'following container logs');
    } catch (err) {
      f.ended = true;
      this.#log.warn({ source: this.source.cfg.name, container: name, err: (err as Error).message }, 'cannot follow container logs');
    }
  }

  takeEntries(max: number): DockerEntry[] {
    const out = this.#queue.splice(0, max);
    if (this.#paused && this.#queue.length < MAX_QUEUED / 2) {
      this.#paused = false;
      for (const x of this.#followers.values()) x.resume();
    }
    return out;
  }

  /** The entry is emitted: its container's position moves past it. */
  advance(e: DockerEntry): void {
    const p = e.follower.pos;
    if (p.ts === e.ts) p.n++;
    else {
      p.ts = e.ts;
      p.n = 1;
    }
  }

  positions(): FilePosition[] {
    const all = new Map(this.#saved);
    for (const f of this.#followers.values()) if (f.pos.ts) all.set(f.id, f.pos);
    return [...all.values()].map((p) => ({
      source: this.source.cfg.name,
      stream: p.name,
      path: '',
      dev: 0,
      ino: 0,
      fp: '',
      fpLen: 0,
      offset: 0,
      cursor: JSON.stringify(p),
    }));
  }

  /** Stops following; the positions stay (the shipper saves them after its last batch). */
  stop(): void {
    for (const f of this.#followers.values()) {
      f.close();
      if (f.pos.ts) this.#saved.set(f.id, f.pos);
    }
    this.#followers.clear();
  }
}
