/**
 * Which node of a cluster looks after something that belongs to no node's stream (an offline
 * agent's alerts, a syslog sender's, a fleet-wide rule's): rendezvous hashing of its key over the
 * nodes heard from lately. Every node computes the same answer from the same membership; when a
 * node goes silent, only what it looked after moves, each piece to its own next node.
 */
import { createHash } from 'node:crypto';

export function ownerOf(key: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const node of nodes) {
    const score = createHash('sha256').update(`${key}\n${node}`).digest().readUIntBE(0, 6);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
