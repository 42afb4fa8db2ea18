import { type FlagSpec, UsageError } from '@falconet/protocol/cli';
import type { ServerConfig } from '../config.ts';
import { ReleaseError, ReleaseStore } from './store.ts';

/** Flags of `release ...`, on top of the server's (which give --data-dir and --config). */
export const RELEASE_FLAGS: FlagSpec[] = [
  { name: 'version', type: 'string', help: 'release add: the version (default: from the file name falconet-agent-<version>-<target>)' },
  { name: 'target', type: 'string', help: 'release add/remove: linux-x64 or linux-arm64 (add: default from the file name)' },
  { name: 'min-version', type: 'string', help: 'release add: the lowest agent version that may install it (default 0.0.0)' },
  { name: 'sums', type: 'string', help: 'release add: a SHA256SUMS from npm run package to check the file against' },
  { name: 'sums-sig', type: 'string', help: 'release add: the SHA256SUMS.sig beside --sums' },
  { name: 'public-key', type: 'string', help: 'release add: the PEM public key --sums-sig must verify with' },
  { name: 'force', type: 'boolean', help: 'release add: replace a version and target already stored' },
];

export const RELEASE_USAGE = `  release key                      print the release key's public half (PEM), for agents' update.public_keys
  release add FILE [flags]         store an agent binary and sign its manifest
  release list                     the stored releases
  release remove VERSION [--target T]  delete a stored release`;

const SUBCOMMANDS = ['key', 'add', 'list', 'remove'];

/** `falconet-server release SUB ...`: the release store on this server's data directory (docs/update.md). */
export function releaseCommand(positionals: string[], values: Map<string, string | boolean>, config: ServerConfig): number {
  const [sub, ...rest] = positionals;
  if (!sub) throw new UsageError(`release needs a subcommand: ${SUBCOMMANDS.join(', ')}`);
  if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown release subcommand "${sub}" (subcommands: ${SUBCOMMANDS.join(', ')})`);
  const allowed: Record<string, string[]> = {
    key: [],
    list: [],
    add: ['version', 'target', 'min-version', 'sums', 'sums-sig', 'public-key', 'force'],
    remove: ['target'],
  };
  for (const f of RELEASE_FLAGS) {
    if (values.has(f.name) && !allowed[sub]?.includes(f.name)) throw new UsageError(`flag --${f.name} does not apply to release ${sub}`);
  }
  const str = (name: string): string | undefined => {
    const v = values.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const store = new ReleaseStore(config.data_dir);
  const out = (s: string) => process.stdout.write(s);
  try {
    if (sub === 'key') {
      if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
      out(store.publicKeyPem());
      return 0;
    }
    if (sub === 'list') {
      if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
      const all = store.list();
      if (all.length === 0) {
        out(`no releases stored in ${store.root}\n`);
        return 0;
      }
      out(`${'VERSION'.padEnd(16)}${'TARGET'.padEnd(13)}${'SIZE'.padStart(12)}  ${'MIN'.padEnd(10)}SHA256\n`);
      for (const r of all) {
        const m = r.manifest;
        out(`${m.version.padEnd(16)}${m.target.padEnd(13)}${String(m.size).padStart(12)}  ${m.min_version.padEnd(10)}${m.sha256}\n`);
      }
      return 0;
    }
    if (sub === 'remove') {
      if (rest.length !== 1) throw new UsageError('release remove needs one VERSION (and optionally --target)');
      const removed = store.remove(rest[0] as string, str('target'));
      out(`removed release ${rest[0]} for ${removed.join(', ')}\n`);
      return 0;
    }
    if (rest.length !== 1) throw new UsageError('release add needs one FILE (an agent binary from npm run package)');
    const sums = str('sums');
    const sig = str('sums-sig');
    const pub = str('public-key');
    const given = [sums, sig, pub].filter((v) => v !== undefined).length;
    if (given !== 0 && given !== 3) throw new UsageError('--sums, --sums-sig and --public-key go together: give all three or none');
    const r = store.add({
      file: rest[0] as string,
      version: str('version'),
      target: str('target'),
      minVersion: str('min-version'),
      force: values.get('force') === true,
      sums: sums && sig && pub ? { sums, sig, publicKey: pub } : undefined,
    });
    out(`${r.manifestBytes.toString('utf8')}\n`);
    process.stderr.write(`stored ${r.path}, manifest signed with ${store.dataDir}/release-signing-key.pem\n`);
    return 0;
  } catch (err) {
    if (err instanceof ReleaseError) throw new UsageError(err.message);
    throw err;
  }
}
