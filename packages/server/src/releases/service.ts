/**
 * Rollouts of agent releases (docs/update.md): which agents a rollout chooses, offering the signed
 * manifest to them over their stream, serving the binary in chunks to those it was offered to, and
 * recording every state an agent reports. Kept in the metadata database, cached in memory.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { compareVersions, isVersion, pb } from '@falconet/protocol';
import type { NewRolloutBody, Rollout, RolloutAgent, RolloutAgentState, RolloutDetail, RolloutStatus } from '@falconet/protocol/api';
import type { Logger } from 'pino';
import { parseLabelList } from '../agents/labels.ts';
import { ApiError, notFound } from '../api/errors.ts';
import type { AuditEvent } from '../auth/audit.ts';
import { timeOrderedId } from '../auth/ids.ts';
import type { MetaDb } from '../db/index.ts';
import { printable } from '../ingest/auth.ts';
import type { AgentRegistry } from '../registry.ts';
import type { StreamSend } from '../tasks/streams.ts';
import { isReleaseTarget, type ReleaseStore, type StoredRelease } from './store.ts';

/** How long a release's manifest read from disk is reused while choosing agents. */
const RELEASE_CACHE_MS = 5000;

/** The largest chunk an agent may ask for (the contract: length <= 1 MiB). */
export const MAX_CHUNK = 1024 * 1024;

/** States after which an agent is not offered the same rollout again. */
const FINAL: ReadonlySet<RolloutAgentState> = new Set(['succeeded', 'refused', 'rolled_back', 'failed']);

const STATE_OF: Partial<Record<pb.UpdateState, RolloutAgentState>> = {
  [pb.UpdateState.UPDATE_STATE_DOWNLOADING]: 'downloading',
  [pb.UpdateState.UPDATE_STATE_VERIFIED]: 'verified',
  [pb.UpdateState.UPDATE_STATE_REFUSED]: 'refused',
  [pb.UpdateState.UPDATE_STATE_SWAPPED]: 'swapped',
  [pb.UpdateState.UPDATE_STATE_SUCCEEDED]: 'succeeded',
  [pb.UpdateState.UPDATE_STATE_ROLLED_BACK]: 'rolled_back',
  [pb.UpdateState.UPDATE_STATE_FAILED]: 'failed',
};

/** What the agent channel (ingest/channel.ts) calls into for self-update. */
export interface UpdateChannelHooks {
  /** A stream registered; returns the function to call when it closes. */
  attach(reg: pb.Register, send: StreamSend): () => void;
  /** UpdateFetch: answered with an UpdateChunk on `send`. */
  fetch(agentId: string, f: pb.UpdateFetch, send: StreamSend): Promise<void>;
  status(agentId: string, s: pb.UpdateStatus): Promise<void>;
}

interface Connection {
  agentId: string;
  version: string;
  target: string;
  blocked: string;
  send: StreamSend;
}

interface RolloutRow {
  id: string;
  version: string;
  target: string;
  percent: number;
  selector: Record<string, string>;
  status: RolloutStatus;
  createdBy: string;
  createdMs: number;
  updatedMs: number;
  agents: Map<string, AgentRow>;
}

interface AgentRow {
  agentId: string;
  state: RolloutAgentState;
  fromVersion: string;
  toVersion: string;
  reason: string;
  selectedMs: number;
  updatedMs: number;
}

export interface UpdateServiceDeps {
  meta: MetaDb;
  releases: ReleaseStore;
  registry: AgentRegistry;
  audit: (e: AuditEvent) => Promise<void>;
  log: Logger;
  now?: () => number;
}

/** Orders agents for a rollout: stable for one rollout and agent, unrelated between rollouts. */
export function rolloutRank(rolloutId: string, agentId: string): string {
  return createHash('sha256').update(`${rolloutId}\0${agentId}`).digest('hex');
}

/** Whether `have` is older than `want`; an agent version that is not semver counts as not older. */
function older(have: string, want: string): boolean {
  return isVersion(have) && compareVersions(have, want) < 0;
}

