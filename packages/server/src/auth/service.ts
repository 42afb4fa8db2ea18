import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Role } from '@falconet/protocol/api';
import type { Logger } from 'pino';
import type { AuthConfig } from '../config.ts';
import type { MetaDb } from '../db/index.ts';
import { AuditLog } from './audit.ts';
import { verifyAgainstNothing, verifyPassword } from './passwords.ts';
import { type IssuedSession, loadSigningKey, SessionStore } from './sessions.ts';
import { SignInThrottle } from './throttle.ts';
import { ApiTokenRepository, EnrollmentTokenRepository } from './tokens.ts';
import { type User, UserRepository } from './users.ts';

/** Who is calling. `local` is the caller before the first user exists: loopback only, no sign-in. */
export interface Identity {
  kind: 'session' | 'token' | 'local';
  name: string;
  role: Role;
  userId?: string;
  sessionId?: string;
  tokenId?: string;
  /** Route prefixes a token may call; `['*']` for sessions. */
  scopes: string[];
  /** Sessions: the value mutations must echo in X-Falconet-CSRF. */
  csrf?: string;
  /** When the credential stops working; 0 = never. */
  expiresMs: number;
}

/** What an audit entry calls an identity. */
export function actorOf(id: Identity | undefined): string {
  if (!id) return 'anonymous';
  return id.kind === 'token' ? `token:${id.name}` : id.name;
}

export type SignInResult =
  | { ok: true; user: User; session: IssuedSession }
  | { ok: false; reason: 'invalid' | 'throttled' | 'locked'; retryAfterMs: number };

/** A credential's live WebSocket connections, so revoking it cuts them too. */
interface TrackedSocket {
  identity: Identity;
  socket: Socket;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Users, sessions, tokens, throttling and the audit log behind one object; auth/guard.ts puts
 * it in front of every route and auth/routes.ts exposes it over REST.
 */
export class AuthService {
  readonly users: UserRepository;
  readonly sessions: SessionStore;
  readonly tokens: ApiTokenRepository;
  readonly enrollment: EnrollmentTokenRepository;
  readonly audit: AuditLog;
  readonly throttle: SignInThrottle;
  readonly config: AuthConfig;
  readonly log: Logger;
  /** One-time secret of the printed setup link; undefined once a user exists. */
  setupToken: string | undefined;
  #secured = false;
  readonly #sockets = new Set<TrackedSocket>();

  private constructor(meta: MetaDb, key: Uint8Array, config: AuthConfig, log: Logger) {
    this.users = new UserRepository(meta);
    this.sessions = new SessionStore(meta, key, config.session_ttl);
    this.tokens = new ApiTokenRepository(meta);
    this.enrollment = new EnrollmentTokenRepository(meta);
    this.audit = new AuditLog(meta, log);
    this.throttle = new SignInThrottle({
      burst: config.sign_in.burst,
      perMinute: config.sign_in.per_minute,
      maxFailures: config.sign_in.max_failures,
      lockoutMs: config.sign_in.lockout,
    });
    this.config = config;
    this.log = log;
  }

  static async open(meta: MetaDb, config: AuthConfig, log: Logger): Promise<AuthService> {
    const auth = new AuthService(meta, await loadSigningKey(meta), config, log);
    auth.#secured = await auth.users.any();
    if (!auth.#secured) auth.setupToken = randomBytes(24).toString('base64url');
    return auth;
  }

  /**
   * Whether sign-in is required. Once true it stays true: the last admin cannot be removed, and
   * a user made by `create-user` in another process is noticed on the next request.
   */
  async secured(): Promise<boolean> {
    if (this.#secured) return true;
    if (await this.users.any()) this.markSecured();
    return this.#secured;
  }

  /** The first user exists: the setup link dies and local, unauthenticated live sockets are cut. */
  markSecured(): void {
    if (this.#secured) return;
    this.#secured = true;
    this.setupToken = undefined;
    this.cutSockets((id) => id.kind === 'local');
    this.log.info('first user exists: every request now needs a session or an API token');
  }

  async signIn(name: string, password: string, address: string, userAgent: string, nowMs = Date.now()): Promise<SignInResult> {
    const waitMs = this.throttle.take(address, nowMs);
    if (waitMs > 0) return { ok: false, reason: 'throttled', retryAfterMs: waitMs };
    const user = await this.users.byName(name);
    if (!user) {
      const lockedFor = this.throttle.unknownNameLockedFor(name, nowMs);
      if (lockedFor > 0) return { ok: false, reason: 'locked', retryAfterMs: lockedFor };
      await verifyAgainstNothing(password);
      const locked = this.throttle.unknownNameFailed(name, nowMs);
      await this.audit.record({
        actor: name,
        action: 'signin',
        address,
        outcome: locked ? 'locked' : 'failed',
        detail: { reason: 'invalid' },
      });
      return { ok: false, reason: 'invalid', retryAfterMs: 0 };
    }
    // A locked user is refused before the password is even looked at: the right one does not help.
    if (user.lockedUntilMs > nowMs) {
      await this.audit.record({ actor: name, action: 'signin', address, outcome: 'locked' });
      return { ok: false, reason: 'locked', retryAfterMs: user.lockedUntilMs - nowMs };
    }
    const good = await verifyPassword(password, user.passwordHash);
    if (!good || user.disabled) {
      const { locked } = good
        ? { locked: false }
        : await this.users.recordFailure(user.id, this.throttle.maxFailures, this.throttle.lockoutMs, nowMs);
      await this.audit.record({
        actor: name,
        action: 'signin',
        address,
        outcome: locked ? 'locked' : 'failed',
        detail: { reason: user.disabled ? 'disabled' : 'invalid' },
      });
      if (locked) this.log.warn({ user: name, address, lockoutMs: this.throttle.lockoutMs }, 'user locked after repeated wrong passwords');
      return { ok: false, reason: 'invalid', retryAfterMs: 0 };
    }
    await this.users.recordSuccess(user.id);
    const session = await this.sessions.issue(user.id, address, userAgent, nowMs);
    await this.audit.record({ actor: name, action: 'signin', address, outcome: 'ok', detail: { session: session.id.slice(0, 8) } });
    return { ok: true, user, session };
  }

  trackSocket(identity: Identity, socket: Socket, nowMs = Date.now()): void {
    const t: TrackedSocket = { identity, socket, timer: undefined };
    if (identity.expiresMs > 0) {
      // Past its credential's expiry a socket is cut; the browser reconnects with a fresh cookie or fails.
      t.timer = setTimeout(() => socket.destroy(), Math.max(0, Math.min(identity.expiresMs - nowMs, 2 ** 31 - 1)));
      t.timer.unref();
    }
    this.#sockets.add(t);
    socket.once('close', () => {
      clearTimeout(t.timer);
      this.#sockets.delete(t);
    });
  }

  /** Closes the live connections of every identity `match` selects (signed out, revoked, removed). */
  cutSockets(match: (id: Identity) => boolean): number {
    let n = 0;
    for (const t of this.#sockets) {
      if (!match(t.identity)) continue;
      clearTimeout(t.timer);
      this.#sockets.delete(t);
      t.socket.destroy();
      n++;
    }
    return n;
  }
}
