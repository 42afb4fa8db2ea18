/**
 * `falconet-server release ...` as a user runs it: the release key, adding agent binaries (checked
 * for their ELF machine and, when given, against a signed SHA256SUMS), listing and removing them;
 * every bad input answered with one line that names it, exit 2.
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalManifest, parseManifest } from '@falconet/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { runServer, tempDir } from '../../../testing/processes.ts';

const BIN = 'falconet-server';

describe('falconet-server release', { timeout: 240_000 }, () => {
  const work = tempDir('falconet-release-cli-');
  const data = join(work, 'data');
  const x64 = join(work, 'falconet-agent-1.2.3-linux-x64');
  const arm = join(work, 'falconet-agent-1.2.3-linux-arm64');
  const release = (...args: string[]) => runServer(['release', ...args, '--data-dir', data]);
  let pub = '';

  beforeAll(() => {
    copyFileSync('/bin/true', x64);
    // The same file with an aarch64 machine in its ELF header.
    const b = readFileSync('/bin/true');
    b.writeUInt16LE(183, 18);
    writeFileSync(arm, b);
  });

  it('release key: makes the key once (0600) and prints its public half', async () => {
    const first = await release('key');
    expect(first.code).toBe(0);
    expect(first.out[0]).toBe('-----BEGIN PUBLIC KEY-----');
    pub = `${first.out.join('\n')}\n`;
    expect(statSync(join(data, 'release-signing-key.pem')).mode & 0o777).toBe(0o600);
    expect((await release('key')).out).toEqual(first.out);
  });

  it('release add: from the file name, prints the signed manifest, writes the store layout', async () => {
    const r = await release('add', x64);
    expect(r.code).toBe(0);
    const bytes = readFileSync(x64);
    const manifest = parseManifest(Buffer.from(r.out[0] as string));
    expect(manifest).toMatchObject({
      name: 'falconet-agent',
      version: '1.2.3',
      target: 'linux-x64',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      min_version: '0.0.0',
    });
    const dir = join(data, 'releases', '1.2.3', 'linux-x64');
    expect(readFileSync(join(dir, 'falconet-agent')).equals(bytes)).toBe(true);
    expect(readFileSync(join(dir, 'manifest.json')).equals(canonicalManifest(manifest))).toBe(true);
    const sig = Buffer.from(readFileSync(join(dir, 'manifest.sig'), 'utf8').trim(), 'base64');
    expect(verify(null, readFileSync(join(dir, 'manifest.json')), pub, sig)).toBe(true);
    for (const f of ['falconet-agent', 'manifest.json', 'manifest.sig']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o644);

    const arm64 = await release('add', arm, '--min-version', '1.0.0');
    expect(arm64.code).toBe(0);
    expect(parseManifest(Buffer.from(arm64.out[0] as string))).toMatchObject({ target: 'linux-arm64', min_version: '1.0.0' });
    const renamed = join(work, 'agent-build');
    copyFileSync(x64, renamed);
    expect((await release('add', renamed, '--version', '1.3.0-rc.1', '--target', 'linux-x64')).code).toBe(0);
  });

  it('release list and remove', async () => {
    const list = await release('list');
    expect(list.code).toBe(0);
    expect(list.out.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'VERSION TARGET',
      '1.3.0-rc.1 linux-x64',
      '1.2.3 linux-arm64',
      '1.2.3 linux-x64',
    ]);
    expect(await release('remove', '1.3.0-rc.1')).toEqual({ code: 0, out: ['removed release 1.3.0-rc.1 for linux-x64'] });
    expect((await release('list')).out).toHaveLength(3);
  });

  it('release add --sums: checks the file against a SHA256SUMS signed by the given key', async () => {
    const keys = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const pem = join(work, 'release.pub');
    const otherPem = join(work, 'other.pub');
    writeFileSync(pem, keys.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(otherPem, other.publicKey.export({ type: 'spki', format: 'pem' }));
    const bytes = readFileSync(x64);
    const writeSums = (name: string, text: string, key = keys.privateKey) => {
      const sums = join(work, `${name}.SHA256SUMS`);
      writeFileSync(sums, text);
      writeFileSync(`${sums}.sig`, `${sign(null, Buffer.from(text), key).toString('base64')}\n`);
      return sums;
    };
    const good = writeSums('good', `${createHash('sha256').update(bytes).digest('hex')}  falconet-agent-2.0.0-linux-x64\n`);
    const file = join(work, 'falconet-agent-2.0.0-linux-x64');
    copyFileSync(x64, file);
    const sums = (s: string, key = pem) => ['--sums', s, '--sums-sig', `${s}.sig`, '--public-key', key];
    expect((await release('add', file, ...sums(good))).code).toBe(0);

    const changed = writeSums('changed', `${'0'.repeat(64)}  falconet-agent-2.0.0-linux-x64\n`);
    expect(await release('add', file, '--force', ...sums(changed))).toEqual({
      code: 2,
      out: [
        `${BIN}: ${file}: its SHA-256 is ${createHash('sha256').update(bytes).digest('hex')}, but the signed ${changed} lists ${'0'.repeat(64)} for falconet-agent-2.0.0-linux-x64`,
      ],
    });
    const unlisted = writeSums('unlisted', `${'1'.repeat(64)}  something-else\n`);
    expect((await release('add', file, '--force', ...sums(unlisted))).out).toEqual([
      `${BIN}: ${file}: not listed in the signed ${unlisted}, and its content matches no file there`,
    ]);
    expect((await release('add', file, '--force', ...sums(good, otherPem))).out).toEqual([
      `${BIN}: --sums-sig ${good}.sig: the signature of ${good} does not match --public-key ${otherPem}`,
    ]);
    const garbled = writeSums('garbled', 'not a sums line\n');
    expect((await release('add', file, '--force', ...sums(garbled))).out).toEqual([
      `${BIN}: --sums ${garbled}:1: not a "SHA256  NAME" line`,
    ]);
    expect((await release('add', file, '--force', '--sums', good)).out).toEqual([
      `${BIN}: --sums, --sums-sig and --public-key go together: give all three or none`,
    ]);
    expect((await release('add', file, '--force', ...sums(good, join(work, 'missing.pub')))).out).toEqual([
      `${BIN}: --public-key ${join(work, 'missing.pub')}: cannot read (ENOENT)`,
    ]);
    expect((await release('add', file, '--force', ...sums(good, good))).out[0]).toMatch(
      new RegExp(`^${BIN}: --public-key ${good}: not a PEM public key`),
    );
  });

  it('every bad input: one line naming it, exit 2, nothing stored', async () => {
    const text = join(work, 'falconet-agent-3.0.0-linux-x64');
    writeFileSync(text, '#!/bin/sh\necho not a binary\n');
    const elf32 = join(work, 'falconet-agent-3.0.1-linux-x64');
    const b = readFileSync(x64);
    b[4] = 1;
    writeFileSync(elf32, b);
    const cases: [string[], string][] = [
      [['add', join(work, 'nope')], `${join(work, 'nope')}: cannot read (ENOENT)`],
      [['add', work], `${work}: not a regular file`],
      [['add', text], `${text}: not an ELF executable (no ELF header)`],
      [['add', elf32], `${elf32}: a 32-bit ELF file; the agent binaries are 64-bit`],
      [
        ['add', x64, '--target', 'linux-arm64', '--version', '9.0.0'],
        `${x64}: an ELF binary for x86-64, but target linux-arm64 needs aarch64`,
      ],
      [['add', arm, '--target', 'linux-x64', '--version', '9.0.0'], `${arm}: an ELF binary for aarch64, but target linux-x64 needs x86-64`],
      [
        ['add', x64],
        `release 1.2.3 for linux-x64 is already stored (in ${join(data, 'releases', '1.2.3', 'linux-x64')}); add --force to replace it`,
      ],
      [['add', x64, '--version', '1.2'], 'version "1.2" is not a version (MAJOR.MINOR.PATCH, e.g. 1.2.3)'],
      [['add', x64, '--target', 'windows-x64'], 'target "windows-x64" is not one of linux-x64, linux-arm64'],
      [['add', x64, '--version', '2.0.0', '--min-version', '3.0.0'], "--min-version 3.0.0 is above the release's own version 2.0.0"],
      [['add', x64, '--version', '2.0.0', '--min-version', 'x'], '--min-version "x" is not a version (MAJOR.MINOR.PATCH)'],
      [
        ['add', join(work, 'agent-build')],
        `${join(work, 'agent-build')}: give --version (the file name is not falconet-agent-<version>-<target>)`,
      ],
      [
        ['add', join(work, 'agent-build'), '--version', '4.0.0'],
        `${join(work, 'agent-build')}: give --target (the file name is not falconet-agent-<version>-<target>)`,
      ],
      [['add'], 'release add needs one FILE (an agent binary from npm run package)'],
      [['add', x64, x64], 'release add needs one FILE (an agent binary from npm run package)'],
      [['remove', '7.7.7'], 'release 7.7.7 is not stored (release list shows what is)'],
      [['remove', '1.2.3', '--target', 'mips'], 'target "mips" is not one of linux-x64, linux-arm64'],
      [['remove', 'latest'], 'version "latest" is not a version (MAJOR.MINOR.PATCH)'],
      [['remove'], 'release remove needs one VERSION (and optionally --target)'],
      [['list', '--force'], 'flag --force does not apply to release list'],
      [['key', 'extra'], 'unexpected argument "extra"'],
      [['publish'], 'unknown release subcommand "publish" (subcommands: key, add, list, remove)'],
      [[], 'release needs a subcommand: key, add, list, remove'],
    ];
    // Four at a time: each is a process that loads the whole server, seconds apiece on a loaded machine.
    const answers: Awaited<ReturnType<typeof release>>[] = [];
    for (let i = 0; i < cases.length; i += 4) {
      answers.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => release(...args)))));
    }
    cases.forEach(([args, message], i) => {
      expect(answers[i], args.join(' ')).toEqual({ code: 2, out: [`${BIN}: ${message}`] });
    });
    expect((await release('list')).out).toHaveLength(4);
  });
});
