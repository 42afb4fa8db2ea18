import { createInterface } from 'node:readline';
import { NAME_PATTERN, NAME_RULE, ROLES, type Role } from '@falconet/protocol/api';
import { type FlagSpec, UsageError } from '@falconet/protocol/cli';
import { parseDuration } from '@falconet/protocol/config';
import pino from 'pino';
import type { ServerConfig } from '../config.ts';
import { metaDbOptions, migrateMetaDb, openMetaDb } from '../db/index.ts';
import { AuditLog } from './audit.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import { ApiTokenRepository, EnrollmentTokenRepository, scopeProblem } from './tokens.ts';
import { isRole, UserRepository } from './users.ts';

/** Flags of the console commands that make users and tokens, on top of the server's own. */
export const AUTH_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', help: 'create-user, create-token: the user or token name' },
  { name: 'role', type: 'string', help: 'create-user, create-token --api: admin|operator|viewer' },
  { name: 'password', type: 'string', help: 'create-user: the password (prompted for when not given)' },
  { name: 'api', type: 'boolean', help: 'create-token: an API token for scripts (Authorization: Bearer)' },
  { name: 'enroll', type: 'boolean', help: 'create-token: an agent enrollment token' },
  { name: 'scope', type: 'string', help: 'create-token --api: * or route prefixes, comma-separated (default *)' },
  { name: 'expires', type: 'string', help: 'create-token: lifetime, e.g. 30d, 12h, or never (default 90d; --enroll 24h)' },
  { name: 'uses', type: 'string', help: 'create-token --enroll: how many agents may enroll with it (default 1)' },
  {
    name: 'label',
    type: 'string',
    help: 'create-token --agent or --enroll: labels the agent gets, k=v,k=v (trusted: they choose agents for tasks)',
  },
];

export const AUTH_USAGE = `  create-user    create-user --name NAME --role admin|operator|viewer [--password PW]
  create-token   create-token --agent NAME [--expires 90d] [--label k=v,...]   (a token for one agent, shown once)
                 create-token --api --name NAME --role ROLE [--scope /api/metrics,...] [--expires 30d]
                 create-token --enroll --name NAME [--expires 24h] [--uses N] [--label k=v,...]`;

type Values = Map<string, string | boolean>;

function need(values: Values, flag: string, what: string): string {
  const v = values.get(flag);
  if (typeof v !== 'string' || v === '') throw new UsageError(`${what} needs --${flag}`);
  return v;
}

function nameFlag(values: Values, what: string): string {
  const name = need(values, 'name', what);
  if (!NAME_PATTERN.test(name)) throw new UsageError(`flag --name "${name}": ${NAME_RULE}`);
  return name;
}

function roleFlag(values: Values, what: string): Role {
  const role = need(values, 'role', what);
  if (!isRole(role)) throw new UsageError(`flag --role "${role}": expected one of ${ROLES.join(', ')}`);
  return role;
}

function expiresFlag(values: Values, fallback: string, allowNever: boolean): number {
  const raw = (values.get('expires') as string | undefined) ?? fallback;
  if (raw === 'never') {
    if (!allowNever) throw new UsageError('flag --expires: an enrollment token must expire');
    return 0;
  }
  try {
    return Date.now() + parseDuration(raw);
  } catch (err) {
    throw new UsageError(`flag --expires: ${(err as Error).message}${allowNever ? ' or never' : ''}`);
  }
}

/** Reads a password: hidden from the terminal when there is one, else the first line of stdin. */
export async function promptPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const rl = createInterface({ input });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    throw new UsageError('no password: give --password, type it at a terminal, or pipe it on stdin');
  }
  const rl = createInterface({ input, output: process.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput(s: string): void; output: NodeJS.WriteStream };
  let muted = false;
  out._writeToOutput = (s: string) => {
    if (!muted) process.stderr.write(s);
  };
  const ask = (q: string) =>
    new Promise<string>((resolve) => {
      process.stderr.write(q);
      muted = true;
      rl.question('', (a) => {
        muted = false;
        process.stderr.write('\n');
        resolve(a);
      });
    });
  try {
    const first = await ask(prompt);
    const again = await ask('again: ');
    if (first !== again) throw new UsageError('the two passwords differ');
    return first;
  } finally {
    rl.close();
  }
}

