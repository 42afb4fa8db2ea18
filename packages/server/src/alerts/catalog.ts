/**
 * The AlertCatalog: the rules, channels and silences in force, from the database (made over REST)
 * and from the rules file, checked against each other (a rule names channels that exist, names
 * are unique). Changes over REST go through here; the file is read-only over REST.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { ConfigError, loadConfig } from '@falconet/protocol/config';
import { ApiError } from '../api/errors.ts';
import { timeOrderedId } from '../auth/ids.ts';
import { withStoredSecrets } from './channel-secrets.ts';
import type { AlertRepository } from './repository.ts';
import { type ChannelSpec, ms, type RuleSpec, type RulesFile, rulesFileSchema, type SilenceSpec, timeMs } from './spec.ts';

export type Source = 'api' | 'file';

export interface Record_<S> {
  id: string;
  source: Source;
  spec: S;
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}
export type RuleRecord = Record_<RuleSpec>;
export type ChannelRecord = Record_<ChannelSpec>;
export type SilenceRecord = Record_<SilenceSpec>;

/** A refused change, with the HTTP status and error code REST answers with. */
export class CatalogError extends ApiError {}

/** Ids of file entries come from their names, so they stay the same across restarts and edits. */
export const fileId = (kind: string, name: string) => `file-${kind}-${createHash('sha1').update(name).digest('hex').slice(0, 12)}`;

/** Reads and checks a rules file; errors name file:line:column. */
export function readRulesFile(path: string): RulesFile {
  const { config } = loadConfig(rulesFileSchema, { file: path, required: true, env: {} });
  const problems: string[] = [];
  const dup = (what: string, names: string[]) => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) problems.push(`${path}: two ${what} are named "${n}"; names must be unique`);
      seen.add(n);
    }
  };
  dup(
    'rules',
    config.rules.map((r) => r.name),
  );
  dup(
    'channels',
    config.channels.map((c) => c.name),
  );
  if (problems.length) throw new ConfigError(problems);
  return config;
}

export class AlertCatalog {
  readonly #repo: AlertRepository;
  readonly #file: string;
  readonly #now: () => number;
  #api: { rules: RuleRecord[]; channels: ChannelRecord[]; silences: SilenceRecord[] } = { rules: [], channels: [], silences: [] };
  #fromFile: { rules: RuleRecord[]; channels: ChannelRecord[]; silences: SilenceRecord[] } = { rules: [], channels: [], silences: [] };
  #fileStamp = '';

  constructor(repo: AlertRepository, opts: { rulesFile: string; now?: () => number }) {
    this.#repo = repo;
    this.#file = opts.rulesFile;
    this.#now = opts.now ?? Date.now;
  }

  get rulesFile(): string {
    return this.#file;
  }

