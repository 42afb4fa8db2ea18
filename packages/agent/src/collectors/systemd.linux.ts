/**
 * systemd units, named as node_exporter's systemd collector names them: node_systemd_unit_state
 * {name,state,type} (one series per possible state, 1 for the current one), node_systemd_units
 * {state}, node_systemd_system_running, node_systemd_version. Read with `systemctl list-units
 * --all --output=json` (systemd 246 and later) and `systemctl show` for service types, so the
 * agent needs no D-Bus library. Off by default, as in node_exporter.
 */
import { statSync } from 'node:fs';
import type { MetricWriter } from '../metrics.ts';
import { NoDataError } from '../procfs/fs.ts';
import { rootfsPath } from '../procfs/index.ts';
import { runTool } from './platform/tool.ts';
import { defineCollector } from './registry.ts';

/** The active states node_exporter lists for every unit. */
export const UNIT_STATES = ['activating', 'active', 'deactivating', 'failed', 'inactive'] as const;

export interface SystemdUnit {
  name: string;
  load: string;
  active: string;
  sub: string;
}

/** `systemctl list-units --all --output=json`: an array of {unit, load, active, sub, description}. */
export function parseListUnits(text: string): SystemdUnit[] {
  const rows = JSON.parse(text) as unknown;
  if (!Array.isArray(rows)) throw new Error('systemctl list-units --output=json did not print an array');
  return rows
    .filter((r): r is Record<string, string> => Boolean(r) && typeof (r as Record<string, unknown>).unit === 'string')
    .map((r) => ({ name: r.unit as string, load: r.load ?? '', active: r.active ?? '', sub: r.sub ?? '' }));
}

/** `systemctl show --property=Id,Type UNIT...`: blocks of KEY=VALUE lines separated by blank lines. */
export function parseServiceTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const block of text.split(/\n\s*\n/)) {
    const props = new Map(
      block
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const id = props.get('Id');
    if (id) types.set(id, props.get('Type') ?? '');
  }
  return types;
}

/** The number in `systemctl --version`'s first line (`systemd 252 (252.39-1~deb12u2)`). */
export function parseSystemdVersion(text: string): { version: string; number: number } | undefined {
  const m = /^systemd (\d+)(?: \(([^)]+)\))?/.exec(text);
  return m ? { version: m[2] ?? (m[1] as string), number: Number(m[1]) } : undefined;
}

export function writeSystemd(
  out: MetricWriter,
  units: SystemdUnit[],
  types: Map<string, string>,
  systemRunning: string,
  version: { version: string; number: number } | undefined,
): void {
  const counts = new Map<string, number>(UNIT_STATES.map((s) => [s, 0]));
  for (const u of units) {
    counts.set(u.active, (counts.get(u.active) ?? 0) + 1);
    const type = types.get(u.name) ?? '';
    for (const state of UNIT_STATES) {
      out.gauge('node_systemd_unit_state', 'Systemd unit', u.active === state ? 1 : 0, { name: u.name, state, type });
    }
  }
  for (const [state, n] of counts) out.gauge('node_systemd_units', 'Summary of systemd unit states', n, { state });
  out.gauge(
    'node_systemd_system_running',
    "Whether the system is operational (systemctl is-system-running says 'running').",
    systemRunning === 'running' ? 1 : 0,
  );
  if (version) out.gauge('node_systemd_version', 'Detected systemd version', version.number, { version: version.version });
}

export default defineCollector({
  name: 'systemd',
  defaultEnabled: false,
  description: 'systemd unit states, unit counts and whether the system is running, from systemctl (node_exporter names).',
  options: ({ z, pattern }) =>
    z
      .object({
        /** The systemctl to run: a name looked up in PATH, or a path. */
        command: z.string().min(1).default('systemctl'),
        /** Units to report (node_exporter's --collector.systemd.unit-include). */
        unit_include: pattern().default('.+'),
        /** Units to leave out (node_exporter's --collector.systemd.unit-exclude). */
        unit_exclude: pattern().default('.+\\.(automount|device|mount|scope|slice)'),
      })
      .strict(),
  create: (_config, opts) => {
    // Anchored, as node_exporter anchors these two patterns.
    const include = new RegExp(`^(?:${opts.unit_include})$`);
    const exclude = new RegExp(`^(?:${opts.unit_exclude})$`);
    return {
      async update(out, { roots, signal }) {
        // sd_booted(3): systemd is the init system exactly when /run/systemd/system exists.
        const marker = rootfsPath(roots, 'run', 'systemd', 'system');
        if (!statSync(marker, { throwIfNoEntry: false })?.isDirectory()) {
          throw new NoDataError(`systemd is not the init system here (no ${marker})`);
        }
        const list = await runTool(opts.command, ['list-units', '--all', '--no-pager', '--output=json'], signal);
        if (list.code !== 0) throw new Error(`${opts.command} list-units exited ${list.code}`);
        const units = parseListUnits(list.stdout).filter((u) => include.test(u.name) && !exclude.test(u.name));
        const services = units.filter((u) => u.name.endsWith('.service')).map((u) => u.name);
        const types = services.length
          ? parseServiceTypes((await runTool(opts.command, ['show', '--property=Id,Type', '--', ...services], signal)).stdout)
          : new Map<string, string>();
        // is-system-running exits non-zero for anything but "running": its output is the answer.
        const running = (await runTool(opts.command, ['is-system-running'], signal)).stdout.trim();
        const version = parseSystemdVersion((await runTool(opts.command, ['--version'], signal)).stdout);
        writeSystemd(out, units, types, running, version);
      },
    };
  },
});
