import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FALCONET_VERSION } from '@falconet/protocol';
import { didYouMean, type FlagSpec, formatFlagHelp, parseArgs, runMain, UsageError } from '@falconet/protocol/cli';
import { loadConfig, maskSecrets } from '@falconet/protocol/config';
import { createLogger } from '@falconet/protocol/log';
import { stringify } from 'yaml';
import { AGENT_TOKEN_FLAGS, createAgentTokenCommand } from './agents/cli.ts';
import { readRulesFile } from './alerts/catalog.ts';
import { FalconetServer } from './app.ts';
import { AUTH_FLAGS, AUTH_USAGE, createTokenCommand, createUserCommand } from './auth/cli.ts';
import { CLUSTER_USAGE, clusterCommand } from './cluster/cli.ts';
import { type ServerConfig, serverConfigSchema } from './config.ts';
import { metaDbOptions, migrateMetaDb, openMetaDb } from './db/index.ts';
import { restartWithTunedAllocator } from './malloc.ts';
import { RELEASE_FLAGS, RELEASE_USAGE, releaseCommand } from './releases/cli.ts';
import { openStore, storeEngine } from './store/index.ts';

const BIN = 'falconet-server';

/** Set at bundling by npm run package (scripts/package): version, commit, date and target of a single-file build. */
declare const FALCONET_BUILD_INFO: { version: string; commit: string; buildDate: string; target: string } | undefined;

function versionText(): string {
  let b = typeof FALCONET_BUILD_INFO === 'undefined' ? undefined : FALCONET_BUILD_INFO;
  if (!b) {
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['-C', dirname(fileURLToPath(import.meta.url)), 'rev-parse', '--short=12', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      // not a git checkout
    }
    b = { version: FALCONET_VERSION, commit, buildDate: 'none (running from Node.js)', target: `${process.platform}-${process.arch}` };
  }
  return `${BIN} ${b.version}\n  commit:     ${b.commit}\n  built:      ${b.buildDate}\n  node:       ${process.version}\n  platform:   ${process.platform}/${process.arch}\n  target:     ${b.target}\n`;
}

