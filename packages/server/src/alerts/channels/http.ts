/** What every channel shares: the sender interface, the delivery error, and one JSON POST. */
import { FALCONET_VERSION } from '@falconet/protocol';
import type { Notification } from '../message.ts';

/**
 * A failed delivery; `retryable` says whether trying again could help (a 5xx, a timeout) or not (a 4xx).
 * `message` is the detail, the remote side's answer included, for the server log only. `outcome`
 * is a fixed phrase (`HTTP 502`, `connection refused`, `timeout`) and is all that REST, the
 * delivery records and the audit log show: a channel pointed at an internal address must not
 * become a way to read what that address answers.
 */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  readonly outcome: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(outcome: string, message: string, retryable: boolean, retryAfterMs?: number) {
    super(message);
    this.outcome = outcome;
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The fixed phrases of failures; `HTTP <status>` and `SMTP <code>` besides. */
export const OUTCOME = {
  timeout: 'timeout',
  connectionRefused: 'connection refused',
  hostNotFound: 'host not found',
  connectionClosed: 'connection closed',
  tls: 'TLS error',
  network: 'network error',
  refused: 'refused by the service',
  rateLimited: 'rate limited by the service',
  notJson: 'unexpected answer',
  badTemplate: 'body template did not produce JSON',
  smtpAuth: 'SMTP authentication refused',
  dropped: 'dropped: too many notifications waiting for this channel',
  unexpected: 'unexpected error',
  /** In place of an error recorded before errors were fixed phrases: it may hold the remote side's answer. */
  hidden: 'failed; the detail is in the server log',
} as const;

const PHRASES = new Set<string>(Object.values(OUTCOME));

/** Whether a recorded error is one of the fixed phrases (or empty). */
export function isOutcome(s: string): boolean {
  return s === '' || PHRASES.has(s) || /^(HTTP|SMTP) \d{3}$/.test(s);
}

/** What may be shown of any error a sender threw. */
export function outcomeOf(err: unknown): string {
  return err instanceof DeliveryError ? err.outcome : OUTCOME.unexpected;
}

/** A network fault by its error code (from Node, undici or nodemailer), as one of a few fixed phrases. */
export function networkOutcome(code: string | undefined, timedOut: boolean): string {
  if (timedOut || code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return OUTCOME.timeout;
  if (code === 'ECONNREFUSED') return OUTCOME.connectionRefused;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return OUTCOME.hostNotFound;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return OUTCOME.connectionClosed;
  if (code && /CERT|TLS|SSL|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return OUTCOME.tls;
  return OUTCOME.network;
}

export interface ChannelSender {
  /** Delivers one notification; throws DeliveryError. */
  send(n: Notification, signal: AbortSignal): Promise<void>;
  /** How values inserted by templates are escaped for this channel's markup. */
  readonly escape?: (s: string) => string;
  close?(): void;
}

export const USER_AGENT = `Falconet/${FALCONET_VERSION}`;

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** Where a URL goes, without its secrets (tokens in paths and query strings). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.split('/').slice(0, 3).join('/')}${u.pathname.split('/').length > 3 ? '/…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

export interface PostResult {
  status: number;
  text: string;
}

/**
 * POSTs a body and returns the answer. Network errors, timeouts, 408, 429 and 5xx are
 * retryable; other 4xx are not, since sending the same request again cannot succeed.
 */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  method = 'POST',
): Promise<PostResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      body,
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': USER_AGENT, ...headers },
      signal,
      redirect: 'manual',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
    const code = e.cause?.code ?? e.cause?.errors?.[0]?.code;
    const why = signal.aborted ? 'timed out' : (code ?? e.cause?.message ?? e.message);
    throw new DeliveryError(networkOutcome(code, signal.aborted), `${method} ${redactUrl(url)}: ${why}`, true);
  }
  const text = await res.text().catch(() => '');
  if (res.status >= 200 && res.status < 300) return { status: res.status, text };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  throw new DeliveryError(
    `HTTP ${res.status}`,
    `${method} ${redactUrl(url)}: HTTP ${res.status}${text ? ` ${text.slice(0, 200)}` : ''}`,
    retryable,
    retryAfter(res.headers.get('retry-after')),
  );
}

export function parseJsonAnswer(r: PostResult, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(r.text) as unknown;
    if (v && typeof v === 'object') return v as Record<string, unknown>;
  } catch {
    // handled below
  }
  throw new DeliveryError(OUTCOME.notJson, `${what}: the answer is not JSON: ${r.text.slice(0, 200)}`, false);
}

/** Cuts text to a limit counted in UTF-8 bytes (WeCom, DingTalk) or characters, marking the cut. */
export function clip(text: string, max: number, bytes = false): string {
  const size = (s: string) => (bytes ? Buffer.byteLength(s) : s.length);
  if (size(text) <= max) return text;
  let s = text.slice(0, max);
  while (size(s) > max - 4) s = s.slice(0, -Math.max(1, Math.floor(s.length / 50)));
  return `${s}\n…`;
}