  get rules(): RuleRecord[] {
    return [...this.#fromFile.rules, ...this.#api.rules];
  }

  get channels(): ChannelRecord[] {
    return [...this.#fromFile.channels, ...this.#api.channels];
  }

  get silences(): SilenceRecord[] {
    return [...this.#fromFile.silences, ...this.#api.silences];
  }

  /** Reads the database's definitions (again: another server may have changed them). */
  async loadDatabase(): Promise<void> {
    const [rules, channels, silences] = await Promise.all([this.#repo.rules(), this.#repo.channels(), this.#repo.silences()]);
    this.#api = {
      rules: rules.map((r) => ({ ...r, source: 'api' as const })),
      channels: channels.map((r) => ({ ...r, source: 'api' as const })),
      silences: silences.map((r) => ({ ...r, source: 'api' as const })),
    };
  }

  /**
   * Reads the rules file when it changed since last time. Throws ConfigError (file:line:col) for
   * a bad file; the definitions in force stay as they were.
   */
  loadFileIfChanged(): boolean {
    if (!this.#file) return false;
    let stamp: string;
    try {
      const st = statSync(this.#file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch (err) {
      throw new ConfigError([`${this.#file}: cannot read the rules file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
    }
    if (stamp === this.#fileStamp) return false;
    const parsed = readRulesFile(this.#file);
    const now = this.#now();
    const mk = <S>(kind: string, name: string, spec: S) => ({
      id: fileId(kind, name),
      source: 'file' as const,
      spec,
      createdBy: 'file',
      createdMs: now,
      updatedMs: now,
    });
    const next = {
      rules: parsed.rules.map((r) => mk('rule', r.name, r)),
      channels: parsed.channels.map((c) => mk('channel', c.name, c)),
      silences: parsed.silences.map((s, i) => mk('silence', s.name ?? String(i), s)),
    };
    const dbNames = new Set(this.#api.channels.map((c) => c.spec.name));
    const clash = next.channels.find((c) => dbNames.has(c.spec.name));
    if (clash) {
      throw new ConfigError([`${this.#file}: channel "${clash.spec.name}" is also defined over REST; rename one of them`]);
    }
    const known = new Set([...next.channels.map((c) => c.spec.name), ...dbNames]);
    const missing = next.rules.flatMap((r) =>
      r.spec.channels.filter((c) => !known.has(c)).map((c) => `rule "${r.spec.name}" names channel "${c}"`),
    );
    if (missing.length) throw new ConfigError(missing.map((m) => `${this.#file}: ${m}, which does not exist`));
    this.#fromFile = next;
    this.#fileStamp = stamp;
    return true;
  }

  rule(id: string): RuleRecord | undefined {
    return this.rules.find((r) => r.id === id);
  }

  channel(idOrName: string): ChannelRecord | undefined {
    return this.channels.find((c) => c.id === idOrName || c.spec.name === idOrName);
  }

  silence(id: string): SilenceRecord | undefined {
    return this.silences.find((s) => s.id === id);
  }

  #editable<T extends { source: Source }>(rec: T | undefined, what: string, id: string): T {
    if (!rec) throw new CatalogError(404, 'not_found', `${what} "${id}" not found`);
    if (rec.source === 'file') {
      throw new CatalogError(409, 'read_only', `${what} "${id}" comes from the rules file ${this.#file}; change it there`);
    }
    return rec;
  }

  #checkChannels(spec: RuleSpec): void {
    const missing = spec.channels.filter((c) => !this.channel(c));
    if (missing.length)
      throw new CatalogError(400, 'bad_request', `body channels: no channel named ${missing.map((m) => `"${m}"`).join(', ')}`);
  }

  async createRule(spec: RuleSpec, by: string): Promise<RuleRecord> {
    this.#checkChannels(spec);
    const now = this.#now();
    const rec: RuleRecord = { id: timeOrderedId(now), source: 'api', spec, createdBy: by, createdMs: now, updatedMs: now };
    await this.#repo.putRule(rec.id, spec, by, now, true);
    this.#api.rules.push(rec);
    return rec;
  }

  async updateRule(id: string, spec: RuleSpec): Promise<RuleRecord> {
    const rec = this.#editable(this.rule(id), 'rule', id);
    this.#checkChannels(spec);
    const now = this.#now();
    await this.#repo.putRule(id, spec, rec.createdBy, now, false);
    const next = { ...rec, spec, updatedMs: now };
    this.#api.rules = this.#api.rules.map((r) => (r.id === id ? next : r));
    return next;
  }

  async deleteRule(id: string): Promise<void> {
    this.#editable(this.rule(id), 'rule', id);
    await this.#repo.deleteRule(id);
    this.#api.rules = this.#api.rules.filter((r) => r.id !== id);
  }

  async createChannel(spec: ChannelSpec, by: string): Promise<ChannelRecord> {
    if (this.channel(spec.name)) throw new CatalogError(409, 'conflict', `a channel named "${spec.name}" exists`);
    const now = this.#now();
    const rec: ChannelRecord = { id: timeOrderedId(now), source: 'api', spec, createdBy: by, createdMs: now, updatedMs: now };
    await this.#repo.putChannel(rec.id, spec, by, now, true);
    this.#api.channels.push(rec);
    return rec;
  }

  /**
   * A masked secret sent back unchanged keeps the stored one, so a form can be saved without
   * retyping it; not when the destination changes too (SecretRequiredError, channel-secrets.ts).
   */
  async updateChannel(id: string, input: ChannelSpec): Promise<ChannelRecord> {
    const rec = this.#editable(this.channel(id), 'channel', id);
    const spec = withStoredSecrets(input, rec.spec);
    const other = this.channel(spec.name);
    if (other && other.id !== rec.id) throw new CatalogError(409, 'conflict', `a channel named "${spec.name}" exists`);
    if (spec.name !== rec.spec.name) {
      const users = this.rules.filter((r) => r.spec.channels.includes(rec.spec.name));
      if (users.length) {
        throw new CatalogError(
          409,
          'in_use',
          `channel "${rec.spec.name}" is named by rules ${users.map((r) => `"${r.spec.name}"`).join(', ')}; it keeps its name`,
        );
      }
    }
    const now = this.#now();
    await this.#repo.putChannel(rec.id, spec, rec.createdBy, now, false);
    const next = { ...rec, spec, updatedMs: now };
    this.#api.channels = this.#api.channels.map((c) => (c.id === rec.id ? next : c));
    return next;
  }

  async deleteChannel(id: string): Promise<void> {
    const rec = this.#editable(this.channel(id), 'channel', id);
    const users = this.rules.filter((r) => r.spec.channels.includes(rec.spec.name));
    if (users.length) {
      throw new CatalogError(
        409,
        'in_use',
        `channel "${rec.spec.name}" is named by rules ${users.map((r) => `"${r.spec.name}"`).join(', ')}`,
      );
    }
    await this.#repo.deleteChannel(rec.id);
    this.#api.channels = this.#api.channels.filter((c) => c.id !== rec.id);
  }

  async createSilence(spec: SilenceSpec, by: string): Promise<SilenceRecord> {
    const now = this.#now();
    const rec: SilenceRecord = { id: timeOrderedId(now), source: 'api', spec, createdBy: by, createdMs: now, updatedMs: now };
    await this.#repo.putSilence(rec.id, spec, silenceEndsMs(spec, now), by, now, true);
    this.#api.silences.push(rec);
    return rec;
  }

  async updateSilence(id: string, spec: SilenceSpec): Promise<SilenceRecord> {
    const rec = this.#editable(this.silence(id), 'silence', id);
    const now = this.#now();
    await this.#repo.putSilence(id, spec, silenceEndsMs(spec, rec.createdMs), rec.createdBy, now, false);
    const next = { ...rec, spec, updatedMs: now };
    this.#api.silences = this.#api.silences.map((s) => (s.id === id ? next : s));
    return next;
  }

  async deleteSilence(id: string): Promise<void> {
    this.#editable(this.silence(id), 'silence', id);
    await this.#repo.deleteSilence(id);
    this.#api.silences = this.#api.silences.filter((s) => s.id !== id);
  }
}

function silenceEndsMs(s: SilenceSpec, createdMs: number): number {
  if (s.schedule) return 0;
  if (s.ends_at !== undefined) return timeMs(s.ends_at);
  return (s.starts_at !== undefined ? timeMs(s.starts_at) : createdMs) + ms(s.duration, 0);
}
