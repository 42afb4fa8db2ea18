import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { LogBatch, PayloadEncoding } from './gen/falconet/v1/agent.ts';
import type { Sample } from './sample.ts';
import { decodeSampleBatch, encodeSampleBatch } from './wire.ts';

/** A payload could not be opened: bad gzip, failed authentication, malformed protobuf. */
export class PayloadError extends Error {
  override name = 'PayloadError';
}

export interface SealOptions {
  gzip: boolean;
  /** 32-byte AES-256-GCM key; when set the payload is gzipped and sealed. */
  key?: Buffer | undefined;
  /** Additional authenticated data, e.g. the agent id and sequence, binding the payload to its report. */
  aad?: Buffer | undefined;
}

export interface EncodedPayload {
  encoding: PayloadEncoding;
  payload: Buffer;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function toWire(samples: readonly Sample[]): Uint8Array {
  return encodeSampleBatch(samples);
}

export function fromWire(bytes: Uint8Array): Sample[] {
  try {
    return decodeSampleBatch(bytes);
  } catch (err) {
    throw new PayloadError(`malformed sample batch: ${(err as Error).message}`);
  }
}

export function seal(plain: Buffer, key: Buffer, aad?: Buffer): Buffer {
  if (key.length !== 32) throw new PayloadError(`AES-256-GCM key must be 32 bytes, got ${key.length}`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function unseal(sealed: Buffer, key: Buffer, aad?: Buffer): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new PayloadError('sealed payload is too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  if (aad) decipher.setAAD(aad);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PayloadError('sealed payload failed authentication (wrong key or tampered data)');
  }
}

export function encodePayload(samples: readonly Sample[], opts: SealOptions): EncodedPayload {
  return wrapPayload(encodeSampleBatch(samples), opts);
}

/** A LogBatch under the same encodings as samples (raw, gzip, sealed with the same key and AAD). */
export function encodeLogPayload(batch: LogBatch, opts: SealOptions): EncodedPayload {
  return wrapPayload(LogBatch.encode(batch).finish(), opts);
}

function wrapPayload(raw: Uint8Array, opts: SealOptions): EncodedPayload {
  if (opts.key) {
    return { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM, payload: seal(gzipSync(raw), opts.key, opts.aad) };
  }
  if (opts.gzip) return { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload: gzipSync(raw) };
  return { encoding: PayloadEncoding.PAYLOAD_ENCODING_RAW, payload: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) };
}

export interface OpenOptions {
  key?: Buffer | undefined;
  aad?: Buffer | undefined;
  /** Refuse payloads that inflate beyond this many bytes (a gzip bomb guard). */
  maxBytes?: number;
}

export function decodePayload(encoding: PayloadEncoding, payload: Uint8Array, opts: OpenOptions = {}): Sample[] {
  return fromWire(unwrapPayload(encoding, payload, opts));
}

/** Opens a LOGS report's payload; a malformed batch is a PayloadError like a malformed sample batch. */
export function decodeLogPayload(encoding: PayloadEncoding, payload: Uint8Array, opts: OpenOptions = {}): LogBatch {
  const raw = unwrapPayload(encoding, payload, opts);
  try {
    return LogBatch.decode(raw);
  } catch (err) {
    throw new PayloadError(`malformed log batch: ${(err as Error).message}`);
  }
}

/** The protobuf bytes inside a payload: gunzipped (bounded) and unsealed as its encoding says. */
export function unwrapPayload(encoding: PayloadEncoding, payload: Uint8Array, opts: OpenOptions): Buffer {
  const maxOutputLength = opts.maxBytes ?? 64 * 1024 * 1024;
  const gunzip = (b: Buffer): Buffer => {
    try {
      return gunzipSync(b, { maxOutputLength });
    } catch (err) {
      throw new PayloadError(`payload is not valid gzip: ${(err as Error).message}`);
    }
  };
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  switch (encoding) {
    case PayloadEncoding.PAYLOAD_ENCODING_RAW:
      return buf;
    case PayloadEncoding.PAYLOAD_ENCODING_GZIP:
      return gunzip(buf);
    case PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM:
      if (!opts.key) throw new PayloadError('payload is sealed but no key is configured for this agent');
      return gunzip(unseal(buf, opts.key, opts.aad));
    default:
      throw new PayloadError(`unknown payload encoding ${encoding}`);
  }
}

/**
 * The AES-256-GCM key an agent seals its reports with, derived from its token (HKDF-SHA256), so
 * no second secret has to be handed out; the server keeps the derived key, never the token.
 * Rotating the token rotates the key.
 */
export function derivePayloadKey(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), 'falconet/v1', 'report payload key', 32));
}

/** Binds a sealed payload to its agent and sequence: a payload moved to another report fails authentication. */
export function reportAad(agentId: string, seq: number): Buffer {
  return Buffer.from(`falconet/v1 report ${agentId} ${seq}`, 'utf8');
}