async function withMeta<T>(config: ServerConfig, fn: (meta: ReturnType<typeof openMetaDb>) => Promise<T>): Promise<T> {
  const meta = openMetaDb(metaDbOptions(config));
  try {
    await migrateMetaDb(meta);
    return await fn(meta);
  } finally {
    await meta.close();
  }
}

const quiet = pino({ level: 'silent' });

/** `falconet-server create-user`: the way to make the first admin, and any user, from the console. */
export async function createUserCommand(
  values: Values,
  config: ServerConfig,
  write = (s: string) => process.stderr.write(s),
): Promise<number> {
  const name = nameFlag(values, 'create-user');
  const role = roleFlag(values, 'create-user');
  const given = values.get('password');
  const password = typeof given === 'string' ? given : await promptPassword(`password for ${name}: `);
  const problem = passwordProblem(password, name);
  if (problem) throw new UsageError(`password: ${problem}`);
  return await withMeta(config, async (meta) => {
    const users = new UserRepository(meta);
    if (await users.byName(name)) throw new UsageError(`user "${name}" exists already`);
    const first = !(await users.any());
    await users.create(name, role, await hashPassword(password));
    await new AuditLog(meta, quiet).record({ actor: 'console', action: 'user.create', target: name, detail: { role } });
    write(
      `falconet-server: created ${role} "${name}"${first ? '; sign-in is now required and listening beyond loopback is allowed' : ''}\n`,
    );
    return 0;
  });
}

/**
 * `falconet-server create-token --api` (scripts) or `--enroll` (agents). The secret goes alone to
 * stdout so `TOKEN=$(falconet-server create-token ...)` works; the rest goes to stderr.
 */
export async function createTokenCommand(
  values: Values,
  config: ServerConfig,
  write = (s: string) => process.stderr.write(s),
): Promise<number> {
  const api = values.get('api') === true;
  const enroll = values.get('enroll') === true;
  if (api === enroll)
    throw new UsageError(
      'create-token needs one of --agent NAME (a token for one agent), --api (a token for scripts) or --enroll (an agent enrollment token)',
    );
  const name = nameFlag(values, 'create-token');
  return await withMeta(config, async (meta) => {
    const audit = new AuditLog(meta, quiet);
    if (api) {
      const role = roleFlag(values, 'create-token --api');
      const scopes = String(values.get('scope') ?? '*')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of scopes) {
        const problem = scopeProblem(s);
        if (problem) throw new UsageError(`flag --scope: ${problem}`);
      }
      const { token, record } = await new ApiTokenRepository(meta).create({
        name,
        role,
        scopes,
        expiresMs: expiresFlag(values, '90d', true),
        createdBy: 'console',
      });
      await audit.record({ actor: 'console', action: 'token.create', target: name, detail: { id: record.id, role, scopes } });
      write(
        `falconet-server: API token "${name}" (${role}, scopes ${scopes.join(',')}, ${record.expiresMs ? `expires ${new Date(record.expiresMs).toISOString()}` : 'never expires'}); shown once:\n`,
      );
      process.stdout.write(`${token}\n`);
      return 0;
    }
    const uses = Number(values.get('uses') ?? 1);
    if (!Number.isInteger(uses) || uses < 1)
      throw new UsageError(`flag --uses "${values.get('uses')}": expected a whole number of at least 1`);
    const labels: Record<string, string> = {};
    for (const part of String(values.get('label') ?? '')
      .split(',')
      .filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq <= 0 || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(part.slice(0, eq)))
        throw new UsageError(`flag --label "${part}": expected NAME=VALUE`);
      labels[part.slice(0, eq)] = part.slice(eq + 1);
    }
    const { token, record } = await new EnrollmentTokenRepository(meta).create({
      name,
      labels,
      expiresMs: expiresFlag(values, '24h', false),
      maxUses: uses,
      createdBy: 'console',
    });
    await audit.record({ actor: 'console', action: 'enrollment.create', target: name, detail: { id: record.id, uses } });
    write(
      `falconet-server: enrollment token "${name}" (${uses} use(s), expires ${new Date(record.expiresMs).toISOString()}); shown once:\n`,
    );
    process.stdout.write(`${token}\n`);
    return 0;
  });
}
