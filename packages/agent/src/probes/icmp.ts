import { spawn } from 'node:child_process';
import type { ProbeOf } from '@falconet/protocol/probes';
import { type ProbeOut, ProbeSetupError, resolveTarget, writeResolved } from './out.ts';

/**
 * ICMP echo through iputils' `ping`: Node has no ICMP sockets, and `ping` already opens an
 * unprivileged datagram ICMP socket where net.ipv4.ping_group_range allows the agent's group, and
 * a raw one where it has CAP_NET_RAW (docs/probes.md says why not the native addon). One echo per
 * run, as blackbox_exporter sends.
 */
export async function probeIcmp(p: ProbeOf<'icmp'>, out: ProbeOut, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  const resolved = await resolveTarget(p.target);
  writeResolved(out, resolved);
  out.gauge('probe_icmp_duration_seconds', 'Duration of icmp request by phase', resolved.seconds, { phase: 'resolve' });
  const setupStarted = performance.now();
  const waitS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const args = ['-n', '-c', '1', '-W', String(waitS), resolved.family === 6 ? '-6' : '-4', resolved.address];
  const { code, stdout, stderr, spawnedS } = await run('ping', args, signal, setupStarted);
  out.gauge('probe_icmp_duration_seconds', 'Duration of icmp request by phase', spawnedS, { phase: 'setup' });
  const rtt = /time[=<]([\d.]+) ms/.exec(stdout);
  const ttl = /ttl=(\d+)/.exec(stdout);
  out.gauge('probe_icmp_duration_seconds', 'Duration of icmp request by phase', rtt ? Number(rtt[1]) / 1000 : 0, { phase: 'rtt' });
  if (ttl) out.gauge('probe_icmp_reply_hop_limit', 'Replied packet hop limit (TTL for ipv4)', Number(ttl[1]));
  if (code !== 0 && /permitted|permission|socket/i.test(stderr)) throw new ProbeSetupError(icmpNotAllowed(stderr));
  return code === 0 && rtt !== null;
}

/** One line saying why this process may not ping, and what to change. */
export function icmpNotAllowed(stderr: string): string {
  const gid = process.getgid?.() ?? -1;
  return `icmp: ping may not open an ICMP socket (${stderr.trim().split('\n')[0]}); allow group ${gid} with sysctl net.ipv4.ping_group_range="${gid} ${gid}" or give ping CAP_NET_RAW`;
}

function run(
  file: string,
  args: string[],
  signal: AbortSignal,
  startedMs: number,
): Promise<{ code: number; stdout: string; stderr: string; spawnedS: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let spawnedS = 0;
    child.once('spawn', () => {
      spawnedS = (performance.now() - startedMs) / 1000;
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new ProbeSetupError('icmp: the ping command is not installed (Debian: iputils-ping)') : err),
    );
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr, spawnedS }));
  });
}
