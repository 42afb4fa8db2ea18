import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalManifest, pb, type ReleaseManifest } from '@falconet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AGENT_CLI, runToEnd, tempDir } from '../../../testing/processes.ts';
import { updateSchema } from '../src/update/config.ts';
import { parseReleaseKey } from '../src/update/keys.ts';
import { judgeDownload, judgeOffer, type OfferContext } from '../src/update/offer.ts';
import { updateBlocked } from '../src/update/self.ts';
import { type StagedUpdate, type UpdateChannel, Updater } from '../src/update/updater.ts';

const S = pb.UpdateState;
const release = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
const raw64 = (k: KeyObject) => Buffer.from((k.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');

function manifest(over: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return {
    name: 'falconet-agent',
    version: '1.1.0',
    target: 'linux-x64',
    sha256: 'a'.repeat(64),
    size: 10,
    min_version: '0.0.0',
    created_ms: 1_700_000_000_000,
    ...over,
  };
}

function offer(m: ReleaseManifest, key = release.privateKey, rolloutId = 'r1'): pb.UpdateOffer {
  const bytes = canonicalManifest(m);
  return { rolloutId, manifest: bytes, manifestSignature: sign(null, bytes, key) };
}

const ctx: OfferContext = { version: '1.0.0', target: 'linux-x64', keys: [release.publicKey], blocked: '' };
const judge = (o: pb.UpdateOffer, c: Partial<OfferContext> = {}) => judgeOffer(o.manifest, o.manifestSignature, { ...ctx, ...c });

describe('update offers: every refusal, before anything is downloaded', () => {
  it('accepts a signed, newer release for this target', () => {
    expect(judge(offer(manifest())).kind).toBe('accept');
    // Either of two pinned keys will do (a key rotation).
    expect(judge(offer(manifest(), other.privateKey), { keys: [release.publicKey, other.publicKey] }).kind).toBe('accept');
  });

  it('refuses with no pinned key, and a manifest signed by another key', () => {
    expect(judge(offer(manifest()), { keys: [] })).toEqual({ kind: 'refuse', reason: 'no release key pinned (update.public_keys)' });
    expect(judge(offer(manifest(), other.privateKey))).toEqual({
      kind: 'refuse',
      reason: "the manifest's signature matches none of the pinned release keys",
    });
  });

  it('refuses a manifest changed after signing, even by one byte', () => {
    const o = offer(manifest());
    const changed = Buffer.from(o.manifest);
    changed[changed.indexOf('1.1.0')] = '9'.charCodeAt(0);
    expect(judgeOffer(changed, o.manifestSignature, ctx)).toMatchObject({ kind: 'refuse', reason: /matches none of the pinned/ });
    expect(judgeOffer(o.manifest, Buffer.alloc(0), ctx)).toMatchObject({ kind: 'refuse', reason: /matches none of the pinned/ });
  });

  it('refuses a signed manifest that is malformed, naming the field', () => {
    const bytes = Buffer.from('{"name":"falconet-agent","version":"1.1","target":"linux-x64"}');
    const v = judgeOffer(bytes, sign(null, bytes, release.privateKey), ctx);
    expect(v).toMatchObject({ kind: 'refuse', reason: /^the signed manifest is malformed: manifest: field "sha256"|version/ });
  });

  it('refuses a downgrade, ignores the running version, refuses below min_version and another target', () => {
    expect(judge(offer(manifest({ version: '0.9.0' })))).toMatchObject({ kind: 'refuse', reason: 'downgrade from 1.0.0 to 0.9.0 refused' });
    expect(judge(offer(manifest({ version: '1.0.0' })))).toMatchObject({ kind: 'ignore' });
    expect(judge(offer(manifest({ min_version: '1.0.1' })))).toMatchObject({
      kind: 'refuse',
      reason: 'version 1.1.0 needs at least 1.0.1 to update from; this agent runs 1.0.0',
    });
    expect(judge(offer(manifest({ target: 'linux-arm64' })))).toMatchObject({
      kind: 'refuse',
      reason: 'the release is built for linux-arm64, this agent runs linux-x64',
    });
  });

  it('refuses when this agent cannot update, saying why', () => {
    expect(judge(offer(manifest()), { blocked: 'run from Node.js, not a single-file build', target: '' })).toMatchObject({
      kind: 'refuse',
      reason: 'this agent cannot update itself: run from Node.js, not a single-file build',
    });
  });

  it('judges the downloaded bytes against the manifest', () => {
    const m = manifest({ sha256: 'b'.repeat(64) });
    expect(judgeDownload(10, 'b'.repeat(64), m)).toBe('');
    expect(judgeDownload(10, 'c'.repeat(64), m)).toBe(
      `sha256 of the downloaded binary is ${'c'.repeat(64)}, the signed manifest says ${'b'.repeat(64)}`,
    );
    expect(judgeDownload(9, 'b'.repeat(64), m)).toBe('the downloaded binary is 9 bytes, the signed manifest says 10');
  });
});

describe('update.public_keys', { timeout: 60_000 }, () => {
  it('takes PEM and base64 raw keys', () => {
    expect(parseReleaseKey(pem(release.publicKey)).asymmetricKeyType).toBe('ed25519');
    expect(parseReleaseKey(raw64(release.publicKey)).export({ format: 'jwk' })).toEqual(release.publicKey.export({ format: 'jwk' }));
  });

  it('names the bad key: not a key, the wrong kind, a third one', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const r = updateSchema.safeParse({ public_keys: [raw64(release.publicKey), 'aGVsbG8='] });
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['public_keys.1', 'key 2: base64 of 5 bytes; an Ed25519 public key is 32'],
    ]);
    const r2 = updateSchema.safeParse({ public_keys: [pem(rsa)] });
    expect(r2.error?.issues[0]?.message).toBe('key 1: a PEM rsa key, not Ed25519');
    const r3 = updateSchema.safeParse({ public_keys: [raw64(release.publicKey), raw64(other.publicKey), raw64(release.publicKey)] });
    expect(r3.error?.issues[0]?.path).toEqual(['public_keys', 2]);
    expect(r3.error?.issues[0]?.message).toMatch(/^at most 2 release keys can be pinned .*remove key 3/);
  });

  it('check-config says which key and where', async () => {
    const file = join(tempDir(), 'falconet-agent.yaml');
    writeFileSync(file, `update:\n  public_keys:\n    - ${raw64(release.publicKey)}\n    - "not a key!"\n`);
    const { code, out } = await runToEnd(AGENT_CLI, ['check-config', '--config', file, '--data-dir', tempDir()]);
    expect(code).toBe(2);
    expect(out.join('\n')).toMatch(new RegExp(`${file}:4:\\d+: update\\.public_keys\\.1: key 2: neither a PEM public key nor base64`));
  });

  it('update_blocked says why an agent cannot update', () => {
    const dir = tempDir();
    const binary = join(dir, 'falconet-agent');
    const keys = { public_keys: [raw64(release.publicKey)] };
    const self = { version: '1.0.0', target: 'linux-x64', binary };
    expect(updateBlocked(updateSchema.parse(keys), { ...self, binary: '' }, {})).toBe('run from Node.js, not a single-file build');
    expect(updateBlocked(updateSchema.parse({}), self, {})).toBe('no release key pinned (update.public_keys)');
    expect(updateBlocked(updateSchema.parse({ ...keys, enabled: false }), self, {})).toBe('disabled (update.enabled: false)');
    expect(updateBlocked(updateSchema.parse(keys), self, { FALCONET_UPDATE_TRIAL: '/x' })).toBe('on trial as a new version');
    expect(updateBlocked(updateSchema.parse(keys), self, {})).toBe('');
    if (process.getuid?.() !== 0) {
      chmodSync(dir, 0o555);
      expect(updateBlocked(updateSchema.parse(keys), self, {})).toMatch(/is not writable by this agent/);
      chmodSync(dir, 0o755);
    }
  });
});

