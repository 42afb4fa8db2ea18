/**
 * `falconet-server cluster status`: the nodes of this server's cluster, heard on the bus itself
 * (so it answers whether or not a node runs on this machine): each node's HTTP address, agents,
 * dashboards' watch lists, databases, version and when it started.
 */
import { ClusterNode } from '@falconet/protocol/api';
import { StartupError, UsageError } from '@falconet/protocol/cli';
import { connect } from '@nats-io/transport-node';
import { natsUrls, type ServerConfig } from '../config.ts';

export const CLUSTER_USAGE = '  cluster status                   the nodes of the cluster, as heard on cluster.nats for 6 s';

/** Heartbeats come every 5 s: listening a little longer hears every live node once. */
const LISTEN_MS = 6000;

const Heartbeat = ClusterNode.pick({ http: true, version: true, startedMs: true, agents: true, databases: true });

export async function clusterCommand(
  positionals: string[],
  config: ServerConfig,
  out: (s: string) => void = (s) => process.stdout.write(s),
  listenMs = LISTEN_MS,
): Promise<number> {
  const sub = positionals[0];
  if (sub !== 'status') throw new UsageError(`cluster: ${sub ? `unknown subcommand "${sub}"` : 'give a subcommand'} (subcommands: status)`);
  if (positionals.length > 1) throw new UsageError(`cluster status: unexpected argument "${positionals[1]}"`);
  const servers = natsUrls(config.cluster.nats);
  if (servers.length === 0) throw new StartupError('cluster.nats is not set: this server runs alone (docs/scale.md)');
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({ servers, name: 'falconet-server cluster status', timeout: 5000 });
  } catch (err) {
    throw new StartupError(`cluster.nats ${config.cluster.nats}: ${(err as Error).message}`);
  }
  const heard = new Map<string, { atMs: number; watching: number; info: ReturnType<typeof Heartbeat.parse> | undefined }>();
  const decoder = new TextDecoder();
  nc.subscribe(`falconet.${config.cluster.name}.live.watch`, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const m = JSON.parse(decoder.decode(msg.data)) as { node?: unknown; agents?: unknown; info?: unknown };
        if (typeof m.node !== 'string' || !Array.isArray(m.agents)) return;
        const info = Heartbeat.safeParse(m.info);
        const prev = heard.get(m.node);
        heard.set(m.node, { atMs: Date.now(), watching: m.agents.length, info: info.success ? info.data : prev?.info });
      } catch {
        // Not a heartbeat: nothing to list.
      }
    },
  });
  await new Promise((r) => setTimeout(r, listenMs));
  await nc.drain();
  out(
    `cluster ${config.cluster.name} on ${servers.join(', ')}: ${heard.size} node${heard.size === 1 ? '' : 's'} heard in ${listenMs / 1000} s\n`,
  );
  if (heard.size === 0) return 1;
  const rows = [['NODE', 'HTTP', 'AGENTS', 'WATCHING', 'DATABASES', 'VERSION', 'STARTED']];
  for (const [node, h] of [...heard].sort(([a], [b]) => a.localeCompare(b))) {
    const i = h.info;
    const dbs = i?.databases.length ? i.databases.map((d) => `${d.role} ${d.up ? 'up' : 'DOWN'}`).join(', ') : i ? 'none' : '?';
    rows.push([
      node,
      i?.http || '?',
      i ? String(i.agents) : '?',
      String(h.watching),
      dbs,
      i?.version || '?',
      i?.startedMs ? new Date(i.startedMs).toISOString().replace(/\.\d+Z$/, 'Z') : '?',
    ]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length))) ?? [];
  for (const r of rows)
    out(
      `${r
        .map((cell, c) => cell.padEnd(widths[c] as number))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}
