import type { ProbeConfig } from '@falconet/protocol/probes';
import { type MetricFamily, MetricWriter } from '../metrics.ts';
import { probeDns } from './dns.ts';
import { probeGrpc } from './grpc.ts';
import { probeHttp } from './http.ts';
import { probeIcmp } from './icmp.ts';
import { ProbeOut, ProbeSetupError } from './out.ts';
import { probeTcp } from './tcp.ts';

/** Where a run says why it failed: a debug line, or a setup problem worth one warning. */
export interface ProbeRunLog {
  debug?: (fields: Record<string, unknown>, message: string) => void;
  setupError?: (message: string) => void;
}

/**
 * Runs one probe once within its timeout and returns its series, probe_success and
 * probe_duration_seconds included. The clock spans what blackbox_exporter's handler times around
 * its prober: from before the target's name is resolved to the prober's verdict, so the lookup,
 * the socket's setup and the exchange are in it, the writing of the results is not.
 */
export async function runProbe(p: ProbeConfig, log: ProbeRunLog = {}): Promise<MetricFamily[]> {
  const writer = new MetricWriter();
  const out = new ProbeOut(writer, { ...p.labels, probe: p.id, target: p.target, kind: p.kind });
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`timed out after ${p.timeout} ms`));
    }, p.timeout);
  });
  let ok = false;
  const started = performance.now();
  let ended = started;
  try {
    ok = await Promise.race([dispatch(p, out, ctl.signal), timedOut]);
    ended = performance.now();
  } catch (err) {
    ended = performance.now();
    if (err instanceof ProbeSetupError) log.setupError?.(err.message);
    log.debug?.({ probe: p.id, target: p.target, err: (err as Error).message }, 'probe failed');
  } finally {
    clearTimeout(timer);
  }
  out.gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds', (ended - started) / 1000);
  out.gauge('probe_success', 'Displays whether or not the probe was a success', ok ? 1 : 0);
  return writer.families();
}

function dispatch(p: ProbeConfig, out: ProbeOut, signal: AbortSignal): Promise<boolean> {
  switch (p.kind) {
    case 'http':
      return probeHttp(p, out, signal);
    case 'tcp':
      return probeTcp(p, out, signal);
    case 'icmp':
      return probeIcmp(p, out, signal, p.timeout);
    case 'dns':
      return probeDns(p, out, signal);
    case 'grpc':
      return probeGrpc(p, out, signal, p.timeout);
  }
}
