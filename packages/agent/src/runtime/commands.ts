/** The binary's name and commands, in a module of their own so the running agent can read them without the config schema. */
export const BIN = 'falconet-agent';

export const COMMANDS = ['run', 'start', 'stop', 'restart', 'status', 'once', 'check-config', 'version', 'verify'] as const;
export type Command = (typeof COMMANDS)[number];

/** Not a user command: the short-lived child that parses the configuration for a running agent. */
export const CONFIG_CHILD_COMMAND = '__config-json';

/**
 * Whether these arguments run the agent (`run`, the default), judged without the flag
 * specification: the first argument that names a command. A flag value that happens to be a
 * command name only sends `run` down the general path, which runs the agent all the same.
 */
export function runsAgent(argv: readonly string[]): boolean {
  if (argv.includes('--help') || argv.includes('-h')) return false;
  const command = argv.find((a) => (COMMANDS as readonly string[]).includes(a)) ?? 'run';
  return command === 'run';
}
