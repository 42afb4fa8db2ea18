import { spawn } from 'node:child_process';
import type { CollectorSource } from '../collection.ts';
import type { CollectContext, Collector } from '../collectors/registry.ts';
import type { ExecPluginConfig } from '../config.ts';
import type { MetricWriter } from '../metrics.ts';
import { parseInfluxLines } from './formats/influx.ts';
import { parseJsonSamples } from './formats/json.ts';
import { parseNagiosOutput } from './formats/nagios.ts';
import { parsePrometheusText } from './formats/prometheus.ts';
import type { ParsedSample } from './formats/types.ts';

export interface CommandResult {
  stdout: string;
  exitCode: number;
  stderr: string;
}

/**
 * Runs a command in its own process group, so a timeout kills the whole pipeline a shell
 * started; stdout past `maxOutput` bytes is an error and also ends the command.
 */
export function runCommand(
  cfg: Pick<ExecPluginConfig, 'command' | 'timeout' | 'max_output' | 'env' | 'cwd'>,
  signal?: AbortSignal,
): Promise<CommandResult> {
  const [file, args] =
    typeof cfg.command === 'string' ? ['/bin/sh', ['-c', cfg.command]] : [cfg.command[0] as string, cfg.command.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: cfg.cwd || undefined,
      env: { ...process.env, ...cfg.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: Error | undefined;
    const kill = (why: Error) => {
      failure ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => kill(new Error(`timed out after ${cfg.timeout} ms (killed)`)), cfg.timeout);
    const onAbort = () => kill(new Error('aborted: the collection gave up on it'));
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > cfg.max_output) {
        kill(new Error(`output exceeded max_output (${cfg.max_output} bytes); command killed`));
        return;
      }
      chunks.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`cannot run ${file}: ${err.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure);
      else if (code === null) reject(new Error(`killed by ${sig}`));
      else resolve({ stdout: Buffer.concat(chunks).toString('utf8'), exitCode: code, stderr: stderr.trim() });
    });
  });
}

/** Parses a command's output in the plugin's format. */
export function parseOutput(format: ExecPluginConfig['format'], result: CommandResult): ParsedSample[] {
  switch (format) {
    case 'nagios':
      return parseNagiosOutput(result.stdout, result.exitCode);
    case 'json':
      return parseJsonSamples(result.stdout);
    case 'influx':
      return parseInfluxLines(result.stdout);
    default:
      return parsePrometheusText(result.stdout);
  }
}

/** Writes parsed samples with the plugin's labels added (the plugin's own win over the output's). */
export function writeSamples(out: MetricWriter, samples: readonly ParsedSample[], labels: Readonly<Record<string, string>>): void {
  for (const s of samples) {
    out.add(s.name, s.help ?? `${s.name} from an exec plugin.`, s.type ?? 'untyped', s.value, { ...s.labels, ...labels });
  }
}

/** An exec plugin as a collection slot named `exec:<name>`. */
export function execPluginSource(cfg: ExecPluginConfig): CollectorSource {
  const labels = cfg.format === 'nagios' ? { plugin: cfg.name, ...cfg.labels } : cfg.labels;
  const collector: Collector = {
    async update(out: MetricWriter, ctx: CollectContext) {
      const result = await runCommand(cfg, ctx.signal);
      // For Nagios plugins the exit status is the state; elsewhere a failed command has no output to trust.
      if (cfg.format !== 'nagios' && result.exitCode !== 0) {
        throw new Error(`exited with status ${result.exitCode}${result.stderr ? `: ${result.stderr.split('\n')[0]}` : ''}`);
      }
      try {
        writeSamples(out, parseOutput(cfg.format, result), labels);
      } catch (err) {
        throw new Error(`${cfg.format} output: ${(err as Error).message}`);
      }
    },
  };
  return { name: `exec:${cfg.name}`, create: () => collector };
}
