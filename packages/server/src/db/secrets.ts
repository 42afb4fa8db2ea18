/**
 * Secrets at rest in the metadata database: the session signing key, alert channel specs and
 * agent payload keys are sealed with AES-256-GCM under a master key that is not in the database
 * (a 0600 file in the data directory, or `secret_key` from the environment). The row's identity
 * is the associated data, so a sealed value copied into another row does not open there. A copy
 * of the database alone yields none of them.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const MASTER_KEY_BYTES = 32;
/** The environment variable (config key `secret_key`) that gives the master key instead of the file. */
export const SECRET_KEY_ENV = 'FALCONET_SECRET_KEY';
/** A sealed known value in `auth_secrets`: tells a wrong key from a right one before anything else is read. */
const CHECK_ROW = 'secret_key_check';
const CHECK_TEXT = 'falconet master key check';

/** Where a sealed value lives; its text is the associated data, so the value opens only in that row. */
export function rowContext(table: keyof Database, column: string, rowId: string): string {
  return `${table}.${column}:${rowId}`;
}

/** The sealed columns, for sealing the plaintext an older version left behind. */
const SEALED_COLUMNS = [
  { table: 'auth_secrets', id: 'name', column: 'value' },
  { table: 'agent_tokens', id: 'id', column: 'payload_key' },
  { table: 'alert_channels', id: 'id', column: 'spec' },
] as const;

export class SecretOpenError extends Error {
  override name = 'SecretOpenError';
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** The key id a sealed value names (8 hex digits), or undefined for plaintext. */
export function sealedKeyId(value: string): string | undefined {
  return isSealed(value) ? value.slice(PREFIX.length).split(':', 1)[0] : undefined;
}

/** Seals and opens values under one master key. */
export class SecretBox {
  /** Which key this is, for messages: 32 bits of a hash, which say nothing about the key itself. */
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== MASTER_KEY_BYTES) throw new Error(`a master key is ${MASTER_KEY_BYTES} bytes, not ${masterKey.length}`);
    this.#key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'falconet secrets at rest v1', 32));
    this.keyId = createHash('sha256').update('falconet master key id').update(masterKey).digest('hex').slice(0, 8);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${this.keyId}:${body.toString('base64url')}`;
  }

  open(sealed: string, context: string): string {
    const keyId = sealedKeyId(sealed);
    if (keyId === undefined) throw new SecretOpenError(`${context}: not a sealed value`);
    if (keyId !== this.keyId)
      throw new SecretOpenError(`${context}: sealed under master key ${keyId}, not this server's key ${this.keyId}`);
    const body = Buffer.from(sealed.slice(PREFIX.length + keyId.length + 1), 'base64url');
    if (body.length < IV_BYTES + TAG_BYTES) throw new SecretOpenError(`${context}: sealed value is truncated`);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, body.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretOpenError(`${context}: sealed value does not open (altered, or copied from another row)`);
    }
  }
}

/** What is wrong with a base64 master key, or undefined when it is one. */
export function masterKeyProblem(text: string): string | undefined {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64').length;
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) && bytes === MASTER_KEY_BYTES) return undefined;
  return `expected a ${MASTER_KEY_BYTES}-byte key in base64 (make one with: openssl rand -base64 ${MASTER_KEY_BYTES}), found ${bytes} bytes`;
}

/** Parses a base64 master key, naming where it came from when it is not one. */
export function parseMasterKey(text: string, source: string): Buffer {
  const problem = masterKeyProblem(text);
  if (problem) throw new MasterKeyError(`${source}: ${problem}`);
  return Buffer.from(text.trim(), 'base64');
}

/** Why the server cannot use its secrets: start-up (or the command) stops with this message. */
export class MasterKeyError extends StartupError {}

export interface MasterKeySource {
  /** Base64 key from the configuration (`secret_key`, i.e. FALCONET_SECRET_KEY); wins over the file. */
  key: string;
  /** The key file: read when present, made (0600) on a database that has no sealed secrets yet. */
  file: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void } | undefined;
}

export interface Unlocked {
  box: SecretBox;
  /** The key file was made just now. */
  created: boolean;
  /** Plaintext values an older version left, sealed just now, by column. */
  sealed: Record<string, number>;
}

/**
 * Loads the master key and proves it opens this database's secrets, or makes one for a database
 * that has none. Never makes a new key for a database that already holds sealed values: that
 * would orphan them. Then seals whatever plaintext secret an older version left.
 */
