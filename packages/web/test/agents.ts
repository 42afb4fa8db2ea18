import type { Agent } from '@falconet/protocol/api';

/** An agent as GET /api/agents and the live feed describe it; what a test cares about is overridden. */
export function agent(id: string, over: Partial<Agent> = {}): Agent {
  return {
    id,
    hostname: id,
    ips: ['10.0.0.1'],
    primaryIp: '10.0.0.1',
    os: 'Debian GNU/Linux 13',
    kernel: '6.12.0',
    arch: 'x86_64',
    platform: 'linux',
    version: '0.1.0',
    labels: {},
    tokenLabels: {},
    serverLabels: {},
    trustedLabels: {},
    sequenceRefused: null,
    bootTimeMs: 1_700_000_000_000,
    intervalMs: 10_000,
    firstSeenMs: 1_700_000_000_000,
    lastSeenMs: 1_700_000_600_000,
    summary: {},
    status: 'online',
    connected: true,
    ...over,
  };
}
