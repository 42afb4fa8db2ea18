// Debian packages of the single-file executables: falconet-agent_VERSION_ARCH.deb and
// falconet-server_VERSION_ARCH.deb, built with dpkg-deb from the unit in deploy/systemd/ and the
// templates in deploy/deb/. npm run package calls buildDeb after the executables; run alone it
// repackages one executable:
//   node scripts/package/deb.ts --name falconet-agent --binary FILE --version X.Y.Z --target linux-x64 --out DIR
// docs/install.md.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TARGETS, type Target } from './node-binaries.ts';

const root = resolve(import.meta.dirname, '..', '..');
const templates = join(root, 'deploy', 'deb');
const units = join(root, 'deploy', 'systemd');

export const DEB_NAMES = ['falconet-agent', 'falconet-server'] as const;
export type DebName = (typeof DEB_NAMES)[number];

const ARCH: Record<Target, string> = { 'linux-x64': 'amd64', 'linux-arm64': 'arm64' };

const DESCRIPTION: Record<DebName, string> = {
  'falconet-agent': `Falconet agent: host and container metrics
 A light monitoring agent: collects this host's and its containers' metrics,
 serves them on a node_exporter-compatible /metrics endpoint (127.0.0.1:9101)
 and reports them to a Falconet server over gRPC, spooling on disk while the
 server is away. One self-contained executable (Node.js inside), run by a
 hardened systemd unit as the unprivileged user falconet.`,
  'falconet-server': `Falconet server: stores metrics, dashboard, API and alerts
 The server side of Falconet: receives agents' reports over gRPC, Open-Falcon
 pushes and TCP JSON lines, stores them in an embedded time-series store (or
 PostgreSQL), serves the dashboard, a REST and WebSocket API and evaluates alert
 rules. One self-contained executable (Node.js and the dashboard inside), run
 by a hardened systemd unit as the unprivileged user falconet.`,
};

export class DebInputError extends Error {}

/** ELF e_machine of each target: a package must not carry another architecture's executable. */
const ELF_MACHINE: Record<Target, number> = { 'linux-x64': 62, 'linux-arm64': 183 };

function elfMachine(file: string): number | undefined {
  const head = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, head, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  // 64-bit little-endian ELF only: both targets are.
  if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
  return head.readUInt16LE(18);
}

/**
 * The Debian version of a Falconet version. A semver pre-release sorts before its release, as
 * Debian's "~" does: 1.2.3-rc.1 becomes 1.2.3~rc.1 (a "-" would be read as a Debian revision).
 */
export function debVersion(version: string): string {
  const m = /^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+))?$/.exec(version);
  if (!m)
    throw new DebInputError(
      `.deb version "${version}" is not a release version: write MAJOR.MINOR.PATCH, optionally with a pre-release of letters, digits and dots (1.2.3, 1.2.3-rc.1)`,
    );
  return m[2] ? `${m[1]}~${m[2]}` : (m[1] as string);
}

// What the executable asks of the C and C++ runtimes: the symbol versions it (and the agent's
// native helpers, carried inside it as an asset) link against appear in it as plain strings.
const LIBSTDCXX_GCC: Record<number, string> = {
  21: '5',
  22: '6',
  23: '7',
  24: '7.2',
  25: '8',
  26: '9',
  28: '10',
  29: '11',
  30: '12',
  31: '13',
  32: '14',
};