export class UpdateService implements UpdateChannelHooks {
  readonly #deps: UpdateServiceDeps;
  readonly #now: () => number;
  readonly #rollouts = new Map<string, RolloutRow>();
  /** Open streams by agent; the newest wins while a reconnect overlaps the old one. */
  readonly #conns = new Map<string, Connection[]>();
  /** Every change to rollouts goes through one queue, so selection never races itself. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #releaseCache = new Map<string, { release: StoredRelease | undefined; atMs: number }>();

  constructor(deps: UpdateServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async load(): Promise<void> {
    const db = this.#deps.meta.db;
    for (const r of await db.selectFrom('rollouts').selectAll().execute()) {
      this.#rollouts.set(r.id, {
        id: r.id,
        version: r.version,
        target: r.target,
        percent: Number(r.percent),
        selector: JSON.parse(r.selector) as Record<string, string>,
        status: r.status as RolloutStatus,
        createdBy: r.created_by,
        createdMs: Number(r.created_ms),
        updatedMs: Number(r.updated_ms),
        agents: new Map(),
      });
    }
    for (const a of await db.selectFrom('rollout_agents').selectAll().execute()) {
      this.#rollouts.get(a.rollout_id)?.agents.set(a.agent_id, {
        agentId: a.agent_id,
        state: a.state as RolloutAgentState,
        fromVersion: a.from_version,
        toVersion: a.to_version,
        reason: a.reason,
        selectedMs: Number(a.selected_ms),
        updatedMs: Number(a.updated_ms),
      });
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  // --- the agent channel ---

  attach(reg: pb.Register, send: StreamSend): () => void {
    const conn: Connection = {
      agentId: reg.agentId,
      version: reg.version,
      target: reg.releaseTarget,
      blocked: reg.updateBlocked,
      send,
    };
    const open = this.#conns.get(conn.agentId) ?? [];
    open.push(conn);
    this.#conns.set(conn.agentId, open);
    void this.#serial(async () => {
      await this.#inferSucceeded(conn);
      for (const r of this.#rollouts.values()) {
        // A connection changes a rollout only if it is one of its agents or could become one: the
        // others cost nothing, however many agents reconnect at once.
        if (r.status !== 'active' || (!r.agents.has(conn.agentId) && !this.#eligible(r, conn))) continue;
        await this.#advance(r, conn.agentId);
      }
    }).catch((err: unknown) => this.#deps.log.error({ err, agentId: conn.agentId }, 'update offers failed'));
    return () => {
      const still = this.#conns.get(conn.agentId);
      if (!still) return;
      const i = still.indexOf(conn);
      if (i >= 0) still.splice(i, 1);
      if (still.length === 0) this.#conns.delete(conn.agentId);
    };
  }

  #conn(agentId: string): Connection | undefined {
    return this.#conns.get(agentId)?.at(-1);
  }

  /** An agent that comes back with a rollout's version has finished it, whatever it said before. */
  async #inferSucceeded(conn: Connection): Promise<void> {
    for (const r of this.#rollouts.values()) {
      const row = r.agents.get(conn.agentId);
      if (!row || FINAL.has(row.state) || row.state === 'selected' || conn.version !== r.version) continue;
      await this.#setAgentState(r, row, 'succeeded', {
        toVersion: r.version,
        reason: `re-registered with version ${conn.version}`,
      });
    }
  }

  async fetch(agentId: string, f: pb.UpdateFetch, send: StreamSend): Promise<void> {
    const refuse = async (error: string) => {
      send({ body: { $case: 'updateChunk', value: { rolloutId: f.rolloutId, offset: f.offset, data: Buffer.alloc(0), error } } });
      await this.#deps.audit({
        actor: `agent:${printable(agentId)}`,
        action: 'update.fetch',
        target: printable(f.rolloutId),
        outcome: 'denied',
        detail: { agentId, rolloutId: printable(f.rolloutId), offset: f.offset, length: f.length, error },
      });
      this.#deps.log.warn({ agentId, rolloutId: f.rolloutId, offset: f.offset, length: f.length, error }, 'update fetch refused');
    };
    const r = this.#rollouts.get(f.rolloutId);
    const row = r?.agents.get(agentId);
    if (!r || !row || row.state === 'selected') return refuse(`rollout "${printable(f.rolloutId, 64)}" was not offered to this agent`);
    if (r.status === 'cancelled') return refuse(`rollout ${r.id} was cancelled`);
    if (FINAL.has(row.state)) return refuse(`rollout ${r.id} is over for this agent (${row.state})`);
    const target = this.#conn(agentId)?.target ?? '';
    const release = this.#release(r, target);
    if (!release) return refuse(`release ${r.version} for "${printable(target, 32)}" is no longer stored on the server`);
    const size = release.manifest.size;
    if (f.length === 0 || f.length > MAX_CHUNK) return refuse(`length ${f.length}: ask for 1 to ${MAX_CHUNK} bytes`);
    if (f.offset >= size) return refuse(`offset ${f.offset} is beyond the end of the ${size}-byte release`);
    // Read from the stored file as it is now: a file changed on disk goes out changed, and the
    // agent's check against the signed sha256 refuses it.
    const want = Math.min(f.length, size - f.offset);
    const data = Buffer.alloc(want);
    let got = 0;
    try {
      const fh = await open(release.path, 'r');
      try {
        while (got < want) {
          const { bytesRead } = await fh.read(data, got, want - got, f.offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
      } finally {
        await fh.close();
      }
    } catch (err) {
      // Removed or unreadable meanwhile: the agent hears why; its stream and reports carry on.
      this.#deps.log.error({ err, path: release.path }, 'release binary unreadable');
      send({
        body: {
          $case: 'updateChunk',
          value: { rolloutId: r.id, offset: f.offset, data: Buffer.alloc(0), error: `release ${r.version} cannot be read on the server` },
        },
      });
      return;
    }
    send({ body: { $case: 'updateChunk', value: { rolloutId: r.id, offset: f.offset, data: data.subarray(0, got), error: '' } } });
  }

  async status(agentId: string, s: pb.UpdateStatus): Promise<void> {
    await this.#serial(async () => {
      const r = this.#rollouts.get(s.rolloutId);
      const row = r?.agents.get(agentId);
      const state = STATE_OF[s.state];
      if (!r || !row || row.state === 'selected' || !state) {
        await this.#deps.audit({
          actor: `agent:${printable(agentId)}`,
          action: 'update.status',
          target: printable(s.rolloutId),
          outcome: 'denied',
          detail: {
            agentId,
            rolloutId: printable(s.rolloutId),
            state: s.state,
            reason: printable(s.reason, 200),
            error: state ? 'rollout not offered to this agent' : 'unknown state',
          },
        });
        return;
      }
      await this.#setAgentState(r, row, state, {
        fromVersion: printable(s.fromVersion, 64),
        toVersion: printable(s.toVersion, 64),
        reason: printable(s.reason, 2000),
      });
    });
  }

  // --- rollouts ---

  #release(r: RolloutRow, target: string): StoredRelease | undefined {
    if (r.target && r.target !== target) return undefined;
    // Read from disk at most every few seconds: choosing agents asks once per candidate.
    const key = `${r.version}/${target}`;
    const now = this.#now();
    const cached = this.#releaseCache.get(key);
    if (cached && now - cached.atMs < RELEASE_CACHE_MS) return cached.release;
    let release: StoredRelease | undefined;
    try {
      release = this.#deps.releases.get(r.version, target);
    } catch {
      release = undefined;
    }
    this.#releaseCache.set(key, { release, atMs: now });
    return release;
  }

  /** Whether an agent on this connection may be chosen by `r`. */
  #eligible(r: RolloutRow, c: Connection): boolean {
    if (c.blocked !== '' || c.target === '' || !older(c.version, r.version)) return false;
    if (!this.#release(r, c.target)) return false;
    const trusted = this.#deps.registry.get(c.agentId)?.trustedLabels ?? {};
    for (const [k, v] of Object.entries(r.selector)) if (trusted[k] !== v) return false;
    // One release at a time: an agent in the middle of another rollout waits for it to end.
    for (const other of this.#rollouts.values()) {
      if (other === r || other.status === 'cancelled') continue;
      const row = other.agents.get(c.agentId);
      if (row && !FINAL.has(row.state)) return false;
    }
    return true;
  }

  /**
   * Chooses more agents while the rollout's share is not reached, then offers it to every chosen
   * agent that is connected and has not been offered it yet (and to `reconnected`, which may have
   * lost an offer or a download with its previous stream). The share counts the agents already chosen
   * plus the connected agents that could be: round(percent * eligible / 100), the newcomers taken
   * in the order of a hash of rollout and agent id.
   */
  async #advance(r: RolloutRow, reconnected?: string): Promise<void> {
    if (r.status !== 'active') return;
    const candidates = [...this.#conns.keys()]
      .filter((id) => !r.agents.has(id))
      .map((id) => this.#conn(id) as Connection)
      .filter((c) => this.#eligible(r, c));
    const want = Math.round((r.percent * (r.agents.size + candidates.length)) / 100);
    const chosen = candidates
      .map((c) => ({ c, rank: rolloutRank(r.id, c.agentId) }))
      .sort((a, b) => (a.rank < b.rank ? -1 : 1))
      .slice(0, Math.max(0, want - r.agents.size));
    const now = this.#now();
    for (const { c } of chosen) {
      const row: AgentRow = {
        agentId: c.agentId,
        state: 'selected',
        fromVersion: c.version,
        toVersion: r.version,
        reason: '',
        selectedMs: now,
        updatedMs: now,
      };
      await this.#deps.meta.db
        .insertInto('rollout_agents')
        .values({
          rollout_id: r.id,
          agent_id: row.agentId,
          state: row.state,
          from_version: row.fromVersion,
          to_version: row.toVersion,
          reason: '',
          selected_ms: now,
          updated_ms: now,
        })
        .execute();
      r.agents.set(row.agentId, row);
    }
    for (const row of r.agents.values()) {
      const again = row.agentId === reconnected && (row.state === 'offered' || row.state === 'downloading');
      if (row.state !== 'selected' && !again) continue;
      const c = this.#conn(row.agentId);
      if (!c) continue;
      const release = this.#release(r, c.target);
      if (!release) continue;
      const sent = c.send({
        body: { $case: 'updateOffer', value: { rolloutId: r.id, manifest: release.manifestBytes, manifestSignature: release.signature } },
      });
      if (sent && row.state === 'selected') await this.#setAgentState(r, row, 'offered', { fromVersion: c.version, reason: '' });
    }
  }

  async #setAgentState(
    r: RolloutRow,
    row: AgentRow,
    state: RolloutAgentState,
    change: { fromVersion?: string; toVersion?: string; reason?: string },
  ): Promise<void> {
    const now = this.#now();
    row.state = state;
    if (change.fromVersion) row.fromVersion = change.fromVersion;
    if (change.toVersion) row.toVersion = change.toVersion;
    if (change.reason !== undefined) row.reason = change.reason;
    row.updatedMs = now;
    await this.#deps.meta.db
      .updateTable('rollout_agents')
      .set({ state, from_version: row.fromVersion, to_version: row.toVersion, reason: row.reason, updated_ms: now })
      .where('rollout_id', '=', r.id)
      .where('agent_id', '=', row.agentId)
      .execute();
    const bad = state === 'refused' || state === 'rolled_back' || state === 'failed';
    await this.#deps.audit({
      actor: `agent:${row.agentId}`,
      action: `update.${state}`,
      target: r.id,
      outcome: bad ? 'failed' : 'ok',
      detail: { rolloutId: r.id, agentId: row.agentId, fromVersion: row.fromVersion, toVersion: row.toVersion, reason: row.reason },
    });
    this.#deps.log.info({ rolloutId: r.id, agentId: row.agentId, state, reason: row.reason }, 'update state');
  }

  async create(body: NewRolloutBody, actor: string): Promise<RolloutDetail> {
    if (!isVersion(body.version)) throw new ApiError(400, 'bad_request', `body version: "${body.version}" is not a version (e.g. 1.2.3)`);
    const target = body.target ?? '';
    if (target && !isReleaseTarget(target)) {
      throw new ApiError(400, 'bad_request', `body target: "${target}" is not linux-x64 or linux-arm64`);
    }
    let selector: Record<string, string> = {};
    try {
      selector = parseLabelList(body.selector ?? '');
    } catch (err) {
      throw new ApiError(400, 'bad_request', `body selector: ${(err as Error).message}`);
    }
    const stored = this.#deps.releases
      .list()
      .filter((x) => x.manifest.version === body.version && (!target || x.manifest.target === target));
    if (stored.length === 0) {
      throw new ApiError(
        400,
        'bad_request',
        `body version: release ${body.version}${target ? ` for ${target}` : ''} is not stored on the server (falconet-server release add FILE)`,
      );
    }
    return await this.#serial(async () => {
      const now = this.#now();
      const r: RolloutRow = {
        id: timeOrderedId(now),
        version: body.version,
        target,
        percent: body.percent,
        selector,
        status: 'active',
        createdBy: actor,
        createdMs: now,
        updatedMs: now,
        agents: new Map(),
      };
      await this.#deps.meta.db
        .insertInto('rollouts')
        .values({
          id: r.id,
          version: r.version,
          target,
          percent: r.percent,
          selector: JSON.stringify(selector),
          status: r.status,
          created_by: actor,
          created_ms: now,
          updated_ms: now,
        })
        .execute();
      this.#rollouts.set(r.id, r);
      await this.#deps.audit({
        actor,
        action: 'rollout.create',
        target: r.id,
        detail: { version: r.version, target, percent: r.percent, selector },
      });
      await this.#advance(r);
      return this.#detail(r);
    });
  }

  async setStatus(id: string, status: RolloutStatus, actor: string): Promise<RolloutDetail> {
    return await this.#serial(async () => {
      const r = this.#rollouts.get(id);
      if (!r) throw notFound(`rollout ${id}`);
      if (r.status === 'cancelled') throw new ApiError(409, 'conflict', `rollout ${id} was cancelled; create a new one`);
      if (r.status !== status) {
        r.status = status;
        r.updatedMs = this.#now();
        await this.#deps.meta.db.updateTable('rollouts').set({ status, updated_ms: r.updatedMs }).where('id', '=', id).execute();
        const action = status === 'active' ? 'resume' : status === 'paused' ? 'pause' : 'cancel';
        await this.#deps.audit({ actor, action: `rollout.${action}`, target: id, detail: { version: r.version } });
        await this.#advance(r);
      }
      return this.#detail(r);
    });
  }

  list(): Rollout[] {
    return [...this.#rollouts.values()].sort((a, b) => b.createdMs - a.createdMs).map((r) => this.#summary(r));
  }

  get(id: string): RolloutDetail | undefined {
    const r = this.#rollouts.get(id);
    return r && this.#detail(r);
  }

  /** Waits for the changes queued so far (tests, shutdown). */
  async settled(): Promise<void> {
    await this.#queue;
  }

  #summary(r: RolloutRow): Rollout {
    const counts: Record<string, number> = {};
    for (const a of r.agents.values()) counts[a.state] = (counts[a.state] ?? 0) + 1;
    return {
      id: r.id,
      version: r.version,
      target: r.target,
      percent: r.percent,
      selector: r.selector,
      status: r.status,
      createdBy: r.createdBy,
      createdMs: r.createdMs,
      updatedMs: r.updatedMs,
      selected: r.agents.size,
      counts,
    };
  }

  #detail(r: RolloutRow): RolloutDetail {
    const agents: RolloutAgent[] = [...r.agents.values()]
      .map((a) => ({ ...a, hostname: this.#deps.registry.get(a.agentId)?.hostname ?? '' }))
      .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.agentId.localeCompare(b.agentId));
    return { ...this.#summary(r), agents };
  }
}