/** A server's half of the stream in memory: answers UpdateFetch from `served`, records what the agent sends. */
function fakeChannel(served: Buffer, updater: () => Updater) {
  const sent: NonNullable<pb.AgentMessage['body']>[] = [];
  const channel: UpdateChannel = {
    lastSentSeq: 0,
    sendUpdate(body) {
      sent.push(body);
      if (body.$case === 'updateFetch') {
        const { rolloutId, offset, length } = body.value;
        setImmediate(() => updater().onChunk({ rolloutId, offset, data: served.subarray(offset, offset + length), error: '' }));
      }
      return true;
    },
  };
  return { channel, sent, states: () => sent.flatMap((b) => (b.$case === 'updateStatus' ? [b.value] : [])) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 3000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe('Updater: download by chunks over the stream, check, stage', { timeout: 60_000 }, () => {
  const binary = Buffer.concat([Buffer.from('#!/bin/sh\necho new\n'), Buffer.alloc(2 * 1024 * 1024 + 17, 7)]);
  const sha = createHash('sha256').update(binary).digest('hex');

  function setup(served: Buffer, m = manifest({ sha256: sha, size: binary.length })) {
    const dir = tempDir();
    mkdirSync(join(dir, 'bin'));
    const self = { version: '1.0.0', target: 'linux-x64', binary: join(dir, 'bin', 'falconet-agent') };
    writeFileSync(self.binary, 'old');
    const staged: StagedUpdate[] = [];
    let updater: Updater | undefined;
    const ch = fakeChannel(served, () => updater as Updater);
    updater = new Updater({
      config: updateSchema.parse({ public_keys: [pem(release.publicKey)] }),
      dataDir: join(dir, 'data'),
      log: pino({ level: 'silent' }),
      self,
      env: {},
      onStaged: (u) => staged.push(u),
    });
    updater.attach(ch.channel);
    return { dir, self, staged, updater, ...ch, m };
  }

  it('fetches in chunks of at most 1 MiB, writes falconet-agent.next 0755, says DOWNLOADING then VERIFIED', async () => {
    const t = setup(binary);
    t.updater.onOffer(offer(t.m));
    await until(() => t.staged.length === 1);
    const next = join(t.dir, 'bin', 'falconet-agent.next');
    expect(t.staged[0]).toMatchObject({ rolloutId: 'r1', fromVersion: '1.0.0', toVersion: '1.1.0', current: t.self.binary, next });
    expect(readFileSync(next).equals(binary)).toBe(true);
    expect(statSync(next).mode & 0o777).toBe(0o755);
    const fetches = t.sent.flatMap((b) => (b.$case === 'updateFetch' ? [b.value] : []));
    expect(fetches.map((f) => [f.offset, f.length])).toEqual([
      [0, 1048576],
      [1048576, 1048576],
      [2097152, binary.length - 2097152],
    ]);
    expect(t.states().map((s) => s.state)).toEqual([S.UPDATE_STATE_DOWNLOADING, S.UPDATE_STATE_VERIFIED]);
  });

  it('refuses a tampered binary with both hashes, and leaves no .next behind', async () => {
    const tampered = Buffer.from(binary);
    tampered.writeUInt8(tampered.readUInt8(100) ^ 1, 100);
    const t = setup(tampered);
    t.updater.onOffer(offer(t.m));
    await until(() => t.states().length === 2);
    const bad = createHash('sha256').update(tampered).digest('hex');
    expect(t.states()[1]).toMatchObject({
      state: S.UPDATE_STATE_REFUSED,
      toVersion: '1.1.0',
      reason: `sha256 of the downloaded binary is ${bad}, the signed manifest says ${sha}`,
    });
    expect(existsSync(join(t.dir, 'bin', 'falconet-agent.next'))).toBe(false);
    expect(t.staged).toEqual([]);
  });

  it('refuses another key and a downgrade as statuses with the reason', async () => {
    const t = setup(binary);
    t.updater.onOffer(offer(t.m, other.privateKey, 'r-other'));
    await until(() => t.states().length === 1);
    t.updater.onOffer(offer(manifest({ version: '0.5.0' }), release.privateKey, 'r-down'));
    await until(() => t.states().length === 2);
    expect(t.states().map((s) => [s.rolloutId, s.state, s.reason])).toEqual([
      ['r-other', S.UPDATE_STATE_REFUSED, "the manifest's signature matches none of the pinned release keys"],
      ['r-down', S.UPDATE_STATE_REFUSED, 'downgrade from 1.0.0 to 0.5.0 refused'],
    ]);
  });

  it('a chunk the server cannot send ends the update as FAILED, nothing changed', async () => {
    const t = setup(binary);
    t.channel.sendUpdate = (body) => {
      t.sent.push(body);
      if (body.$case === 'updateFetch') {
        const { rolloutId, offset } = body.value;
        setImmediate(() => t.updater.onChunk({ rolloutId, offset, data: Buffer.alloc(0), error: 'release file missing' }));
      }
      return true;
    };
    t.updater.onOffer(offer(t.m));
    await until(() => t.states().length === 2);
    expect(t.states()[1]).toMatchObject({
      state: S.UPDATE_STATE_FAILED,
      reason: 'the server could not send the binary at offset 0: release file missing; nothing was changed',
    });
    expect(existsSync(join(t.dir, 'bin', 'falconet-agent.next'))).toBe(false);
  });
});
