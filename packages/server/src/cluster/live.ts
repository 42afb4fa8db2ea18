/**
 * The live view across the nodes of a cluster, over NATS core subjects: what one node's agents
 * send reaches the browsers of every other node that watches them. Live data is a view, not a
 * record (the store has every sample), so plain publish/subscribe fits: a message lost while NATS
 * restarts costs a point on a chart, never a stored sample.
 *
 * Subjects, under `falconet.<cluster name>.live`:
 * - `watch`: each node's set of agents its browsers watch, sent when it changes and every
 *   `announceMs`; a node forgets another's set after three periods without one.
 * - `samples`: an agent's samples, published only while another node watches that agent, so a
 *   fleet's ingest does not cross the bus for nobody.
 * - `tasks`: task messages (a task, a run, its output) for every node's browsers.
 * - `node.<node>.deliver` (request and reply): "send this task to this agent of yours", for a
 *   task started on a node that does not hold the agent's stream; the holder signs and sends it.
 * - `agents`: the agents that changed (connected, disconnected, a new summary) or were removed,
 *   gathered for up to a second into one message, for every node's browsers.
 *
 * The connection is opened with `noEcho`: a node does not get its own messages back.
 */
import type { Sample } from '@falconet/protocol';
import {
  type Agent,
  Agent as AgentSchema,
  type ClusterNode,
  ClusterNode as ClusterNodeSchema,
  type ClusterStatus,
  type TaskLiveMessage,
} from '@falconet/protocol/api';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { LiveHub, LiveRelay } from '../live/hub.ts';

export interface ClusterLiveOptions {
  /** NATS server addresses, e.g. nats://127.0.0.1:4222. */
  servers: string[];
  /** The cluster's name: nodes of one cluster share it, and it keeps two clusters on one NATS apart. */
  cluster: string;
  /** This node's name, unique in the cluster. */
  node: string;
  hub: LiveHub;
  /** Where agents held by other nodes go, besides this node's dashboards: its registry. */
  registry?: { remote(agent: Agent, node: string): void; remoteRemoved(agentId: string): void };
  /** Sends a task to an agent whose stream is on this node, when another node asks. */
  tasks?: { deliverHere(taskId: string, agentId: string, cancel: boolean): Promise<boolean> };
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** How often a node says which agents it watches, with its heartbeat (default 5 s). */
  announceMs?: number;
  /** What this node says of itself in each heartbeat. */
  info?: () => NodeInfo;
}

/** A node's heartbeat beside its watch list: what `cluster status` and GET /api/cluster show. */
export type NodeInfo = Pick<ClusterNode, 'http' | 'version' | 'startedMs' | 'agents' | 'databases'>;

interface WatchMessage {
  node: string;
  agents: string[];
  info?: NodeInfo;
}

interface TasksMessage {
  msg: TaskLiveMessage;
  taskId?: string;
}

interface DeliverRequest {
  taskId: string;
  agentId: string;
  cancel: boolean;
}

interface SamplesMessage {
  agentId: string;
  samples: readonly Sample[];
}

interface AgentsMessage {
  node: string;
  agents: Agent[];
  removed: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The characters a NATS subject token may hold here; the cluster name becomes one token. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

const NodeInfoSchema = ClusterNodeSchema.pick({ http: true, version: true, startedMs: true, agents: true, databases: true });

export class ClusterLive implements LiveRelay {
  readonly #o: ClusterLiveOptions;
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #subs: Subscription[] = [];
  /** Per other node, the agents it watches, its heartbeat, and when it last said so. */
  readonly #remote = new Map<string, { agents: Set<string>; info: NodeInfo | undefined; atMs: number }>();
  #connected = true;
  #announced = '';
  #timer: NodeJS.Timeout | undefined;
  /** Agents changed or removed since the last `agents` message. */
  readonly #changed = new Map<string, Agent | undefined>();
  /** Messages sent by kind, and received (those unreadable apart), for /metrics. */
  readonly counts = { published: { watch: 0, samples: 0, agents: 0, tasks: 0 }, received: 0, malformed: 0, dropped: 0 };

  private constructor(o: ClusterLiveOptions, nc: NatsConnection) {
    this.#o = o;
    this.#nc = nc;
    this.#subject = `falconet.${o.cluster}.live`;
  }

