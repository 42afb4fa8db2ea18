import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ParsedArgs } from '@falconet/protocol/cli';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import { type AgentConfig, pidfilePath } from '../config.ts';
import { logFileMode } from '../datadir.ts';
import { missingNodeFlags } from '../runtime/node-flags.ts';
import { AGENT_FLAGS, type AgentArgs, BIN, loadAgentConfig } from '../runtime/options.ts';
import { type DaemonMessage, logFileFor } from '../runtime/run.ts';
import { selfCommand } from '../runtime/self.ts';
import { isAlive, pidState } from './pidfile.ts';

/**
 * start / stop / restart / status, in the manner of an LSB init script. Exit statuses:
 *   status: 0 running, 1 not running but the pidfile remains, 3 not running, 4 unknown
 *   start:  0 started or already running, 1 failed, 2 invalid configuration or flags
 *   stop:   0 stopped or already stopped, 1 failed, 4 not permitted
 */

const say = (line: string) => process.stdout.write(`${BIN}: ${line}\n`);
const complain = (line: string) => process.stderr.write(`${BIN}: ${line}\n`);

/** The configuration for locating the pidfile; an invalid file still lets stop and status work. */
function configForControl(args: AgentArgs, env: NodeJS.ProcessEnv): AgentConfig {
  try {
    return loadAgentConfig(args, env).config;
  } catch (err) {
    complain(`configuration has errors (${(err as Error).message.split('\n')[0]}); finding the pidfile from flags and environment`);
    return loadAgentConfig({ ...args, configFile: resolve('/nonexistent/falconet-agent.yaml'), configRequired: false }, env).config;
  }
}

/** Flags to hand the daemon, rebuilt from the parsed ones so the command word cannot be mistaken for a value. */
function flagsOf(parsed: ParsedArgs, configFile: string, explicitConfig: boolean): string[] {
  const out: string[] = [];
  for (const spec of AGENT_FLAGS) {
    if (spec.name === 'config' || !parsed.values.has(spec.name)) continue;
    out.push(`--${spec.name}=${String(parsed.values.get(spec.name))}`);
  }
  for (const [name, on] of parsed.patterned.get('collector') ?? []) out.push(`--collector.${name}=${on}`);
  if (explicitConfig) out.push(`--config=${configFile}`);
  return out;
}

export async function start(args: AgentArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Invalid configuration fails here, in the terminal, not in a daemon's log.
  const config = loadAgentConfig(args, env).config;
  const pidfile = resolve(pidfilePath(config));
  const held = pidState(pidfile);
  if (held.state === 'running') {
    say(`already running (pid ${held.pid})`);
    return 0;
  }
  if (held.state === 'unknown') {
    complain(held.why);
    return 4;
  }
  if (held.state === 'stale') {
    rmSync(pidfile, { force: true });
    say(`removed stale pidfile ${pidfile} (${held.why})`);
  }
  const logFile = resolve(logFileFor(config, true));
  // The data directory is made owner-only here, as the agent would; correcting an old one is the agent's, which logs it.
  mkdirSync(config.data_dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  mkdirSync(dirname(logFile), { recursive: true });
  // Crash output (a stack trace on stderr) lands in the log file too.
  const stderrFd = openSync(logFile, 'a', logFileMode(config.data_dir, logFile));
  const nodeFlags = env.FALCONET_NODE_FLAGS === 'off' ? process.execArgv : [...missingNodeFlags(), ...process.execArgv];
  const self = selfCommand(nodeFlags, ['run', ...flagsOf(args.parsed, args.configFile, args.configRequired)]);
  const child = spawn(self.file, self.args, {
    detached: true,
    stdio: ['ignore', 'ignore', stderrFd, 'ipc'],
    env: { ...env, FALCONET_DAEMON: '1' },
  });
  closeSync(stderrFd);
  const outcome = await new Promise<DaemonMessage | { exited: number | null }>((done) => {
    const timer = setTimeout(() => done({ error: 'did not report ready within 30 s' }), 30_000);
    child.once('message', (m: DaemonMessage) => {
      clearTimeout(timer);
      done(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ exited: code });
    });
  });
  if ('ready' in outcome) {
    if (child.connected) child.disconnect();
    child.unref();
    say(`started (pid ${outcome.pid}, log ${outcome.log})`);
    return 0;
  }
  if ('error' in outcome) {
    for (const line of outcome.error.split('\n')) complain(line);
    if (child.exitCode === null) child.kill('SIGKILL');
  } else complain(`exited during start-up (status ${outcome.exited}); see ${logFile}`);
  return 1;
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

export async function stop(args: AgentArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = configForControl(args, env);
  const pidfile = resolve(pidfilePath(config));
  const held = pidState(pidfile);
  if (held.state === 'stopped') {
    say('not running');
    return 0;
  }
  if (held.state === 'unknown') {
    complain(held.why);
    return 4;
  }
  if (held.state === 'stale') {
    rmSync(pidfile, { force: true });
    say(`not running; removed stale pidfile ${pidfile} (${held.why})`);
    return 0;
  }
  const pid = held.pid;
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    complain(`cannot signal pid ${pid}: ${(err as NodeJS.ErrnoException).code === 'EPERM' ? 'permission denied' : (err as Error).message}`);
    return 4;
  }
  const timeoutMs = config.shutdown.stop_timeout;
  if (await waitForExit(pid, timeoutMs)) {
    say(`stopped (pid ${pid})`);
    return 0;
  }
  complain(`pid ${pid} still running ${timeoutMs / 1000} s after SIGTERM; sending SIGKILL`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // it exited meanwhile
  }
  if (await waitForExit(pid, 5_000)) {
    rmSync(pidfile, { force: true }); // a killed agent cannot remove its own
    say(`killed (pid ${pid})`);
    return 0;
  }
  complain(`pid ${pid} survived SIGKILL`);
  return 1;
}

export function status(args: AgentArgs, env: NodeJS.ProcessEnv = process.env): number {
  const config = configForControl(args, env);
  const pidfile = resolve(pidfilePath(config));
  const held = pidState(pidfile);
  switch (held.state) {
    case 'running':
      say(`running (pid ${held.pid}, pidfile ${pidfile})`);
      return 0;
    case 'stopped':
      say('not running');
      return 3;
    case 'stale':
      say(`not running, but the pidfile ${pidfile} remains (${held.why})`);
      return 1;
    default:
      complain(`status unknown: ${held.why}`);
      return 4;
  }
}

export async function restart(args: AgentArgs, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  loadAgentConfig(args, env); // refuse to stop a working agent for a configuration that cannot start
  const stopped = await stop(args, env);
  if (stopped !== 0) return stopped;
  return await start(args, env);
}
