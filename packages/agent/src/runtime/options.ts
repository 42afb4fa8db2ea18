import { resolve } from 'node:path';
import { didYouMean, type FlagSpec, formatFlagHelp, type ParsedArgs, parseArgs, UsageError } from '@falconet/protocol/cli';
import { type Loaded, loadConfig } from '@falconet/protocol/config';
import { collectorOptionKind } from '../collectors/options.ts';
import { type AgentConfig, agentConfigSchema } from '../config.ts';
import { BIN, COMMANDS, type Command } from './commands.ts';

export { BIN, COMMANDS, type Command };

export const AGENT_FLAGS: FlagSpec[] = [
  { name: 'config', type: 'string', help: 'YAML configuration file (default ./falconet-agent.yaml when present)' },
  { name: 'server', type: 'string', path: ['server', 'url'], help: 'server gRPC address HOST:PORT; without it the agent is exporter-only' },
  { name: 'token', type: 'string', path: ['server', 'token'], help: "this agent's token for the server" },
  {
    name: 'grpc-allow-plaintext',
    type: 'boolean',
    path: ['transport', 'tls', 'allow_plaintext'],
    help: 'allow a grpc:// (plaintext) server beyond loopback: its token and tasks travel unprotected',
  },
  { name: 'listen', type: 'string', path: ['listen'], help: 'exporter address for /metrics (default 127.0.0.1:9101; "" disables)' },
  { name: 'transfer', type: 'string', path: ['transfer'], help: 'Open-Falcon JSON-lines sink HOST:PORT' },
  {
    name: 'web.disable-exporter-metrics',
    type: 'boolean',
    path: ['web', 'disable_exporter_metrics'],
    help: "leave the agent's own process_* and falconet_agent_* series off /metrics",
  },
  { name: 'web.gzip-level', type: 'string', path: ['web', 'gzip_level'], help: 'gzip level of /metrics, 1 (fastest, default) to 9' },
  { name: 'interval', type: 'string', path: ['interval'], help: 'report interval while the host is neither busy nor idle (default 10s)' },
  { name: 'data-dir', type: 'string', path: ['data_dir'], help: 'directory for the agent id, spool and state' },
  { name: 'pidfile', type: 'string', path: ['pidfile'], help: 'pidfile for start/stop/status (default DATA_DIR/falconet-agent.pid)' },
  { name: 'debug', type: 'boolean', path: ['debug'], help: 'log every sample' },
  { name: 'log.level', type: 'string', path: ['log', 'level'], help: 'trace|debug|info|warn|error|fatal|silent' },
  { name: 'log.format', type: 'string', path: ['log', 'format'], help: 'json|pretty|auto' },
  { name: 'log.file', type: 'string', path: ['log', 'file'], help: 'also log to this file, rotated by size' },
  { name: 'plugins.dir', type: 'string', path: ['plugins', 'dir'], help: 'directory of JS/TS collector plugins' },
  // node_exporter's names for the same roots, so a container runs with the flags its docs show.
  { name: 'path.procfs', type: 'string', path: ['procfs', 'proc'], help: 'procfs mount point (default /proc; /host/proc in a container)' },
  { name: 'path.sysfs', type: 'string', path: ['procfs', 'sys'], help: 'sysfs mount point (default /sys; /host/sys in a container)' },
  {
    name: 'path.rootfs',
    type: 'string',
    path: ['procfs', 'rootfs'],
    help: "the host's root filesystem (default /; /host in a container); mount points are reported without it",
  },
  {
    name: 'timeout',
    type: 'string',
    path: ['shutdown', 'stop_timeout'],
    help: 'stop/restart: how long to wait before SIGKILL (default 15s)',
  },
  { name: 'wide', type: 'boolean', help: 'once: print metric names and labels whole, however wide the table gets' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export const USAGE = `usage: ${BIN} COMMAND [flags]

commands:
  run            run in the foreground (default)
  start          start in the background and write the pidfile
  stop           stop the agent named by the pidfile (SIGTERM, then SIGKILL after --timeout)
  restart        stop, then start
  status         running / stopped / stale pidfile (exit 0 / 3 / 1, as LSB init scripts)
  once           collect once and print the samples as a table 100 columns wide (--wide: whole)
  check-config   validate the configuration and print the effective one
  version        print version, commit, build date, Node.js version and release target
  verify FILE    check a release tarball or binary against its signed SHA256SUMS (--public-key PEM)

flags:
${formatFlagHelp(AGENT_FLAGS)}
  --collector.NAME / --no-collector.NAME   enable or disable one collector
  --collector.NAME.OPTION VALUE            set a collector option, e.g. --collector.textfile.directory DIR
                                           (docs/collectors.md lists them)

Every key of the configuration file can also be set as FALCONET_<KEY> (docs/agent-config.md).
`;

/** Environment variables with the prefix that are not configuration keys. */
export const NON_CONFIG_ENV = [
  'FALCONET_CONFIG',
  'FALCONET_DAEMON',
  'FALCONET_NATIVE',
  'FALCONET_NODE_FLAGS',
  'FALCONET_RELEASE_STARTUP_PAGES',
];

export interface AgentArgs {
  command: Command;
  parsed: ParsedArgs;
  /** The configuration file, absolute; it need not exist unless named explicitly. */
  configFile: string;
  configRequired: boolean;
}

export function parseAgentArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentArgs {
  const parsed = parseArgs(argv, AGENT_FLAGS, [{ prefix: 'collector', option: collectorOptionKind }]);
  const command = (parsed.command ?? 'run') as Command;
  if (!parsed.values.get('help') && !COMMANDS.includes(command)) {
    throw new UsageError(`unknown command "${command}"${didYouMean(command, COMMANDS)} (commands: ${COMMANDS.join(', ')})`);
  }
  if (parsed.positionals.length) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  const explicit = parsed.values.get('config') as string | undefined;
  return {
    command,
    parsed,
    configFile: resolve(explicit ?? env.FALCONET_CONFIG ?? 'falconet-agent.yaml'),
    configRequired: explicit !== undefined || env.FALCONET_CONFIG !== undefined,
  };
}

/** Loads the configuration for parsed arguments: flag > env > file > default. Called again on every reload. */
export function loadAgentConfig(args: AgentArgs, env: NodeJS.ProcessEnv = process.env): Loaded<AgentConfig> {
  const flags = AGENT_FLAGS.filter((s) => s.path && args.parsed.values.has(s.name)).map((s) => ({
    path: s.path as string[],
    value: args.parsed.values.get(s.name),
    flag: `--${s.name}`,
  }));
  for (const [name, on] of args.parsed.patterned.get('collector') ?? []) {
    // `.enabled`, so the flag switches a collector without dropping its interval from the file.
    flags.push({ path: ['collectors', name, 'enabled'], value: on, flag: `--${on ? '' : 'no-'}collector.${name}` });
  }
  for (const o of args.parsed.patternedOptions.get('collector') ?? []) {
    flags.push({ path: ['collector_options', o.key, o.option.replaceAll('-', '_')], value: o.value, flag: o.flag });
  }
  return loadConfig(agentConfigSchema, {
    file: args.configFile,
    required: args.configRequired,
    env,
    flags,
    ignoreEnv: NON_CONFIG_ENV,
  });
}
