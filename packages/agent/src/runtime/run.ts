import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import { logDataDirCheck } from '@falconet/protocol/datadir';
import { createLoggerWithOutput, type Logger } from '@falconet/protocol/log';
import { Agent } from '../agent.ts';
import { buildInfo } from '../build-info.ts';
import type { AgentConfig } from '../config.ts';
import { pidfilePath } from '../config-base.ts';
import { PROCESS_TITLE, pidState, removePidfile, writePidfile } from '../daemon/pidfile.ts';
import { logFileMode, secureAgentDataDir } from '../datadir.ts';
import { BIN } from './commands.ts';
import { loadConfigInChild } from './config-child.ts';
import { unappliedNodeFlags } from './node-flags.ts';
import { StartupPages } from './startup-pages.ts';
import { ConfigWatcher } from './watch.ts';

/** Messages a daemon child sends its `start` parent over the IPC channel. */
export type DaemonMessage = { ready: true; pid: number; log: string } | { error: string };

function notifyParent(msg: DaemonMessage): void {
  if (process.env.FALCONET_DAEMON !== '1' || !process.send) return;
  process.send(msg);
  if (process.connected) process.disconnect();
}

/** The log file in effect: the configured one, or for a daemon (which has no console) one in the data directory. */
export function logFileFor(config: AgentConfig, daemon: boolean): string {
  return config.log.file || (daemon ? join(config.data_dir, 'falconet-agent.log') : '');
}

/**
 * `run`: the agent in the foreground (also what `start` runs in the background). Writes the
 * pidfile, reloads on SIGHUP and when the file changes, and on SIGTERM/SIGINT flushes what is
 * queued within `shutdown.flush_timeout`, closes the stream and removes the pidfile.
 */
export async function runAgent(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    return await run(argv, env);
  } catch (err) {
    notifyParent({ error: (err as Error).message });
    throw err;
  }
}

async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const daemon = env.FALCONET_DAEMON === '1';
  const { config, configFile: file } = await loadConfigInChild(argv, env);
  // Before the log file, pidfile or spool is made in it.
  const dataDirCheck = secureAgentDataDir(config.data_dir);
  const logFile = logFileFor(config, daemon);
  const { logger: log, output } = createLoggerWithOutput({
    name: BIN,
    level: config.debug ? 'debug' : config.log.level,
    format: config.log.format,
    console: !daemon,
    file: logFile
      ? { path: logFile, maxBytes: config.log.max_size, maxFiles: config.log.max_files, mode: logFileMode(config.data_dir, logFile) }
      : undefined,
  });
  logDataDirCheck(config.data_dir, dataDirCheck, log);
  process.title = [PROCESS_TITLE, ...process.argv.slice(2)].join(' ');

  const pidfile = resolve(pidfilePath(config));
  const held = pidState(pidfile);
  if (held.state === 'running' && held.pid !== process.pid) {
    throw new StartupError(`already running (pid ${held.pid}, pidfile ${pidfile}); stop it first or use another --data-dir`, 1);
  }
  if (held.state === 'stale') log.warn({ pidfile, reason: held.why }, 'replacing a stale pidfile');
  writePidfile(pidfile);

  const agent = new Agent(config, log, { logOutput: output, console: !daemon });
  try {
    await agent.start();
  } catch (err) {
    removePidfile(pidfile);
    throw err;
  }
  const b = buildInfo();
  const configFile = existsSync(file) ? file : null;
  log.info(
    {
      pid: process.pid,
      pidfile,
      config: configFile,
      version: b.version,
      commit: b.commit,
      node: b.node,
      nodeFlags: process.execArgv.join(' '),
    },
    'agent started',
  );
  const unapplied = unappliedNodeFlags(env);
  if (unapplied.length)
    log.warn(
      { flags: unapplied.join(' '), node: process.version },
      'running with Node.js defaults, some 20 MB more memory: this Node.js cannot restart itself with the flags (process.execve needs 22.15+); give them to node, or use `start`',
    );
  notifyParent({ ready: true, pid: process.pid, log: logFile });

  const pages = new StartupPages(log, env);
  pages.schedule();
  const reloader = new Reloader(agent, argv, file, env, log, () => pages.schedule());
  reloader.watch(config.reload.watch);
  process.on('SIGHUP', () => reloader.reload('SIGHUP'));

  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal('SIGINT'));
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
  });
  const flushMs = agent.config.shutdown.flush_timeout;
  log.info({ signal, flushTimeoutMs: flushMs }, 'shutting down');
  const again = () => {
    log.warn('second signal: exiting without waiting');
    removePidfile(pidfile);
    process.exit(1);
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  // A guard in case something hangs past the flush: shutdown is bounded whatever happens.
  setTimeout(() => {
    log.error('shutdown did not finish in time; exiting');
    removePidfile(pidfile);
    process.exit(1);
  }, flushMs + 5_000).unref();
  reloader.close();
  pages.stop();
  const { unsent } = await agent.stop(flushMs);
  removePidfile(pidfile);
  log.info({ unsent }, unsent ? 'stopped with reports the server has not acknowledged' : 'stopped');
  output.close();
  return 0;
}

/** Reloads the configuration one at a time, keeping the running one when the new one is invalid. */
class Reloader {
  readonly #agent: Agent;
  readonly #argv: readonly string[];
  readonly #file: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  readonly #watcher: ConfigWatcher;
  #watching = false;
  #queue: Promise<void> = Promise.resolve();

  readonly #onReloaded: () => void;

  constructor(agent: Agent, argv: readonly string[], file: string, env: NodeJS.ProcessEnv, log: Logger, onReloaded: () => void) {
    this.#onReloaded = onReloaded;
    this.#agent = agent;
    this.#argv = argv;
    this.#file = file;
    this.#env = env;
    this.#log = log;
    this.#watcher = new ConfigWatcher(file, () => this.reload('file changed'));
  }

  watch(on: boolean): void {
    if (on === this.#watching) return;
    this.#watching = on;
    if (!on) {
      this.#watcher.close();
      return;
    }
    if (!this.#watcher.start()) this.#log.warn({ file: this.#file }, 'cannot watch the config file; reload with SIGHUP');
  }

  reload(reason: string): void {
    this.#queue = this.#queue.then(() => this.#reload(reason));
  }

  async #reload(reason: string): Promise<void> {
    const file = this.#file;
    this.#watcher.sync();
    let next: AgentConfig;
    try {
      next = (await loadConfigInChild(this.#argv, this.#env)).config;
    } catch (err) {
      this.#agent.recordReloadFailure();
      const problems = (err as { problems?: string[] }).problems ?? [(err as Error).message];
      this.#log.error({ reason, file, problems }, `config reload failed, keeping the running configuration: ${problems[0]}`);
      return;
    }
    try {
      const { changed, restartNeeded } = await this.#agent.applyConfig(next);
      if (changed.length === 0) {
        this.#log.info({ reason, file }, 'config reloaded: nothing changed');
        return;
      }
      this.#log.info({ reason, file, changed }, 'config reloaded');
      this.#onReloaded();
      if (restartNeeded.length) this.#log.warn({ keys: restartNeeded }, 'these changes take effect after a restart');
      this.watch(next.reload.watch);
    } catch (err) {
      const problems = (err as { problems?: string[] }).problems ?? [(err as Error).message];
      this.#log.error({ reason, file, problems }, `config reload failed, keeping the running configuration: ${problems[0]}`);
    }
  }

  close(): void {
    this.#watcher.close();
  }
}