function compareDotted(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

function highest(text: string, pattern: RegExp): string | undefined {
  let best: string | undefined;
  for (const m of text.matchAll(pattern)) if (!best || compareDotted(m[1] as string, best) > 0) best = m[1];
  return best;
}

/** The Depends line for an executable: libc6, libgcc-s1 and libstdc++6 at the versions its symbols need, and passwd for the maintainer scripts. */
export function runtimeDepends(binary: string): string {
  const text = readFileSync(binary).toString('latin1');
  const glibc = highest(text, /GLIBC_(\d+\.\d+(?:\.\d+)?)\0/g);
  const cxx = highest(text, /GLIBCXX_3\.4\.(\d+)\0/g);
  const gcc = highest(text, /GCC_(\d+\.\d+(?:\.\d+)?)\0/g);
  if (!glibc) throw new DebInputError(`${binary} names no GLIBC_ symbol version: is it a dynamically linked Linux executable?`);
  const depends = [`libc6 (>= ${glibc})`];
  if (gcc) depends.push(`libgcc-s1 (>= ${gcc})`);
  if (cxx) {
    const gccVersion = LIBSTDCXX_GCC[Number(cxx)] ?? (Number(cxx) < 21 ? '5' : undefined);
    if (!gccVersion)
      throw new DebInputError(
        `${binary} needs GLIBCXX_3.4.${cxx}, which scripts/package/deb.ts cannot map to a libstdc++6 version: add it to LIBSTDCXX_GCC`,
      );
    depends.push(`libstdc++6 (>= ${gccVersion})`);
  }
  depends.push('passwd');
  return depends.join(', ');
}

export interface DebInput {
  name: DebName;
  /** The single-file executable to package. */
  binary: string;
  /** The Falconet version (semver); the package's version is debVersion() of it. */
  version: string;
  target: Target;
  /** Where the .deb is written. */
  out: string;
  /** A scratch directory, removed after. */
  work: string;
  /** Every file's modification time, so the same input gives the same package. */
  buildDate: string;
  maintainer?: string;
}

function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/@([A-Z]+)@/g, (whole, key: string) => vars[key] ?? whole);
}

/** Files under dir, depth first, with their kind: what Installed-Size, md5sums and mtimes walk over. */
function walk(dir: string, prefix = ''): { path: string; dir: boolean }[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => {
      const path = `${prefix}${e.name}`;
      return e.isDirectory() ? [{ path, dir: true }, ...walk(join(dir, e.name), `${path}/`)] : [{ path, dir: false }];
    });
}

