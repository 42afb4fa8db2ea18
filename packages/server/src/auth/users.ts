import type { Role } from '@falconet/protocol/api';
import type { Selectable } from 'kysely';
import { ROLE_RANK } from '../api/access.ts';
import type { MetaDb } from '../db/index.ts';
import type { UsersTable } from '../db/schema.ts';
import { randomId } from './ids.ts';

export function isRole(v: string): v is Role {
  return v in ROLE_RANK;
}

export interface User {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  /** Milliseconds since the epoch; 0 when not locked. */
  lockedUntilMs: number;
  failedSignIns: number;
  createdMs: number;
  updatedMs: number;
}

export interface UserWithHash extends User {
  passwordHash: string;
}

function fromRow(r: Selectable<UsersTable>): UserWithHash {
  return {
    id: r.id,
    name: r.name,
    role: (isRole(r.role) ? r.role : 'viewer') as Role,
    disabled: Number(r.disabled) !== 0,
    lockedUntilMs: Number(r.locked_until_ms),
    failedSignIns: Number(r.failed_signins),
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
    passwordHash: r.password_hash,
  };
}

export function publicUser(u: UserWithHash | User): User {
  const { passwordHash: _, ...rest } = u as UserWithHash;
  return rest;
}

/** Users in the metadata database. Names are unique and compared as given. */
export class UserRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  async any(): Promise<boolean> {
    const row = await this.#meta.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async create(name: string, role: Role, passwordHash: string, nowMs = Date.now()): Promise<User> {
    const row = {
      id: randomId(9),
      name,
      role,
      password_hash: passwordHash,
      disabled: 0,
      failed_signins: 0,
      locked_until_ms: 0,
      created_ms: nowMs,
      updated_ms: nowMs,
    };
    await this.#meta.db.insertInto('users').values(row).execute();
    return publicUser(fromRow(row));
  }

  async byName(name: string): Promise<UserWithHash | undefined> {
    const r = await this.#meta.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async byId(id: string): Promise<UserWithHash | undefined> {
    const r = await this.#meta.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async list(): Promise<User[]> {
    const rows = await this.#meta.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map((r) => publicUser(fromRow(r)));
  }

  async countAdmins(): Promise<number> {
    const rows = await this.#meta.db.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled', '=', 0).execute();
    return rows.length;
  }

  async update(
    id: string,
    change: { role?: Role; passwordHash?: string; disabled?: boolean; unlock?: boolean },
    nowMs = Date.now(),
  ): Promise<void> {
    await this.#meta.db
      .updateTable('users')
      .set({
        updated_ms: nowMs,
        ...(change.role ? { role: change.role } : {}),
        ...(change.passwordHash ? { password_hash: change.passwordHash } : {}),
        ...(change.disabled !== undefined ? { disabled: change.disabled ? 1 : 0 } : {}),
        ...(change.unlock || change.passwordHash ? { failed_signins: 0, locked_until_ms: 0 } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.#meta.db.deleteFrom('users').where('id', '=', id).execute();
  }

  /** Counts a wrong password; locks the user once `maxFailures` are reached in a row. */
  async recordFailure(id: string, maxFailures: number, lockoutMs: number, nowMs = Date.now()): Promise<{ locked: boolean }> {
    // Incremented in SQL, not read-modify-write, so concurrent guesses all count.
    await this.#meta.db
      .updateTable('users')
      .set((eb) => ({ failed_signins: eb('failed_signins', '+', 1) }))
      .where('id', '=', id)
      .execute();
    const locked = await this.#meta.db
      .updateTable('users')
      .set({ failed_signins: 0, locked_until_ms: nowMs + lockoutMs })
      .where('id', '=', id)
      .where('failed_signins', '>=', maxFailures)
      .executeTakeFirst();
    return { locked: Number(locked.numUpdatedRows) > 0 };
  }

  async recordSuccess(id: string): Promise<void> {
    await this.#meta.db.updateTable('users').set({ failed_signins: 0, locked_until_ms: 0 }).where('id', '=', id).execute();
  }
}