export async function unlockSecrets(db: Kysely<Database>, source: MasterKeySource): Promise<Unlocked> {
  const given = readGivenKey(source);
  const probe = await findProbe(db);
  let box: SecretBox;
  let created = false;
  if (probe) {
    if (!given) {
      throw new MasterKeyError(
        `the metadata database's secrets are sealed under master key ${sealedKeyId(probe.value)}, and that key is not here: ` +
          `restore ${source.file} (from the backup taken with the database) or set ${SECRET_KEY_ENV}. ` +
          'No new key is made: it could not open them.',
      );
    }
    box = new SecretBox(given.key);
    try {
      box.open(probe.value, probe.context);
    } catch {
      throw new MasterKeyError(
        `${given.source} holds master key ${box.keyId}, but the metadata database's secrets are sealed under key ${sealedKeyId(probe.value)}: ` +
          'give the key this database was made with',
      );
    }
    await insertCheck(db, box);
  } else {
    created = !given;
    const key = given?.key ?? randomBytes(MASTER_KEY_BYTES);
    box = new SecretBox(key);
    if (created) writeKeyFile(source.file, key);
    await insertCheck(db, box);
    // Another server on the same PostgreSQL may have made its key in the same moment: its check row won.
    const check = await readCheck(db);
    try {
      if (check) box.open(check.value, check.context);
    } catch {
      if (created) unlinkSync(source.file);
      throw new MasterKeyError(
        `another server sharing this database made its master key ${sealedKeyId(check?.value ?? '')} first: ` +
          `copy its key file to ${source.file} or set ${SECRET_KEY_ENV} to the same key on every server`,
      );
    }
    if (created) {
      source.log?.info(
        { file: source.file, keyId: box.keyId },
        `made the master key that seals this server's secrets; back it up apart from the database, and give every server sharing the database the same key (${SECRET_KEY_ENV} or this file)`,
      );
    }
  }
  const sealed = await sealPlaintext(db, box);
  if (Object.keys(sealed).length) source.log?.warn({ sealed }, 'sealed secrets an older version kept in plain text');
  return { box, created, sealed };
}

function readGivenKey(source: MasterKeySource): { key: Buffer; source: string } | undefined {
  if (source.key) return { key: parseMasterKey(source.key, `secret_key (${SECRET_KEY_ENV})`), source: `secret_key (${SECRET_KEY_ENV})` };
  let text: string;
  try {
    text = readFileSync(source.file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MasterKeyError(`${source.file}: cannot read the master key (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const mode = statSync(source.file).mode;
  if (process.platform !== 'win32' && mode & 0o077) {
    source.log?.warn(
      { file: source.file, mode: `0${(mode & 0o777).toString(8)}` },
      'the master key file is readable by others: chmod 600 it',
    );
  }
  return { key: parseMasterKey(text, source.file), source: source.file };
}

/** Written 0600 from the first byte, and never over an existing file. */
function writeKeyFile(file: string, key: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  let fd: number;
  try {
    fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    throw new MasterKeyError(`${file}: cannot make the master key file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
}

const checkContext = rowContext('auth_secrets', 'value', CHECK_ROW);

type IdValue = { id: string; value: string };

async function readCheck(db: Kysely<Database>): Promise<{ value: string; context: string } | undefined> {
  const row = await db.selectFrom('auth_secrets').select('value').where('name', '=', CHECK_ROW).executeTakeFirst();
  return row ? { value: row.value, context: checkContext } : undefined;
}

async function insertCheck(db: Kysely<Database>, box: SecretBox): Promise<void> {
  await db
    .insertInto('auth_secrets')
    .values({ name: CHECK_ROW, value: box.seal(CHECK_TEXT, checkContext), created_ms: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

/** A sealed value to try a key on: the check row, or (should it be gone) any sealed value at all. */
async function findProbe(db: Kysely<Database>): Promise<{ value: string; context: string } | undefined> {
  const check = await readCheck(db);
  if (check) return check;
  for (const c of SEALED_COLUMNS) {
    const { rows } = await sql<IdValue>`select ${sql.ref(c.id)} as id, ${sql.ref(c.column)} as value from ${sql.table(c.table)}
      where ${sql.ref(c.column)} like ${`${PREFIX}%`} limit 1`.execute(db);
    const r = rows[0];
    if (r) return { value: r.value, context: rowContext(c.table, c.column, r.id) };
  }
  return undefined;
}

async function sealPlaintext(db: Kysely<Database>, box: SecretBox): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const c of SEALED_COLUMNS) {
    const { rows } = await sql<IdValue>`select ${sql.ref(c.id)} as id, ${sql.ref(c.column)} as value from ${sql.table(c.table)}
      where ${sql.ref(c.column)} not like ${`${PREFIX}%`}`.execute(db);
    for (const r of rows) {
      // Conditional on the old value, so a row another server changed meanwhile is left to it.
      await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${box.seal(r.value, rowContext(c.table, c.column, r.id))}
        where ${sql.ref(c.id)} = ${r.id} and ${sql.ref(c.column)} = ${r.value}`.execute(db);
    }
    if (rows.length) counts[`${c.table}.${c.column}`] = rows.length;
  }
  return counts;
}