/** Builds one .deb and returns its path. Throws DebInputError on input it refuses. */
export function buildDeb(input: DebInput): string {
  if (!DEB_NAMES.includes(input.name)) throw new DebInputError(`.deb name "${input.name}" is not one of ${DEB_NAMES.join(', ')}`);
  if (!TARGETS.includes(input.target)) throw new DebInputError(`.deb target "${input.target}" is not one of ${TARGETS.join(', ')}`);
  const version = debVersion(input.version);
  if (!existsSync(input.binary) || !lstatSync(input.binary).isFile())
    throw new DebInputError(`${input.binary}: no such executable to package as ${input.name}`);
  const machine = elfMachine(input.binary);
  if (machine !== ELF_MACHINE[input.target])
    throw new DebInputError(
      `${input.binary} is ${machine === undefined ? 'not an ELF executable' : `an ELF executable for machine ${machine}`}, not one for ${input.target} (machine ${ELF_MACHINE[input.target]})`,
    );
  const maintainer = input.maintainer ?? process.env.FALCONET_DEB_MAINTAINER ?? 'Falconet maintainers <maintainers@falconet.invalid>';
  if (!/^[^<>\n]+ <[^<>\s]+@[^<>\s]+>$/.test(maintainer))
    throw new DebInputError(`.deb maintainer "${maintainer}" is not "Name <address>" (FALCONET_DEB_MAINTAINER)`);
  const role = input.name === 'falconet-agent' ? 'agent' : 'server';
  const arch = ARCH[input.target];
  const vars = {
    PACKAGE: input.name,
    ROLE: role,
    OTHER: input.name === 'falconet-agent' ? 'falconet-server' : 'falconet-agent',
    VERSION: version,
  };

  const stage = join(input.work, `${input.name}_${arch}`);
  rmSync(stage, { recursive: true, force: true });
  const put = (path: string, text: string | Buffer, mode: number) => {
    const file = join(stage, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    chmodSync(file, mode);
  };
  mkdirSync(join(stage, 'usr', 'bin'), { recursive: true });
  copyFileSync(input.binary, join(stage, 'usr', 'bin', input.name));
  chmodSync(join(stage, 'usr', 'bin', input.name), 0o755);
  put(`lib/systemd/system/${input.name}.service`, readFileSync(join(units, `${input.name}.service`)), 0o644);
  // 0640: the file may come to hold a token; postinst gives it to the group falconet.
  put(`etc/falconet/${input.name}.yaml`, readFileSync(join(templates, `${input.name}.yaml`)), 0o640);
  put(`usr/share/doc/${input.name}/README`, fill(readFileSync(join(templates, `${input.name}.README`), 'utf8'), vars), 0o644);
  put(`usr/share/doc/${input.name}/copyright`, fill(readFileSync(join(templates, 'copyright'), 'utf8'), vars), 0o644);

  const payload = walk(stage);
  // Installed-Size in KiB as dpkg-gencontrol counts it: each file rounded up, one per directory.
  const kib = payload.reduce((sum, f) => sum + (f.dir ? 1 : Math.ceil(lstatSync(join(stage, f.path)).size / 1024)), 0);
  const md5sums = payload
    .filter((f) => !f.dir)
    .map(
      (f) =>
        `${createHash('md5')
          .update(readFileSync(join(stage, f.path)))
          .digest('hex')}  ${f.path}\n`,
    )
    .join('');
  const control = [
    `Package: ${input.name}`,
    `Version: ${version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${kib}`,
    `Depends: ${runtimeDepends(input.binary)}`,
    'Section: admin',
    'Priority: optional',
    `Description: ${DESCRIPTION[input.name]}`,
    '',
  ].join('\n');
  put('DEBIAN/control', control, 0o644);
  put('DEBIAN/conffiles', `/etc/falconet/${input.name}.yaml\n`, 0o644);
  put('DEBIAN/md5sums', md5sums, 0o644);
  for (const script of ['postinst', 'prerm', 'postrm'])
    put(`DEBIAN/${script}`, fill(readFileSync(join(templates, script), 'utf8'), vars), 0o755);

  const when = new Date(input.buildDate);
  for (const f of [...walk(stage)].reverse()) utimesSync(join(stage, f.path), when, when);
  utimesSync(stage, when, when);
  mkdirSync(input.out, { recursive: true });
  const file = join(input.out, `${input.name}_${version}_${arch}.deb`);
  // gzip: a quarter of xz's time for an executable that is mostly compressed-poorly machine code,
  // and every dpkg reads it. SOURCE_DATE_EPOCH fixes the ar members' times.
  const epoch = String(Math.floor(when.getTime() / 1000));
  try {
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, file], {
      env: { ...process.env, SOURCE_DATE_EPOCH: epoch },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: Buffer; code?: string };
    if (e.code === 'ENOENT') throw new Error('dpkg-deb is missing: apt-get install dpkg (or pass --no-deb)');
    throw new Error(`dpkg-deb --build ${stage} failed: ${String(e.stderr ?? err).trim()}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return file;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      binary: { type: 'string' },
      version: { type: 'string' },
      target: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const missing = (['name', 'binary', 'version', 'target', 'out'] as const).filter((k) => values[k] === undefined);
  if (missing.length) {
    process.stderr.write(`deb: missing ${missing.map((k) => `--${k}`).join(', ')}\n`);
    process.exit(2);
  }
  const out = resolve(values.out as string);
  const work = join(out, `.deb-work-${process.pid}`);
  try {
    const file = buildDeb({
      name: values.name as DebName,
      binary: resolve(values.binary as string),
      version: values.version as string,
      target: values.target as Target,
      out,
      work,
      buildDate: process.env.SOURCE_DATE_EPOCH
        ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString()
        : new Date().toISOString(),
    });
    process.stdout.write(`${file}\n`);
  } catch (err) {
    process.stderr.write(`deb: ${(err as Error).message}\n`);
    process.exit(err instanceof DebInputError ? 2 : 1);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
