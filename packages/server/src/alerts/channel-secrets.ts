/**
 * Channel secrets are write-only. REST shows them masked; a masked value sent back keeps the
 * stored one, so a form can be saved without retyping it, but only while the channel still sends
 * to the same place. A stored secret never follows a changed destination: whoever repoints a
 * channel enters its secrets again, so repointing it cannot be a way to read them.
 */
import { ApiError } from '../api/errors.ts';
import { channelDefinition } from './channels/index.ts';
import type { ChannelSpec } from './spec.ts';

const MASK = '********';

/**
 * Webhook URLs carry their token in the path, query, fragment or user info: shown as scheme, host
 * and first path segment only, so where a channel sends stays readable and its token does not.
 */
function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    const segments = u.pathname.split('/').filter(Boolean);
    const hidden = u.search || u.hash || u.username || u.password || segments.length > 1;
    return hidden ? `${u.protocol}//${u.host}${segments.length ? `/${segments[0]}` : ''}/${MASK}` : url;
  } catch {
    return MASK;
  }
}

type Fields = Record<string, unknown>;

/** One secret in a spec: its path (`secret`, `smtp.password`, `headers.Authorization`), and whether it is a value of a map. */
interface SecretField {
  path: string[];
  inMap: boolean;
}

const valueAt = (spec: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Fields)[k] : undefined), spec);

/** A copy of `spec` with `value` at `path`, the objects on the way copied too. */
function withValueAt(spec: Fields, path: readonly string[], value: unknown): Fields {
  const [head, ...rest] = path as [string, ...string[]];
  return { ...spec, [head]: rest.length ? withValueAt((spec[head] ?? {}) as Fields, rest, value) : value };
}

/** The secrets a spec's type declares, as present in the spec: `headers.*` is one per header. */
function secretFields(spec: ChannelSpec): SecretField[] {
  return channelDefinition(spec.type).secrets.flatMap((declared): SecretField[] => {
    const path = declared.split('.');
    if (path.at(-1) !== '*') return [{ path, inMap: false }];
    const map = valueAt(spec, path.slice(0, -1));
    return map && typeof map === 'object' ? Object.keys(map).map((k) => ({ path: [...path.slice(0, -1), k], inMap: true })) : [];
  });
}

/** A channel as REST shows it: secrets masked, tokens cut out of webhook URLs. */
export function maskChannel(spec: ChannelSpec): ChannelSpec {
  let out = { ...spec } as Fields;
  for (const f of secretFields(spec)) {
    const v = valueAt(spec, f.path);
    // A map's every value is masked, set or empty; a field only when it holds a secret.
    if (f.inMap || (typeof v === 'string' && v)) out = withValueAt(out, f.path, MASK);
  }
  if (typeof out.url === 'string') out.url = maskUrl(out.url);
  return out as ChannelSpec;
}

/** An update that kept a stored secret (sent back masked) while changing where the channel sends. */
export class SecretRequiredError extends ApiError {
  override name = 'SecretRequiredError';
  /** The secret sent back masked (`secret`, `smtp.password`, `headers.Authorization`). */
  readonly field: string;
  /** What changed of the destination (`url`, `smtp.host`, `chat_id`, `type`). */
  readonly changed: string[];
  constructor(channel: string, kept: string[], changed: string[]) {
    super(
      400,
      'secret_required',
      `body ${kept[0]}: channel "${channel}" changes where it sends (${changed.join(', ')}), so the stored ` +
        `${kept.join(', ')} cannot be kept; enter ${kept.length > 1 ? 'them' : 'it'} again instead of ${MASK}`,
    );
    this.field = kept[0] as string;
    this.changed = changed;
  }
}

/** The fields that decide where a channel's secrets and messages go, named as a request body does. */
function destination(spec: ChannelSpec): Record<string, unknown> {
  return Object.fromEntries(channelDefinition(spec.type).destination.map((f) => [f, valueAt(spec, f.split('.'))]));
}

/** The secrets an input sends back masked, with what the stored spec holds there. */
function maskedSecrets(input: ChannelSpec, stored: ChannelSpec): (SecretField & { field: string; value: string | undefined })[] {
  const same = input.type === stored.type;
  return secretFields(input)
    .filter((f) => valueAt(input, f.path) === MASK)
    .map((f) => ({ ...f, field: f.path.join('.'), value: same ? (valueAt(stored, f.path) as string | undefined) : undefined }));
}

/**
 * The spec to store for an update: masked secrets replaced by the stored ones. Throws
 * SecretRequiredError when a stored secret would be kept while the destination (or the type)
 * changes. A secret left out is removed, as any field a PUT leaves out.
 */
export function withStoredSecrets(input: ChannelSpec, stored: ChannelSpec): ChannelSpec {
  const masked = maskedSecrets(input, stored);
  const kept = masked.filter((m) => m.value).map((m) => m.field);
  if (input.type !== stored.type) {
    // Nothing is kept across a change of type, and a mask stored as the secret itself would mislead.
    const fields = masked.map((m) => m.field);
    if (fields.length > 0) throw new SecretRequiredError(input.name, fields, ['type']);
    return input;
  }
  let out = { ...input } as Fields;
  const old = stored as unknown as Fields;
  if (typeof out.url === 'string' && typeof old.url === 'string' && out.url === maskUrl(old.url)) out.url = old.url;
  // A map's values are strings: one the stored spec lacks becomes empty.
  for (const m of masked) out = withValueAt(out, m.path, m.inMap ? (m.value ?? '') : m.value);
  const next = out as ChannelSpec;
  if (kept.length) {
    const before = destination(stored);
    const after = destination(next);
    const changed = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
    if (changed.length) throw new SecretRequiredError(input.name, kept, changed);
  }
  return next;
}
