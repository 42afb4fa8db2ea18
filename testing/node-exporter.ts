/**
 * The reference, configured for equal work: Debian's node_exporter running exactly the collectors
 * the agent runs by default, without its own Go/process metrics, with upstream's default filters
 * (Debian's build changes two of them), and both sides reading the same (empty) textfile directory.
 * The agent's collectors that node_exporter has no counterpart for are switched off on the agent.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MOUNT_POINTS_EXCLUDE } from '../packages/agent/src/collectors/filesystem.linux.ts';
import { loadCollectorDefinitions } from '../packages/agent/src/collectors/registry.ts';

export const NODE_EXPORTER = 'prometheus-node-exporter';

/**
 * Upstream node_exporter's defaults, which the agent follows, where Debian's package sets its own
 * (it adds /run, /mnt and /media to the mount points left out, and leaves out lo).
 */
export const UPSTREAM_FILTERS = [
  `--collector.filesystem.mount-points-exclude=${DEFAULT_MOUNT_POINTS_EXCLUDE}`,
  '--collector.netdev.device-exclude=',
];

export function nodeExporterVersion(): string {
  return execFileSync(NODE_EXPORTER, ['--version'], { encoding: 'utf8' }).match(/version (\S+)/)?.[1] ?? '?';
}

/** The collector names this node_exporter build knows, from its --help. */
function nodeExporterCollectors(): Set<string> {
  const help = execFileSync(NODE_EXPORTER, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return new Set([...help.matchAll(/^\s+--(?:\[no-\])?collector\.([a-z_]+)\s/gm)].map((m) => m[1] as string));
}

export interface EqualWork {
  /** Collectors both sides run. */
  collectors: string[];
  /** The agent's default collectors that node_exporter lacks, switched off on the agent. */
  agentOnly: string[];
  /** Flags for `falconet-agent run`, after the command. */
  agentArgs: string[];
  /** Flags for node_exporter, without its listen address. */
  refArgs: string[];
}

export async function equalWork(): Promise<EqualWork> {
  const known = nodeExporterCollectors();
  const defaults = (await loadCollectorDefinitions('linux')).filter((d) => d.defaultEnabled).map((d) => d.name);
  const collectors = defaults.filter((n) => known.has(n));
  const agentOnly = defaults.filter((n) => !known.has(n));
  const textfileDir = mkdtempSync(join(tmpdir(), 'bench-textfile-'));
  return {
    collectors,
    agentOnly,
    agentArgs: [
      ...agentOnly.map((n) => `--no-collector.${n}`),
      '--collector.textfile.directory',
      textfileDir,
      '--web.disable-exporter-metrics',
    ],
    refArgs: [
      '--collector.disable-defaults',
      ...collectors.map((n) => `--collector.${n}`),
      '--web.disable-exporter-metrics',
      `--collector.textfile.directory=${textfileDir}`,
      ...UPSTREAM_FILTERS,
    ],
  };
}
