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
import { TRIAL_ENV } from '../update/self.ts';
import type { StagedUpdate } from '../update/updater.ts';
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

  // A new version on trial runs beside its parent, which keeps the pidfile (its pid stays the agent's).
  const onTrial = Boolean(env[TRIAL_ENV]);
  const pidfile = onTrial ? '' : resolve(pidfilePath(config));
  if (pidfile) {
    const held = pidState(pidfile);
    if (held.state === 'running' && held.pid !== process.pid) {
      throw new StartupError(`already running (pid ${held.pid}, pidfile ${pidfile}); stop it first or use another --data-dir`, 1);
    }
    if (held.state === 'stale') log.warn({ pidfile, reason: held.why }, 'replacing a stale pidfile');
    writePidfile(pidfile);
  }
  const removeOwnPidfile = () => pidfile && removePidfile(pidfile);

  let staged: (update: StagedUpdate) => void = () => undefined;
  const updateStaged = new Promise<StagedUpdate>((r) => {
    staged = r;
  });
  const agent = new Agent(config, log, { logOutput: output, console: !daemon, onUpdateStaged: (u) => staged(u) });
  try {
    await agent.start();
  } catch (err) {
    removeOwnPidfile();
    throw err;
  }
  const b = buildInfo();
  const configFile = existsSync(file) ? file : null;
  log.info(
    {
      pid: process.pid,
      pidfile: pidfile || null,
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

  const stopSignal = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal('SIGINT'));
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
  });
  const first = await Promise.race([stopSignal, updateStaged]);
  const flushMs = agent.config.shutdown.flush_timeout;
  if (typeof first === 'object') {
    // The agent stops its own work (flushes, closes the stream, the spool and the exporter port) so
    // the new binary on trial has them; then this process becomes the new binary or itself again.
    log.info({ to: first.toVersion, flushTimeoutMs: flushMs }, 'stopping for the trial of the new version');
    reloader.close();
    pages.stop();
    const { unsent } = await agent.stop(flushMs);
    // What the server has not acknowledged stays in the spool: the new binary (or this one again) sends it.
    if (unsent) log.info({ unsent }, `${unsent} reports wait in the spool for the version on trial`);
    const abort = new AbortController();
    void stopSignal.then(() => abort.abort());
    const { trialAndExec } = await import('../update/trial.ts');
    await trialAndExec(first, {
      argv,
      env,
      timeoutMs: agent.config.update.trial_timeout,
      stopTimeoutMs: agent.config.shutdown.stop_timeout,
      log,
      signal: abort.signal,
    });
    // Only a stop during the trial comes back here.
    removeOwnPidfile();
    output.close();
    return 0;
  }
  const signal = first;
  log.info({ signal, flushTimeoutMs: flushMs }, 'shutting down');
  const again = () => {
    log.warn('second signal: exiting without waiting');
    removeOwnPidfile();
    process.exit(1);
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  // A guard in case something hangs past the flush: shutdown is bounded whatever happens.
  setTimeout(() => {
    log.error('shutdown did not finish in time; exiting');
    removeOwnPidfile();
    process.exit(1);
  }, flushMs + 5_000).unref();
  reloader.close();
  pages.stop();
  const { unsent } = await agent.stop(flushMs);
  removeOwnPidfile();
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
