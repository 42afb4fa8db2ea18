import type { AgentTasksConfig, AllowEntry } from './config.ts';
import type { SystemUser } from './passwd.ts';

/** Why an agent refused a task; reported to the server and kept in its audit log. */
export type RefusalCode = 'disabled' | 'not_allowed' | 'bad_signature' | 'no_key' | 'expired' | 'replayed' | 'busy' | 'invalid';

export interface Refusal {
  refused: RefusalCode;
  message: string;
}

export const refuse = (refused: RefusalCode, message: string): Refusal => ({ refused, message });

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === 'object' && x !== null && 'refused' in x;
}

/** What a task asks to run. */
export interface TaskRequest {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** 0: the configured timeout. */
  timeoutMs: number;
}

/** A request the allowlist accepted, with everything needed to start it. */
export interface ApprovedRun {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Set when the command runs as another user than the agent. */
  uid?: number;
  gid?: number;
  user: string;
  timeoutMs: number;
}

interface CompiledEntry {
  entry: AllowEntry;
  args: RegExp[];
  rest: RegExp | undefined;
  identity: { user: string; uid?: number; gid?: number };
}

const full = (pattern: string) => new RegExp(`^(?:${pattern})$`, 'u');

/**
 * The agent's allowlist: a task runs only if its command is listed and every argument matches
 * the entry's patterns. Users are resolved once, when the policy is built, so a misconfigured
 * user is a startup error rather than a refusal at 3 a.m.
 */
export class TaskPolicy {
  readonly enabled: boolean;
  readonly #entries: CompiledEntry[];
  readonly #cfg: AgentTasksConfig;

  constructor(cfg: AgentTasksConfig, system: { users: Map<string, SystemUser>; uid: number | undefined }) {
    this.#cfg = cfg;
    this.enabled = cfg.enabled;
    const identityFor = (name: string, where: string) => resolveUser(name, where, system);
    const defaultIdentity = cfg.enabled ? identityFor(cfg.user, 'tasks.user') : { user: '' };
    this.#entries = cfg.allow.map((entry, i) => ({
      entry,
      args: entry.args.map(full),
      rest: entry.rest === undefined ? undefined : full(entry.rest),
      identity: entry.user !== undefined && cfg.enabled ? identityFor(entry.user, `tasks.allow.${i}.user`) : defaultIdentity,
    }));
  }

  check(req: TaskRequest): ApprovedRun | Refusal {
    if (!this.enabled) return refuse('disabled', 'tasks are disabled on this agent (tasks.enabled is false)');
    if (!req.command) return refuse('invalid', 'the task names no command');
    const candidates = this.#entries.filter((c) => c.entry.command === req.command || c.entry.name === req.command);
    if (candidates.length === 0) return refuse('not_allowed', `"${req.command}" is not in this agent's tasks.allow`);
    let why = '';
    for (const c of candidates) {
      const problem = argumentProblem(c, req.args) ?? envProblem(c.entry, req.env);
      if (problem) {
        why ||= problem;
        continue;
      }
      const limit = c.entry.timeout ?? this.#cfg.timeout;
      return {
        file: c.entry.command,
        args: [...req.args],
        env: { ...this.#cfg.env, ...req.env },
        cwd: c.entry.working_dir ?? this.#cfg.working_dir,
        ...c.identity,
        timeoutMs: req.timeoutMs > 0 ? Math.min(req.timeoutMs, limit) : limit,
      };
    }
    return refuse('not_allowed', `"${req.command}": ${why}`);
  }
}

function argumentProblem(c: CompiledEntry, args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.includes('\0')) return `argument ${i + 1} contains a NUL byte`;
    const pattern = i < c.args.length ? c.args[i] : c.rest;
    if (!pattern) return `takes at most ${c.args.length} argument${c.args.length === 1 ? '' : 's'}, got ${args.length}`;
    if (!pattern.test(arg)) {
      const source = i < c.args.length ? c.entry.args[i] : c.entry.rest;
      return `argument ${i + 1} "${arg.slice(0, 80)}" does not match the allowed pattern "${source}"`;
    }
  }
  return undefined;
}

function envProblem(entry: AllowEntry, env: Readonly<Record<string, string>>): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    if (!entry.env.includes(name)) return `environment variable ${name} may not be set by a task`;
    if (value.includes('\0')) return `environment variable ${name} contains a NUL byte`;
  }
  return undefined;
}

function resolveUser(
  name: string,
  where: string,
  system: { users: Map<string, SystemUser>; uid: number | undefined },
): { user: string; uid?: number; gid?: number } {
  const isRoot = system.uid === 0;
  // A root agent never hands root to a remote command unless told to by name.
  const wanted = name || (isRoot ? 'nobody' : '');
  if (!wanted) return { user: '' };
  const u = system.users.get(wanted);
  if (!u) throw new Error(`${where} "${wanted}": no such user in /etc/passwd`);
  if (u.uid === system.uid) return { user: u.name };
  if (!isRoot) {
    throw new Error(
      `${where} "${wanted}": the agent runs as uid ${system.uid} and cannot switch to uid ${u.uid}; run it as root or leave ${where} empty`,
    );
  }
  return { user: u.name, uid: u.uid, gid: u.gid };
}
