import { runMain } from '@falconet/protocol/cli';
import { createLogger } from '@falconet/protocol/log';
import { buildInfo } from './build-info.ts';
import type { AgentConfig } from './config.ts';
import { familiesToSamples } from './metrics.ts';
import { BIN, CONFIG_CHILD_COMMAND, runsAgent } from './runtime/commands.ts';

// Each command imports what it needs when it runs: `status` should not load gRPC, and `run`
// should not hold the code of `start` in memory for weeks, nor the configuration schema (zod
// and the YAML parser): `run` has its configuration parsed by a short-lived child.

async function runForeground(argv: readonly string[]): Promise<never> {
  (await import('./runtime/node-flags.ts')).reexecWithAgentFlags();
  const code = await (await import('./runtime/run.ts')).runAgent(argv);
  // Open handles (a closing gRPC channel) must not keep a stopped agent alive.
  process.exit(code);
}

async function once(config: AgentConfig, wide: boolean): Promise<void> {
  const { Agent } = await import('./agent.ts');
  const { formatSampleTable, NARROW_COLUMNS } = await import('./sample-table.ts');
  const log = createLogger({ name: BIN, level: 'warn', format: 'pretty', destination: process.stderr });
  const agent = new Agent(config, log);
  await agent.openCollectors();
  const c = await agent.collect();
  const table = formatSampleTable(familiesToSamples(c.families, c.timestampMs), wide ? Number.POSITIVE_INFINITY : NARROW_COLUMNS);
  process.stdout.write(table.text);
  if (table.shortened) {
    process.stderr.write(`${BIN}: ${table.shortened} rows shortened to fit ${NARROW_COLUMNS} columns; --wide prints them whole\n`);
  }
}

function version(): void {
  const b = buildInfo();
  process.stdout.write(
    `${BIN} ${b.version}\n  commit:     ${b.commit}\n  built:      ${b.buildDate}\n  node:       ${b.node}\n  platform:   ${b.platform}\n  target:     ${b.target}\n`,
  );
}

// Not awaited: a single-file build bundles this module as CommonJS, which has no top-level await.
void runMain(BIN, async () => {
  const argv = process.argv.slice(2);
  if (argv[0] === 'version' || argv.includes('--version')) {
    version();
    return 0;
  }
  if (argv[0] === 'verify') return (await import('./release/command.ts')).verifyCommand(argv);
  if (argv[0] === CONFIG_CHILD_COMMAND) return await (await import('./runtime/config-child.ts')).printConfigReply(argv.slice(1));
  if (runsAgent(argv)) return await runForeground(argv);
  const { loadAgentConfig, parseAgentArgs, USAGE } = await import('./runtime/options.ts');
  const { ConfigError, maskSecrets, yaml } = await import('@falconet/protocol/config');
  const args = parseAgentArgs(argv);
  if (args.parsed.values.get('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (args.command) {
    case 'check-config': {
      const { config, ignoredEnv } = loadAgentConfig(args);
      // Beyond the schema: collector names must exist and plugin files must load.
      const { Agent } = await import('./agent.ts');
      const agent = new Agent(config, createLogger({ name: BIN, level: 'silent' }));
      await agent.openCollectors();
      if (agent.pluginErrors.length) throw new ConfigError(agent.pluginErrors.map((e) => `plugins.dir: ${e}`));
      const notes = ignoredEnv.length ? [`# ignored (not agent keys): ${ignoredEnv.join(', ')}`] : [];
      // The socket the container collector will ask, which the schema leaves unset unless it was set.
      const { chooseDockerSocket } = await import('./containers/docker-socket.ts');
      const socket = chooseDockerSocket(config.containers.docker_socket, process.env);
      if (socket.from === 'DOCKER_HOST') notes.push(`# containers.docker_socket from DOCKER_HOST=${process.env.DOCKER_HOST}`);
      if (socket.problem) notes.push(`# ${socket.problem}`);
      const effective = { ...config, containers: { ...config.containers, docker_socket: socket.path } };
      const head = [`# effective configuration (file: ${args.configFile})`, ...notes].join('\n');
      process.stdout.write(`${head}\n${yaml().stringify(maskSecrets(effective))}`);
      return 0;
    }
    case 'once':
      await once(loadAgentConfig(args).config, args.parsed.values.get('wide') === true);
      return 0;
    case 'start':
      return await (await import('./daemon/control.ts')).start(args);
    case 'stop':
      return await (await import('./daemon/control.ts')).stop(args);
    case 'restart':
      return await (await import('./daemon/control.ts')).restart(args);
    case 'status':
      return (await import('./daemon/control.ts')).status(args);
    case 'version':
      version();
      return 0;
    default:
      // `run` reached here only when runsAgent() misread the arguments (a flag value that is a command name).
      return await runForeground(argv);
  }
});