  static async start(o: ClusterLiveOptions): Promise<ClusterLive> {
    if (!TOKEN.test(o.cluster)) throw new Error(`cluster.name "${o.cluster}" must be 1-64 letters, digits, "_" or "-"`);
    const nc = await connect({ servers: o.servers, name: `falconet-server ${o.node}`, noEcho: true, maxReconnectAttempts: -1 });
    const live = new ClusterLive(o, nc);
    live.#listen();
    o.hub.relay = live;
    live.#announce(true);
    const every = o.announceMs ?? 5000;
    // A browser subscribing is seen within a second; the full set goes out every period regardless.
    let ticks = 0;
    live.#timer = setInterval(() => {
      live.#announce(++ticks % Math.max(1, Math.round(every / 1000)) === 0);
      live.#sendAgents();
    }, 1000);
    live.#timer.unref();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') {
          live.#connected = s.type === 'reconnect';
          o.log.info({ nats: s.type }, `cluster bus ${s.type}ed`);
        }
      }
    })().catch(() => undefined);
    o.log.info({ servers: o.servers, cluster: o.cluster, node: o.node }, 'cluster bus connected: live view shared with the other nodes');
    return live;
  }

  #listen(): void {
    const on = (suffix: string, fn: (data: unknown) => void) => {
      this.#subs.push(
        this.#nc.subscribe(`${this.#subject}.${suffix}`, {
          callback: (err, msg) => {
            if (err) return;
            let data: unknown;
            try {
              data = JSON.parse(decoder.decode(msg.data));
            } catch {
              this.counts.malformed++;
              return;
            }
            this.counts.received++;
            fn(data);
          },
        }),
      );
    };
    on('watch', (d) => {
      const m = d as Partial<WatchMessage>;
      if (typeof m.node !== 'string' || !Array.isArray(m.agents)) return void this.counts.malformed++;
      const info = NodeInfoSchema.safeParse(m.info);
      this.#remote.set(m.node, {
        agents: new Set(m.agents.filter((a) => typeof a === 'string')),
        info: info.success ? info.data : undefined,
        atMs: Date.now(),
      });
    });
    on('samples', (d) => {
      const m = d as Partial<SamplesMessage>;
      if (typeof m.agentId !== 'string' || !Array.isArray(m.samples)) return void this.counts.malformed++;
      this.#o.hub.deliverSamples(m.agentId, m.samples);
    });
    on('tasks', (d) => {
      const m = d as Partial<TasksMessage>;
      if (typeof m.msg?.type !== 'string' || (m.taskId !== undefined && typeof m.taskId !== 'string')) return void this.counts.malformed++;
      this.#o.hub.deliverTask(m.msg, m.taskId);
    });
    this.#subs.push(
      this.#nc.subscribe(`falconet.${this.#o.cluster}.node.${nodeToken(this.#o.node)}.deliver`, {
        callback: (err, msg) => {
          if (err) return;
          const answer = (sent: boolean) => msg.respond(encoder.encode(JSON.stringify({ sent })));
          let req: Partial<DeliverRequest>;
          try {
            req = JSON.parse(decoder.decode(msg.data)) as Partial<DeliverRequest>;
          } catch {
            this.counts.malformed++;
            return void answer(false);
          }
          if (typeof req.taskId !== 'string' || typeof req.agentId !== 'string' || typeof req.cancel !== 'boolean' || !this.#o.tasks) {
            this.counts.malformed++;
            return void answer(false);
          }
          this.#o.tasks.deliverHere(req.taskId, req.agentId, req.cancel).then(answer, () => answer(false));
        },
      }),
    );
    on('agents', (d) => {
      const m = d as Partial<AgentsMessage>;
      if (typeof m.node !== 'string' || !Array.isArray(m.agents) || !Array.isArray(m.removed)) return void this.counts.malformed++;
      const node = m.node;
      for (const a of m.agents) {
        const parsed = AgentSchema.safeParse(a);
        if (!parsed.success) {
          this.counts.malformed++;
          continue;
        }
        this.#o.registry?.remote(parsed.data, node);
        this.#o.hub.deliverAgent(parsed.data);
      }
      for (const id of m.removed) {
        if (typeof id !== 'string') continue;
        this.#o.registry?.remoteRemoved(id);
        this.#o.hub.deliverAgentRemoved(id);
      }
    });
  }

  /** Says which agents this node's browsers watch: when that changed, or always with `force`. */
  #announce(force: boolean): void {
    const agents = [...this.#o.hub.watched()].sort();
    const key = agents.join('\n');
    if (!force && key === this.#announced) return;
    this.#announced = key;
    const info = this.#o.info?.();
    this.#publish('watch', { node: this.#o.node, agents, ...(info ? { info } : {}) } satisfies WatchMessage);
  }

  /** This node's name in the cluster. */
  get node(): string {
    return this.#o.node;
  }

  /** The names of the nodes heard from lately, this one included. */
  liveNodes(): string[] {
    const stale = Date.now() - 3 * (this.#o.announceMs ?? 5000);
    const out = [this.#o.node];
    for (const [node, r] of this.#remote) if (r.atMs >= stale) out.push(node);
    return out;
  }

  /** The nodes heard from lately, this one first, for GET /api/cluster. */
  status(): ClusterStatus {
    const now = Date.now();
    const stale = now - 3 * (this.#o.announceMs ?? 5000);
    const blank: NodeInfo = { http: '', version: '', startedMs: 0, agents: 0, databases: [] };
    const nodes: ClusterNode[] = [
      { node: this.#o.node, self: true, heardMs: now, watching: this.#o.hub.watched().size, ...(this.#o.info?.() ?? blank) },
    ];
    for (const [node, r] of [...this.#remote].sort(([x], [y]) => x.localeCompare(y))) {
      if (r.atMs < stale) continue;
      nodes.push({ node, self: false, heardMs: r.atMs, watching: r.agents.size, ...(r.info ?? blank) });
    }
    return {
      enabled: true,
      cluster: this.#o.cluster,
      node: this.#o.node,
      bus: { servers: this.#o.servers, connected: this.#connected && !this.#nc.isClosed() },
      nodes,
    };
  }

  #watchedElsewhere(agentId: string): boolean {
    const stale = Date.now() - 3 * (this.#o.announceMs ?? 5000);
    for (const [node, w] of this.#remote) {
      if (w.atMs < stale) {
        this.#remote.delete(node);
        continue;
      }
      if (w.agents.has(agentId)) return true;
    }
    return false;
  }

  /**
   * Sends one message, or drops it: the live view is not worth holding up what called (a report's
   * acknowledgement), and while NATS is away the client buffers only so much before refusing more.
   */
  #publish(kind: keyof ClusterLive['counts']['published'], body: object): void {
    if (this.#nc.isClosed()) return void this.counts.dropped++;
    try {
      this.#nc.publish(`${this.#subject}.${kind}`, encoder.encode(JSON.stringify(body)));
      this.counts.published[kind]++;
    } catch {
      this.counts.dropped++;
    }
  }

  /** The agents changed in the last second, in one message (an agent reports its summary each interval). */
  #sendAgents(): void {
    if (this.#changed.size === 0) return;
    const body: AgentsMessage = { node: this.#o.node, agents: [], removed: [] };
    for (const [id, agent] of this.#changed) {
      if (agent) body.agents.push(agent);
      else body.removed.push(id);
    }
    this.#changed.clear();
    this.#publish('agents', body);
  }

  samples(agentId: string, samples: readonly Sample[]): void {
    if (!this.#watchedElsewhere(agentId)) return;
    this.#publish('samples', { agentId, samples } satisfies SamplesMessage);
  }

  task(msg: TaskLiveMessage, taskId?: string): void {
    this.#publish('tasks', { msg, ...(taskId !== undefined ? { taskId } : {}) } satisfies TasksMessage);
  }

  /** Asks `node` to send a task to an agent whose stream it holds; resolves with whether it did. */
  async deliver(node: string, taskId: string, agentId: string, cancel: boolean): Promise<boolean> {
    const body: DeliverRequest = { taskId, agentId, cancel };
    const reply = await this.#nc.request(
      `falconet.${this.#o.cluster}.node.${nodeToken(node)}.deliver`,
      encoder.encode(JSON.stringify(body)),
      {
        timeout: 5000,
      },
    );
    const answer = JSON.parse(decoder.decode(reply.data)) as { sent?: unknown };
    return answer.sent === true;
  }

  agentChanged(agent: Agent): void {
    this.#changed.set(agent.id, agent);
  }

  agentRemoved(agentId: string): void {
    this.#changed.set(agentId, undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#sendAgents();
    if (this.#o.hub.relay === this) this.#o.hub.relay = undefined;
    for (const s of this.#subs) s.unsubscribe();
    await this.#nc.drain().catch(() => undefined);
  }
}

/** A node's name as one subject token: letters, digits, "_" and "-" kept, anything else hex-escaped. */
function nodeToken(node: string): string {
  return node.replace(/[^A-Za-z0-9_-]/g, (c) => `~${c.codePointAt(0)?.toString(16)}`);
}
