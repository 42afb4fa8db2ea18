import { stat } from 'node:fs/promises';
import type Docker from 'dockerode';
import type { Logger } from 'pino';

/** Docker's container states, as `docker ps` and the Engine API name them. */
export const DOCKER_STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] as const;
export type DockerState = (typeof DOCKER_STATES)[number];
export const HEALTH_STATES = ['starting', 'healthy', 'unhealthy'] as const;

/** The container events counted and logged; exec_*, attach, resize and the like are noise here. */
export const CONTAINER_EVENTS = [
  'create',
  'start',
  'restart',
  'stop',
  'kill',
  'die',
  'oom',
  'pause',
  'unpause',
  'destroy',
  'health_status',
] as const;
const LOGGED_EVENTS = new Set(['start', 'restart', 'stop', 'die', 'oom', 'pause', 'unpause', 'destroy']);

export interface DockerContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: DockerState;
  /** Only for containers with a healthcheck. */
  health?: string;
  restartCount: number;
  exitCode?: number;
  /** The main process on the host, 0 when not running. */
  pid: number;
  startedAtMs?: number;
  /** The cgroup path Docker gives it (from its cgroup driver and parent), for containers whose cgroup is gone. */
  cgroupPath: string;
}

export interface DockerSnapshot {
  containers: Map<string, DockerContainer>;
  /** Events seen since the agent started, by container id and event. */
  events: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

export interface DockerEngineOptions {
  socketPath: string;
  log: Logger;
  /** Each API call gives up after this long. */
  timeoutMs?: number;
  /** While the API is unavailable, a new attempt at most this often. */
  retryMs?: number;
}

/** The time in ms of a Docker RFC 3339 timestamp; Docker writes year 1 for "never". */
function parseDockerTime(s: string | undefined): number | undefined {
  if (!s || s.startsWith('0001-')) return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

function asState(s: string | undefined): DockerState {
  return (DOCKER_STATES as readonly string[]).includes(s ?? '') ? (s as DockerState) : 'dead';
}

/** The cgroup path runc uses for a Docker container, from the daemon's cgroup driver and the container's parent. */
export function dockerCgroupPath(id: string, driver: string, parent: string | undefined): string {
  if (driver === 'systemd') {
    // systemd slices nest by name: a-b.slice lives in a.slice/a-b.slice.
    const slice = parent || 'system.slice';
    const parts = slice.replace(/\.slice$/, '').split('-');
    const nested = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
    return `/${nested.join('/')}/docker-${id}.scope`;
  }
  return `${(parent || '/docker').replace(/\/$/, '')}/${id}`;
}

/** Why the Docker API did not answer, in a word the dashboard can say in its own language. */
export type DockerProblem = 'no_socket' | 'permission' | 'refused' | 'not_socket' | 'error';

export function dockerProblem(err: unknown): DockerProblem {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no_socket';
    case 'EACCES':
    case 'EPERM':
      return 'permission';
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTSOCK':
      return 'not_socket';
    default:
      return 'error';
  }
}

/** One line a user can act on, for the error a connect to the socket gave. */
export function describeSocketError(socketPath: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return `no Docker socket at ${socketPath}`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to open the Docker socket ${socketPath} (run the agent as root or in the docker group)`;
    case 'ECONNREFUSED':
      return `nothing is listening on the Docker socket ${socketPath}`;
    case 'ENOTSOCK':
      return `${socketPath} is not a socket`;
    default:
      return `Docker API at ${socketPath} failed: ${e.message ?? String(err)}`;
  }
}

const INSPECT_BATCH = 8;

/** What the list says of a container that, when it changes, means inspecting it again. */
function listKey(c: Docker.ContainerInfo): string {
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1] ?? '';
  return `${c.State}|${health}`;
}

interface Cached {
  /** State and health as the list showed them; a change (or an event) means inspect again. */
  key: string;
  container: DockerContainer;
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * The Docker Engine API as the container collector needs it: the containers with their names,
 * images, labels, states, health and restart counts, and a watch on container events. When the
 * socket is missing or refused it says so once and answers undefined until it is back.
 */
export class DockerEngine {
  #api: Docker | undefined;
  #events: Docker | undefined;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #socketPath: string;
  readonly #retryMs: number;
  #available: boolean | undefined;
  #problem: DockerProblem | undefined;
  #retryAt = 0;
  #driver: string | undefined;
  #cache = new Map<string, Cached>();
  #eventCounts = new Map<string, Map<string, number>>();
  #eventStream: NodeJS.ReadableStream | undefined;
  #watching = false;
  #lastEventSec = 0;
  /** When the last watch broke (s): what happened from then on is asked for again when the next watch opens. */
  #watchEndedSec = 0;
  /** Events already counted, so the replay after a reconnect (inclusive of its first second) counts each once. */
  #seen = new Set<string>();
  #closed = false;

  constructor(opts: DockerEngineOptions) {
    this.#socketPath = opts.socketPath;
    this.#log = opts.log;
    this.#retryMs = opts.retryMs ?? 5_000;
    this.#timeoutMs = opts.timeoutMs ?? 3_000;
  }

  /**
   * The API clients, made on the first call that finds something at the socket path. dockerode
   * (with docker-modem, ssh2, tar-fs and a gRPC client for BuildKit under it) is about 30 MB of
   * resident memory, which a host without Docker should not pay: it is imported only then.
   */
  async #clients(): Promise<{ api: Docker; events: Docker }> {
    if (!this.#api || !this.#events) {
      // Throws ENOENT when there is no socket, as a connect would.
      await stat(this.#socketPath);
      const { default: Dockerode } = await import('dockerode');
      this.#api ??= new Dockerode({ socketPath: this.#socketPath, timeout: this.#timeoutMs });
      // The event stream stays open for as long as the agent runs: no request timeout on it.
      this.#events ??= new Dockerode({ socketPath: this.#socketPath });
    }
    return { api: this.#api, events: this.#events };
  }

  get available(): boolean | undefined {
    return this.#available;
  }

  /** Why the last try failed; undefined while the API answers (or before the first try). */
  get problem(): DockerProblem | undefined {
    return this.#problem;
  }

  get socketPath(): string {
    return this.#socketPath;
  }

  /** The containers now, or undefined while the API is unavailable. */
  async snapshot(): Promise<DockerSnapshot | undefined> {
    if (this.#closed) return undefined;
    if (this.#available === false && Date.now() < this.#retryAt) return undefined;
    try {
      const { api, events } = await this.#clients();
      if (this.#driver === undefined) {
        const info = (await api.info()) as { CgroupDriver?: string };
        this.#driver = info.CgroupDriver ?? 'cgroupfs';
      }
      const listed = await api.listContainers({ all: true });
      const containers = new Map<string, DockerContainer>();
      const stale: Docker.ContainerInfo[] = [];
      for (const c of listed) {
        const cached = this.#cache.get(c.Id);
        if (cached && cached.key === listKey(c)) containers.set(c.Id, cached.container);
        else stale.push(c);
      }
      // A few inspects at a time: a host with hundreds of stopped containers must not flood the engine on the first round.
      for (let i = 0; i < stale.length; i += INSPECT_BATCH) {
        await Promise.all(
          stale.slice(i, i + INSPECT_BATCH).map(async (c) => {
            const container = await this.#inspect(api, c.Id);
            if (!container) return;
            this.#cache.set(c.Id, { key: listKey(c), container });
            containers.set(c.Id, container);
          }),
        );
      }
      for (const id of this.#cache.keys()) if (!containers.has(id)) this.#cache.delete(id);
      for (const id of this.#eventCounts.keys()) if (!containers.has(id)) this.#eventCounts.delete(id);
      if (this.#available !== true) {
        if (this.#available === false) this.#log.info({ socket: this.#socketPath }, 'Docker API available again');
        this.#available = true;
      }
      this.#problem = undefined;
      if (!this.#watching) this.#watch(events);
      return { containers, events: this.#eventCounts };
    } catch (err) {
      if (this.#available !== false) {
        // One line per outage, not one per collection.
        const code = (err as NodeJS.ErrnoException).code;
        // No socket at all is a host without Docker, worth a note; a socket that refuses us is worth a warning.
        const level = code === 'ENOENT' && this.#available === undefined ? 'info' : 'warn';
        this.#log[level](
          { socket: this.#socketPath, code },
          `${describeSocketError(this.#socketPath, err)}: containers are reported from cgroups only, without names, images or states`,
        );
      }
      this.#available = false;
      this.#problem = dockerProblem(err);
      this.#retryAt = Date.now() + this.#retryMs;
      return undefined;
    }
  }

  async #inspect(api: Docker, id: string): Promise<DockerContainer | undefined> {
    let i: Docker.ContainerInspectInfo;
    try {
      i = await api.getContainer(id).inspect();
    } catch (err) {
      // Removed between the list and the inspect.
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
    const s = i.State;
    const c: DockerContainer = {
      id: i.Id,
      name: i.Name.replace(/^\//, ''),
      image: i.Config?.Image ?? '',
      labels: i.Config?.Labels ?? {},
      state: asState(s.Status),
      restartCount: i.RestartCount ?? 0,
      pid: s.Pid ?? 0,
      cgroupPath: dockerCgroupPath(i.Id, this.#driver ?? 'cgroupfs', i.HostConfig?.CgroupParent),
    };
    if (s.Health?.Status && s.Health.Status !== 'none') c.health = s.Health.Status;
    const started = parseDockerTime(s.StartedAt);
    if (started !== undefined) c.startedAtMs = started;
    if (!s.Running) c.exitCode = s.ExitCode;
    return c;
  }

  #watch(events: Docker): void {
    this.#watching = true;
    const opts: Docker.GetEventsOptions = { filters: { type: ['container'] } };
    // After a reconnect, replay what happened meanwhile: from the last event counted or from when the
    // stream broke, whichever is later (a restarted engine's first events come before we watch again).
    const since = Math.max(this.#lastEventSec, this.#watchEndedSec);
    if (since) opts.since = since;
    events.getEvents(opts).then(
      (stream) => {
        if (this.#closed) {
          (stream as unknown as { destroy(): void }).destroy();
          return;
        }
        this.#eventStream = stream;
        // A watch must not keep the agent running after it was told to stop.
        (stream as unknown as { socket?: { unref?: () => void } }).socket?.unref?.();
        let buf = '';
        stream.on('data', (chunk: Buffer | string) => {
          buf += chunk.toString();
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.#onEvent(line);
            nl = buf.indexOf('\n');
          }
        });
        const done = () => {
          if (this.#eventStream === stream) this.#watchEndedSec = Math.floor(Date.now() / 1000);
          this.#eventStream = undefined;
          // The next snapshot that reaches the API opens a new watch.
          this.#watching = false;
        };
        stream.on('error', done);
        stream.on('end', done);
        stream.on('close', done);
      },
      () => {
        this.#watching = false;
      },
    );
  }

  #onEvent(line: string): void {
    let e: DockerEvent;
    try {
      e = JSON.parse(line) as DockerEvent;
    } catch {
      return;
    }
    if (e.Type && e.Type !== 'container') return;
    const id = e.Actor?.ID ?? e.id;
    const action = (e.Action ?? e.status ?? '').split(':')[0]?.trim() ?? '';
    if (!id || !(CONTAINER_EVENTS as readonly string[]).includes(action)) return;
    if (this.#seen.has(line)) return;
    if (this.#seen.size >= 1000) this.#seen.clear();
    this.#seen.add(line);
    if (e.time) this.#lastEventSec = Math.max(this.#lastEventSec, e.time);
    let counts = this.#eventCounts.get(id);
    if (!counts) {
      counts = new Map();
      this.#eventCounts.set(id, counts);
    }
    counts.set(action, (counts.get(action) ?? 0) + 1);
    this.#cache.delete(id);
    if (LOGGED_EVENTS.has(action)) {
      const attrs = e.Actor?.Attributes ?? {};
      const fields: Record<string, unknown> = { event: action, container: attrs.name, id: id.slice(0, 12), image: attrs.image };
      if (action === 'die') fields.exitCode = Number(attrs.exitCode);
      this.#log.info(fields, 'container event');
    }
  }

  close(): void {
    this.#closed = true;
    const s = this.#eventStream as unknown as { destroy?: () => void } | undefined;
    s?.destroy?.();
    this.#eventStream = undefined;
  }
}
