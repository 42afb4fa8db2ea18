// npm run package [-- --key FILE] [--targets linux-x64,linux-arm64] [--out DIR] [--version X.Y.Z] [--no-deb]
// npm run package -- --gen-key DIR
// Single-file executables of falconet-agent and falconet-server (Node's single executable
// applications), a tarball and a .deb of each, SHA256SUMS and its Ed25519 signature. docs/install.md.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { inject } from 'postject';
import { RELEASE_KEY_ASSET } from '../../packages/agent/src/release/command.ts';
import { formatSums, SIGNATURE_FILE, SUMS_FILE, sha256File, signSums } from '../../packages/agent/src/release/verify.ts';
import { AGENT_NODE_FLAGS } from '../../packages/agent/src/runtime/node-flags.ts';
import { type BuildInfo, bundle } from './bundle.ts';
import { buildDeb, DebInputError, debVersion } from './deb.ts';
import { buildNative } from './native.ts';
import { nodeDist, TARGETS, type Target } from './node-binaries.ts';

const root = resolve(import.meta.dirname, '..', '..');
const started = Date.now();
const log = (line: string) => process.stderr.write(`package: ${line} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
const fail = (line: string): never => {
  process.stderr.write(`package: ${line}\n`);
  process.exit(1);
};

const { values } = parseArgs({
  options: {
    key: { type: 'string' },
    'gen-key': { type: 'string' },
    targets: { type: 'string' },
    out: { type: 'string' },
    version: { type: 'string' },
    'no-deb': { type: 'boolean' },
  },
});

if (values['gen-key']) {
  const dir = resolve(values['gen-key']);
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyFile = join(dir, 'falconet-release.key');
  if (existsSync(keyFile)) fail(`${keyFile} exists; remove it first or choose another directory`);
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'falconet-release.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  process.stdout.write(`wrote ${keyFile} (keep it secret) and ${join(dir, 'falconet-release.pub')}\n`);
  process.exit(0);
}

const targets = (values.targets ?? TARGETS.join(',')).split(',').map((t) => t.trim()) as Target[];
for (const t of targets) if (!TARGETS.includes(t)) fail(`--targets: unknown target "${t}" (known: ${TARGETS.join(', ')})`);
const out = resolve(values.out ?? join(root, 'dist', 'release'));
const keyFile = values.key ?? process.env.FALCONET_RELEASE_KEY_FILE;
let privateKeyPem: string | undefined;
let publicKeyPem: string | undefined;
if (keyFile) {
  try {
    privateKeyPem = readFileSync(keyFile, 'utf8');
    const key = createPrivateKey(privateKeyPem);
    if (key.asymmetricKeyType !== 'ed25519')
      fail(`${keyFile} is a ${key.asymmetricKeyType} key; the release key is Ed25519 (--gen-key DIR makes one)`);
    publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    fail(`--key ${keyFile}: ${(err as Error).message}`);
  }
}

// --version (or FALCONET_BUILD_VERSION) stamps another version than package.json's: for test builds
// of an older or newer release, and for release pipelines that number builds themselves.
const version =
  values.version ??
  process.env.FALCONET_BUILD_VERSION ??
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(version)) fail(`--version: "${version}" is not a version like 1.2.3 or 1.2.3-rc.1`);
// The .deb's version rules are narrower; refused here, before minutes of building.
if (!values['no-deb']) {
  try {
    debVersion(version);
  } catch (err) {
    if (!(err instanceof DebInputError)) throw err;
    fail(`--version: ${err.message} (or --no-deb)`);
  }
}
let commit = process.env.FALCONET_BUILD_COMMIT ?? 'unknown';
if (commit === 'unknown') {
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    if (execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'packages', 'scripts'], { encoding: 'utf8' }).trim())
      commit += '-dirty';
  } catch {
    // not a git checkout
  }
}
const epoch = process.env.SOURCE_DATE_EPOCH;
const buildDate = (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString();

const webDir = join(root, 'packages', 'server', 'public');
if (!existsSync(join(webDir, 'index.html')))
  fail(`${relative(root, webDir)}/index.html is missing: run "npm run build -w @falconet/web" first`);

const work = join(out, '.work');
rmSync(out, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

function webFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? webFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

/** Writes the SEA preparation blob with the host's Node (the blob holds no machine code) and injects it into the target's node. */
async function executable(
  name: string,
  target: Target,
  script: string,
  assets: Record<string, string>,
  execArgv: readonly string[],
  hostNode: string,
): Promise<string> {
  const dir = join(work, `${name}-${target}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'main.js'), script);
  const config = {
    main: join(dir, 'main.js'),
    output: join(dir, 'sea.blob'),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    execArgv,
    assets,
  };
  writeFileSync(join(dir, 'sea.json'), JSON.stringify(config, null, 2));
  execFileSync(hostNode, ['--experimental-sea-config', join(dir, 'sea.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const file = join(out, `${name}-${version}-${target}`);
  copyFileSync(join(nodeDist(target, log), 'bin', 'node'), file);
  chmodSync(file, 0o755);
  await inject(file, 'NODE_SEA_BLOB', readFileSync(join(dir, 'sea.blob')), {
    sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  });
  return file;
}

const hostNode = join(nodeDist('linux-x64', log), 'bin', 'node');
const webAssets: Record<string, string> = {};
const web = webFiles(webDir);
for (const f of web) webAssets[`web/${f}`] = join(webDir, f);
writeFileSync(join(work, 'web-index.json'), JSON.stringify(web));
webAssets['web/index.json'] = join(work, 'web-index.json');
log('bundling the store worker');
const workerScript = await bundle('../../packages/server/src/store/embedded/worker.ts', undefined);
writeFileSync(join(work, 'store-worker.js'), workerScript);
log('bundling the probe worker');
writeFileSync(join(work, 'probe-worker.js'), await bundle('../../packages/agent/src/probes/worker.ts', undefined));
const keyAssets: Record<string, string> = {};
if (publicKeyPem) {
  writeFileSync(join(work, RELEASE_KEY_ASSET), publicKeyPem);
  keyAssets[RELEASE_KEY_ASSET] = join(work, RELEASE_KEY_ASSET);
}

const files: string[] = [];
for (const target of targets) {
  const nodeDir = nodeDist(target, log);
  log(`building the native helpers for ${target}`);
  const addon = buildNative(target, nodeDir, work);
  const info: BuildInfo = { version, commit, buildDate, target };
  log(`bundling and injecting falconet-agent and falconet-server for ${target}`);
  const [agentScript, serverScript] = await Promise.all([bundle('entry-agent.ts', info), bundle('entry-server.ts', info)]);
  files.push(
    ...(await Promise.all([
      executable(
        'falconet-agent',
        target,
        agentScript,
        { 'falconet_native.node': addon, 'probe-worker.js': join(work, 'probe-worker.js'), ...keyAssets },
        AGENT_NODE_FLAGS,
        hostNode,
      ),
      executable('falconet-server', target, serverScript, { 'store-worker.js': join(work, 'store-worker.js'), ...webAssets }, [], hostNode),
    ])),
  );
}

log('writing tarballs');
const sums: [string, string][] = [];
for (const file of files) {
  const base = file.slice(out.length + 1);
  const bin = base.startsWith('falconet-agent') ? 'falconet-agent' : 'falconet-server';
  const stage = join(work, 'tar', base);
  mkdirSync(stage, { recursive: true });
  copyFileSync(file, join(stage, bin));
  chmodSync(join(stage, bin), 0o755);
  const tarball = `${base}.tar.gz`;
  // Owner, group and times fixed, so the same input gives the same tarball.
  execFileSync('tar', [
    '-I',
    'gzip -n',
    '-cf',
    join(out, tarball),
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    `--mtime=${buildDate}`,
    '--sort=name',
    '-C',
    join(work, 'tar'),
    base,
  ]);
  sums.push([tarball, sha256File(join(out, tarball))], [base, sha256File(file)]);
}
if (!values['no-deb']) {
  log('writing .deb packages');
  for (const file of files) {
    const base = file.slice(out.length + 1);
    const name = base.startsWith('falconet-agent') ? 'falconet-agent' : 'falconet-server';
    const target = base.slice(`${name}-${version}-`.length) as Target;
    const deb = buildDeb({ name, binary: file, version, target, out, work: join(work, 'deb'), buildDate });
    sums.push([deb.slice(out.length + 1), sha256File(deb)]);
  }
}
sums.sort(([a], [b]) => (a < b ? -1 : 1));
const sumsText = formatSums(sums);
writeFileSync(join(out, SUMS_FILE), sumsText);
if (privateKeyPem) writeFileSync(join(out, SIGNATURE_FILE), signSums(Buffer.from(sumsText), privateKeyPem));
else log(`no --key (nor FALCONET_RELEASE_KEY_FILE): ${SUMS_FILE} is not signed, and the binaries carry no release public key`);
if (publicKeyPem) writeFileSync(join(out, 'falconet-release.pub'), publicKeyPem);
rmSync(work, { recursive: true, force: true });
for (const [name] of sums) log(`${name}  ${(statSync(join(out, name)).size / 1048576).toFixed(1)} MiB`);
log(`done in ${out}`);
