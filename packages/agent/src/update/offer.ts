import type { KeyObject } from 'node:crypto';
import { compareVersions, parseManifest, RELEASE_NAME, type ReleaseManifest } from '@falconet/protocol';
import { signedByOneOf } from './keys.ts';

/** What this agent is, for judging an offer. */
export interface OfferContext {
  version: string;
  /** The release target of this build ("linux-x64"); empty when run from Node.js. */
  target: string;
  keys: readonly KeyObject[];
  /** Why this agent cannot update (update_blocked); empty when it can. */
  blocked: string;
}

export type OfferVerdict =
  | { kind: 'accept'; manifest: ReleaseManifest }
  /** Nothing to do and nothing to say: the offer is for the version already running. */
  | { kind: 'ignore'; why: string; manifest: ReleaseManifest }
  | { kind: 'refuse'; reason: string; manifest?: ReleaseManifest };

export const NO_KEY_REASON = 'no release key pinned (update.public_keys)';
export const UNKNOWN_KEY_REASON = "the manifest's signature matches none of the pinned release keys";

/**
 * Judges an UpdateOffer before anything is downloaded: the signature first (nothing in an unsigned
 * manifest is trusted, not even to be quoted), then the manifest's fields against this agent.
 */
export function judgeOffer(manifestBytes: Uint8Array, signature: Uint8Array, ctx: OfferContext): OfferVerdict {
  if (ctx.keys.length === 0) return { kind: 'refuse', reason: NO_KEY_REASON };
  if (!signedByOneOf(manifestBytes, signature, ctx.keys)) return { kind: 'refuse', reason: UNKNOWN_KEY_REASON };
  let m: ReleaseManifest;
  try {
    m = parseManifest(manifestBytes);
  } catch (err) {
    return { kind: 'refuse', reason: `the signed manifest is malformed: ${(err as Error).message}` };
  }
  if (m.name !== RELEASE_NAME) return { kind: 'refuse', reason: `the release is "${m.name}", not ${RELEASE_NAME}`, manifest: m };
  if (ctx.blocked) return { kind: 'refuse', reason: `this agent cannot update itself: ${ctx.blocked}`, manifest: m };
  if (m.target !== ctx.target) {
    return { kind: 'refuse', reason: `the release is built for ${m.target}, this agent runs ${ctx.target}`, manifest: m };
  }
  const order = compareVersions(m.version, ctx.version);
  if (order === 0) return { kind: 'ignore', why: `version ${m.version} is already running`, manifest: m };
  if (order < 0) return { kind: 'refuse', reason: `downgrade from ${ctx.version} to ${m.version} refused`, manifest: m };
  if (compareVersions(ctx.version, m.min_version) < 0) {
    return {
      kind: 'refuse',
      reason: `version ${m.version} needs at least ${m.min_version} to update from; this agent runs ${ctx.version}`,
      manifest: m,
    };
  }
  return { kind: 'accept', manifest: m };
}

/** The downloaded binary against its manifest: an empty string when it matches, else the refusal. */
export function judgeDownload(size: number, sha256: string, m: ReleaseManifest): string {
  if (size !== m.size) return `the downloaded binary is ${size} bytes, the signed manifest says ${m.size}`;
  if (sha256 !== m.sha256) return `sha256 of the downloaded binary is ${sha256}, the signed manifest says ${m.sha256}`;
  return '';
}