export const SERVER_FLAGS: FlagSpec[] = [
  { name: 'config', type: 'string', help: 'YAML configuration file (default ./falconet-server.yaml when present)' },
  { name: 'listen', type: 'string', path: ['listen'], help: 'HTTP address for the dashboard, REST and WebSocket (default 127.0.0.1:7070)' },
  { name: 'grpc-listen', type: 'string', path: ['grpc_listen'], help: 'gRPC address for agents (default 127.0.0.1:7071)' },
  {
    name: 'grpc-allow-plaintext',
    type: 'boolean',
    path: ['grpc_tls', 'allow_plaintext'],
    help: 'allow grpc_tls.mode off on an address beyond loopback (agent tokens and tasks in plaintext)',
  },
  {
    name: 'transfer-listen',
    type: 'string',
    path: ['transfer_listen'],
    help: 'Open-Falcon TCP JSON-lines address, e.g. 127.0.0.1:6000 (default off)',
  },
  { name: 'data-dir', type: 'string', path: ['data_dir'], help: 'where the embedded store keeps its files (default ./data)' },
  { name: 'web-root', type: 'string', path: ['web_root'], help: 'directory of the built dashboard' },
  { name: 'tls-cert', type: 'string', path: ['http_tls', 'cert_file'], help: 'PEM certificate: serve HTTPS (with --tls-key)' },
  { name: 'tls-key', type: 'string', path: ['http_tls', 'key_file'], help: 'PEM private key for --tls-cert' },
  {
    name: 'alerts-rules',
    type: 'string',
    path: ['alerts', 'rules_file'],
    help: 'YAML file of alert rules, channels and maintenance windows',
  },
  { name: 'log.level', type: 'string', path: ['log', 'level'], help: 'trace|debug|info|warn|error' },
  { name: 'log.format', type: 'string', path: ['log', 'format'], help: 'json|pretty|auto' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const COMMANDS = ['run', 'migrate', 'check-config', 'version', 'create-user', 'create-token', 'release', 'cluster'];
/** Commands that take the auth flags as well as the server's. */
const AUTH_COMMANDS = ['create-user', 'create-token'];
/** create-token's flags: --api and --enroll (auth), --agent (per-agent tokens); --expires is shared. */
const TOKEN_FLAGS = [...AUTH_FLAGS, ...AGENT_TOKEN_FLAGS.filter((f) => !AUTH_FLAGS.some((a) => a.name === f.name))];

const USAGE = `usage: ${BIN} COMMAND [flags]

commands:
  run            run the server (default)
  migrate        create or upgrade the store's schema, then exit
  check-config   validate the configuration and print the effective one
  version        print version information
${AUTH_USAGE}
${RELEASE_USAGE}
${CLUSTER_USAGE}

flags:
${formatFlagHelp(SERVER_FLAGS)}

create-user and create-token flags:
${formatFlagHelp(TOKEN_FLAGS)}

release flags:
${formatFlagHelp(RELEASE_FLAGS)}
`;

export function resolveServerConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { command: string; config: ServerConfig; configFile: string; values: Map<string, string | boolean>; positionals: string[] } {
  const extra = AUTH_COMMANDS.includes(argv[0] ?? '') ? TOKEN_FLAGS : argv[0] === 'release' ? RELEASE_FLAGS : [];
  const args = parseArgs(argv, [...SERVER_FLAGS, ...extra]);
  if (args.values.get('help')) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const command = args.command ?? 'run';
  if (!COMMANDS.includes(command))
    throw new UsageError(`unknown command "${command}"${didYouMean(command, COMMANDS)} (commands: ${COMMANDS.join(', ')})`);
  if (args.positionals.length && command !== 'release' && command !== 'cluster')
    throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  const explicit = args.values.get('config') as string | undefined;
  const configFile = explicit ?? env.FALCONET_CONFIG ?? 'falconet-server.yaml';
  const flags = SERVER_FLAGS.filter((s) => s.path && args.values.has(s.name)).map((s) => ({
    path: s.path as string[],
    value: args.values.get(s.name),
    flag: `--${s.name}`,
  }));
  const { config } = loadConfig(serverConfigSchema, {
    file: configFile,
    required: explicit !== undefined || env.FALCONET_CONFIG !== undefined,
    env,
    flags,
    ignoreEnv: ['FALCONET_CONFIG'],
  });
  return { command, config, configFile, values: args.values, positionals: args.positionals };
}

// Not awaited: a single-file build bundles this module as CommonJS, which has no top-level await.
void runMain(BIN, async () => {
  const argv = process.argv.slice(2);
  // `release add --version V` names a release, not this binary's version.
  if (argv[0] === 'version' || (argv[0] !== 'release' && argv.includes('--version'))) {
    process.stdout.write(versionText());
    return 0;
  }
  const { command, config, configFile, values, positionals } = resolveServerConfig(argv);
  if (command === 'release') return releaseCommand(positionals, values, config);
  if (command === 'cluster') return await clusterCommand(positionals, config);
  if (command === 'create-user') return await createUserCommand(values, config);
  if (command === 'create-token' && values.has('agent')) return await createAgentTokenCommand(values, config);
  if (command === 'create-token') return await createTokenCommand(values, config);
  if (command === 'check-config') {
    const rules = config.alerts.rules_file ? readRulesFile(config.alerts.rules_file) : undefined;
    process.stdout.write(`# effective configuration (file: ${configFile})\n${stringify(maskSecrets(config))}`);
    if (rules) {
      process.stdout.write(
        `# rules file ${config.alerts.rules_file}: ${rules.rules.length} rules, ${rules.channels.length} channels, ${rules.silences.length} silences\n`,
      );
    }
    return 0;
  }
  if (command === 'migrate') {
    // Opening a store creates or upgrades its schema (PostgreSQL) or replays its log (embedded).
    const store = await openStore(config);
    await store.close();
    process.stdout.write(`${BIN}: samples store (${storeEngine(config)}) is ready\n`);
    const meta = openMetaDb(metaDbOptions(config));
    try {
      const applied = await migrateMetaDb(meta);
      for (const name of applied) process.stdout.write(`${BIN}: applied migration ${name}\n`);
    } finally {
      await meta.close();
    }
    process.stdout.write(`${BIN}: store schema in ${config.database.url ? 'the database' : config.data_dir} is up to date\n`);
    return 0;
  }
  // Before anything is opened: the allocator a long-running server needs is set at process start (./malloc.ts).
  restartWithTunedAllocator();
  const log = createLogger({ name: BIN, level: config.log.level, format: config.log.format });
  if (process.env.GLIBC_TUNABLES) log.info({ GLIBC_TUNABLES: process.env.GLIBC_TUNABLES }, 'C allocator tunables in effect');
  const server = new FalconetServer(config, log);
  await server.start();
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      server.stop().then(resolve, resolve);
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  log.info('stopped');
  return 0;
});
