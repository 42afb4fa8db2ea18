import { execFile } from 'node:child_process';
import type { AgentConfig } from '../config.ts';
import { CONFIG_CHILD_COMMAND } from './commands.ts';
import { AGENT_NODE_FLAGS } from './node-flags.ts';
import { selfCommand } from './self.ts';

/**
 * The running agent's configuration comes from a short-lived child process: the flags, the
 * environment and the file are parsed and checked there (zod, the YAML parser and the schema
 * load only in the child), and the agent receives the validated object as JSON over a pipe.
 * The agent process so never holds the schema's code, about 6 MB of its memory; the price is
 * one brief `node` start per start and per reload. Errors cross over with their name, message
 * and problems, so they read exactly as when parsed in place.
 */

export interface LoadedConfig {
  config: AgentConfig;
  /** The configuration file, absolute; it need not exist. */
  configFile: string;
}

/** Starts the reply's line in the child's output. */
const REPLY_MARK = 'falconet-config-reply ';

type Reply =
  | { ok: true; config: AgentConfig; configFile: string }
  | { ok: false; name: string; message: string; problems?: string[]; exitCode?: number };

/** The child's side (the hidden `__config-json` command): one JSON reply on stdout. */
export async function printConfigReply(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let reply: Reply;
  try {
    const { loadAgentConfig, parseAgentArgs } = await import('./options.ts');
    const args = parseAgentArgs(argv, env);
    reply = { ok: true, config: loadAgentConfig(args, env).config, configFile: args.configFile };
  } catch (err) {
    const e = err as Error & { problems?: string[]; exitCode?: number };
    reply = {
      ok: false,
      name: e.name,
      message: e.message,
      ...(e.problems ? { problems: e.problems } : {}),
      ...(e.exitCode ? { exitCode: e.exitCode } : {}),
    };
  }
  // On a line of its own behind a marker: Node itself may print around it (a --trace-gc given to the agent).
  await new Promise<void>((resolve) => process.stdout.write(`\n${REPLY_MARK}${JSON.stringify(reply)}\n`, () => resolve()));
  return 0;
}

/** Node's flags for the child: this process's, less the agent's memory settings (the child is short-lived, and faster with the JIT). */
function childExecArgv(): string[] {
  const agentFlags = new Set(AGENT_NODE_FLAGS.map((f) => f.split('=')[0]));
  return process.execArgv.filter((a) => !agentFlags.has(a.split('=')[0]));
}

/** The agent's side: runs the child on the same entry point (the built binary or the sources) and returns what it parsed. */
export async function loadConfigInChild(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const self = selfCommand(childExecArgv(), [CONFIG_CHILD_COMMAND, ...argv]);
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      self.file,
      self.args,
      { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000, windowsHide: true },
      (err, out, errOut) =>
        err
          ? reject(new Error(`parsing the configuration failed: ${err.message}${errOut ? `\n${errOut}` : ''}`))
          : resolve({ stdout: out, stderr: errOut }),
    );
  });
  if (stderr) process.stderr.write(stderr);
  const at = stdout.lastIndexOf(REPLY_MARK);
  if (at < 0) throw new Error(`parsing the configuration gave no answer${stdout ? `: ${stdout.slice(0, 500)}` : ''}`);
  const from = at + REPLY_MARK.length;
  const to = stdout.indexOf('\n', from);
  const reply = JSON.parse(stdout.slice(from, to < 0 ? undefined : to)) as Reply;
  if (reply.ok) return { config: reply.config, configFile: reply.configFile };
  throw Object.assign(new Error(reply.message), {
    name: reply.name,
    ...(reply.problems ? { problems: reply.problems } : {}),
    ...(reply.exitCode ? { exitCode: reply.exitCode } : {}),
  });
}
