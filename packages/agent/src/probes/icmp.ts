import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ProbeOf } from '@falconet/protocol/probes';
import { optionalNativeHelpers } from '../native.ts';
import { type ProbeOut, ProbeSetupError, type Resolved, resolveTarget, writeResolved } from './out.ts';

/** One echo's outcome, whichever way it was sent. */
interface Echo {
  ok: boolean;
  setupS: number;
  rttS: number;
  hopLimit?: number | undefined;
}

/**
 * ICMP echo, one request per run as blackbox_exporter sends. With the native helpers the agent
 * opens the ICMP socket itself and times its phases as blackbox does (`setup`: the socket and the
 * request; `rtt`: send to matching reply), so probe_duration_seconds spans the same work. Without
 * them it runs iputils' `ping`, and the run then also holds a process start (docs/probes.md).
 */
export async function probeIcmp(
  p: ProbeOf<'icmp'>,
  out: ProbeOut,
  signal: AbortSignal,
  timeoutMs: number,
  via: 'auto' | 'ping' = 'auto',
): Promise<boolean> {
  const resolved = await resolveTarget(p.target);
  writeResolved(out, resolved);
  const native = via === 'auto' ? optionalNativeHelpers() : undefined;
  const echo = native ? await nativeEcho(native.icmpEcho, resolved, timeoutMs) : await pingEcho(resolved, signal, timeoutMs);
  const help = 'Duration of icmp request by phase';
  out.gauge('probe_icmp_duration_seconds', help, resolved.seconds, { phase: 'resolve' });
  out.gauge('probe_icmp_duration_seconds', help, echo.setupS, { phase: 'setup' });
  out.gauge('probe_icmp_duration_seconds', help, echo.rttS, { phase: 'rtt' });
  if (echo.hopLimit !== undefined && echo.hopLimit >= 0)
    out.gauge('probe_icmp_reply_hop_limit', 'Replied packet hop limit (TTL for ipv4)', echo.hopLimit);
  return echo.ok;
}

type IcmpEchoCall = NonNullable<ReturnType<typeof optionalNativeHelpers>>['icmpEcho'];

async function nativeEcho(icmpEcho: IcmpEchoCall, resolved: Resolved, timeoutMs: number): Promise<Echo> {
  const r = await icmpEcho(resolved.address, resolved.family, timeoutMs);
  if (r.stage === 'socket' && (r.error === constants.errno.EPERM || r.error === constants.errno.EACCES))
    throw new ProbeSetupError(
      icmpNotAllowed(`socket: ${r.error === constants.errno.EPERM ? 'Operation not permitted' : 'Permission denied'}`),
    );
  if (r.error && r.stage !== 'receive') throw new Error(`icmp: ${r.stage} failed with errno ${r.error}`);
  return { ok: r.error === 0, setupS: r.setup, rttS: r.rtt, hopLimit: r.hopLimit };
}

/** One line saying why this process may not send ICMP echoes, and what to change. */
export function icmpNotAllowed(reason: string): string {
  const gid = process.getgid?.() ?? -1;
  return `icmp: may not open an ICMP socket (${reason.trim().split('\n')[0]}); allow group ${gid} with sysctl net.ipv4.ping_group_range="${gid} ${gid}" or give the agent (or ping) CAP_NET_RAW`;
}

async function pingEcho(resolved: Resolved, signal: AbortSignal, timeoutMs: number): Promise<Echo> {
  const setupStarted = performance.now();
  const waitS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const args = ['-n', '-c', '1', '-W', String(waitS), resolved.family === 6 ? '-6' : '-4', resolved.address];
  const { code, stdout, stderr, spawnedS } = await run('ping', args, signal, setupStarted);
  if (code !== 0 && /permitted|permission|socket/i.test(stderr)) throw new ProbeSetupError(icmpNotAllowed(stderr));
  const rtt = /time[=<]([\d.]+) ms/.exec(stdout);
  const ttl = /ttl=(\d+)/.exec(stdout);
  return {
    ok: code === 0 && rtt !== null,
    setupS: spawnedS,
    rttS: rtt ? Number(rtt[1]) / 1000 : 0,
    hopLimit: ttl ? Number(ttl[1]) : undefined,
  };
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
