/**
 * Rendezvous (highest random weight) hashing of an agent over its cluster's servers: each server
 * scored by a hash of (agent id, server address), highest first. Every agent ranks the servers
 * its own way, so a fleet spreads evenly; when a server goes, only the agents that ranked it
 * first move, each to its own second, and they move back when it returns.
 */
import { createHash } from 'node:crypto';
import type { ServerAddress } from '../config-base.ts';

/** HOST:PORT of a server address, an IPv6 host in brackets. */
export function targetOf(a: ServerAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

function score(agentId: string, a: ServerAddress): number {
  return createHash('sha256')
    .update(`${agentId}\n${targetOf(a)}`)
    .digest()
    .readUIntBE(0, 6);
}

/** The servers in `agentId`'s order of preference. */
export function rankServers(agentId: string, servers: readonly ServerAddress[]): ServerAddress[] {
  if (servers.length <= 1) return [...servers];
  const scored = servers.map((a) => ({ a, s: score(agentId, a) }));
  scored.sort((x, y) => y.s - x.s || targetOf(x.a).localeCompare(targetOf(y.a)));
  return scored.map((x) => x.a);
}
