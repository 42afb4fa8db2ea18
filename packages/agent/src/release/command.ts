import { readFileSync } from 'node:fs';
import { getAsset, isSea } from 'node:sea';
import { type FlagSpec, parseArgs, UsageError } from '@falconet/protocol/cli';
import { BIN } from '../runtime/commands.ts';
import { verifyReleaseFile } from './verify.ts';

/** The SEA asset holding the release public key a single-file build was signed for (npm run package --key). */
export const RELEASE_KEY_ASSET = 'release-public-key.pem';

export const VERIFY_USAGE = `usage: ${BIN} verify FILE [--public-key PEM]

Checks a release tarball or binary against the SHA256SUMS and SHA256SUMS.sig beside it.
--public-key   the release's Ed25519 public key (default: the one this binary was built with)
`;

function builtInKey(): string | undefined {
  if (!isSea()) return undefined;
  try {
    return getAsset(RELEASE_KEY_ASSET, 'utf8');
  } catch {
    return undefined;
  }
}

export const VERIFY_FLAGS: FlagSpec[] = [
  { name: 'public-key', type: 'string', help: 'PEM public key' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** `falconet-agent verify FILE [--public-key PEM]` (argv from `verify` on): 0 when FILE checks out, 1 when it does not, one sentence either way. */
export function verifyCommand(argv: readonly string[]): number {
  const { values, positionals } = parseArgs(argv, VERIFY_FLAGS);
  if (values.get('help')) {
    process.stdout.write(VERIFY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`verify takes one FILE (a tarball or binary), got ${positionals.length}`);
  const keyFile = values.get('public-key') as string | undefined;
  let pem: string;
  let where: string;
  if (keyFile) {
    try {
      pem = readFileSync(keyFile, 'utf8');
    } catch (err) {
      throw new UsageError(`--public-key ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    where = `the key in ${keyFile}`;
  } else {
    const built = builtInKey();
    if (!built) throw new UsageError('this build carries no release public key; give one with --public-key FILE');
    pem = built;
    where = "this binary's release key";
  }
  const result = verifyReleaseFile(positionals[0] as string, pem, where);
  if (result.ok) process.stdout.write(`${result.message}\n`);
  else process.stderr.write(`${BIN}: ${result.message}\n`);
  return result.ok ? 0 : 1;
}
