/**
 * Channel secrets are write-only. REST shows them masked; a masked value sent back keeps the
 * stored one, so a form can be saved without retyping it, but only while the channel still sends
 * to the same place. A stored secret never follows a changed destination: whoever repoints a
 * channel enters its secrets again, so repointing it cannot be a way to read them.
 */
import { ApiError } from '../api/errors.ts';
import { MASK, maskUrl, SECRET_FIELDS } from './channels/index.ts';
import type { ChannelSpec } from './spec.ts';

/** A channel as REST shows it: secrets masked, tokens cut out of webhook URLs. */
export function maskChannel(spec: ChannelSpec): ChannelSpec {
  const out = { ...spec } as Record<string, unknown>;
  for (const f of SECRET_FIELDS) if (typeof out[f] === 'string' && out[f]) out[f] = MASK;
  if (typeof out.url === 'string') out.url = maskUrl(out.url);
  if (spec.type === 'email' && spec.smtp.password) out.smtp = { ...spec.smtp, password: MASK };
  if (spec.type === 'webhook' && spec.headers) out.headers = Object.fromEntries(Object.keys(spec.headers).map((k) => [k, MASK]));
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

/**
 * What decides where a channel's secrets and messages go, by type: the URL, the SMTP server and
 * how it is reached, the recipients, the chat. Keys name the fields as a request body does.
 */
function destination(spec: ChannelSpec): Record<string, unknown> {
  switch (spec.type) {
    case 'email': {
      const s = spec.smtp;
      return {
        'smtp.host': s.host,
        'smtp.port': s.port,
        'smtp.secure': s.secure,
        'smtp.require_tls': s.require_tls,
        'smtp.tls_insecure': s.tls_insecure,
        to: spec.to,
      };
    }
    case 'telegram':
      return { api_url: spec.api_url, chat_id: spec.chat_id };
    default:
      return { url: spec.url };
  }
}

/** The secrets an input sends back masked, by field path, with what the stored spec holds there. */
function maskedSecrets(input: ChannelSpec, stored: ChannelSpec): { field: string; value: string | undefined }[] {
  const inp = input as unknown as Record<string, unknown>;
  const old = stored as unknown as Record<string, unknown>;
  const out: { field: string; value: string | undefined }[] = [];
  const same = input.type === stored.type;
  for (const f of SECRET_FIELDS) if (inp[f] === MASK) out.push({ field: f, value: same ? (old[f] as string | undefined) : undefined });
  if (input.type === 'email' && input.smtp.password === MASK) {
    out.push({ field: 'smtp.password', value: stored.type === 'email' ? stored.smtp.password : undefined });
  }
  if (input.type === 'webhook') {
    for (const [k, v] of Object.entries(input.headers ?? {})) {
      if (v === MASK) out.push({ field: `headers.${k}`, value: stored.type === 'webhook' ? stored.headers?.[k] : undefined });
    }
  }
  return out;
}

/**
 * The spec to store for an update: masked secrets replaced by the stored ones. Throws
 * SecretRequiredError when a stored secret would be kept while the destination (or the type)
 * changes. A secret left out is removed, as any field a PUT leaves out.
 */
export function withStoredSecrets(input: ChannelSpec, stored: ChannelSpec): ChannelSpec {
  const masked = maskedSecrets(input, stored);
  const kept = masked.filter((m) => m.value).map((m) => m.field);
  const out = { ...input } as Record<string, unknown>;
  if (input.type !== stored.type) {
    // Nothing is kept across a change of type, and a mask stored as the secret itself would mislead.
    const fields = masked.map((m) => m.field);
    if (fields.length > 0) throw new SecretRequiredError(input.name, fields, ['type']);
    return input;
  }
  const old = stored as unknown as Record<string, unknown>;
  if (typeof out.url === 'string' && typeof old.url === 'string' && out.url === maskUrl(old.url)) out.url = old.url;
  for (const f of SECRET_FIELDS) if (out[f] === MASK) out[f] = old[f];
  if (input.type === 'email' && stored.type === 'email' && input.smtp.password === MASK) {
    out.smtp = { ...input.smtp, password: stored.smtp.password };
  }
  if (input.type === 'webhook' && stored.type === 'webhook' && input.headers) {
    out.headers = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k, v === MASK ? (stored.headers?.[k] ?? '') : v]));
  }
  const next = out as ChannelSpec;
  if (kept.length) {
    const before = destination(stored);
    const after = destination(next);
    const changed = Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
    if (changed.length) throw new SecretRequiredError(input.name, kept, changed);
  }
  return next;
}
