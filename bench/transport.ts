/**
 * bench/transport: samples per second end to end, from simulated agents over the real gRPC stream
 * into the store of a real falconet-server process (acknowledged = durable), and bytes on the wire
 * per sample, counted by a TCP proxy between the agents and the server, in the compact encoding
 * (docs/transport.md) beside whole SampleBatches with and without gzip, all three over the same
 * reports. The throughput reports are one real collection of this host with values moved a
 * little; the wire reports are successive real collections of this host at the agent's default
 * 10 s interval, so the values change as a real host's do.
 */
import { CollectorSet, familiesToSamples, loadCollectorDefinitions, MemoryBacklog, ReportStream, selectCollectors } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { agentConfigSchema } from '../packages/agent/src/config.ts';
import { bareIdentity, MemorySequence } from '../testing/agent-channel.ts';
import { startServer } from '../testing/processes.ts';
import { TcpProxy } from '../testing/proxy.ts';
import { cpuSeconds, emit, progress, quick } from './lib.ts';

const log = pino({ level: 'silent' });

/** Report `k` of an agent: the template at a time of its own, values moved a little as real ones do. */
function reportAt(template: Sample[], k: number, t0: number): Sample[] {
  return template.map((s, i) => ({ ...s, value: s.value + ((k * 31 + i) % 7), timestampMs: t0 + k * 1000 }));
}

/** Successive real collections of this host, `gapMs` apart. */
async function hostCollections(n: number, gapMs: number): Promise<Sample[][]> {
  const set = new CollectorSet(selectCollectors(await loadCollectorDefinitions(), {}), {
    roots: { proc: '/proc', sys: '/sys', rootfs: '/' },
    log,
    timeoutMs: 5000,
    config: agentConfigSchema.parse({}),
  });
  const out: Sample[][] = [];
  for (let i = 0; i < n; i++) {
    if (i) await new Promise((r) => setTimeout(r, gapMs));
    const c = await set.collect();
    out.push(familiesToSamples(c.families, c.timestampMs));
  }
  return out;
}

interface Encoding {
  gzip: boolean;
  compact: boolean;
}

/** `agents` streams, each with `reports` reports spooled before it connects; resolves when all are acknowledged. */
async function run(
  target: { host: string; port: number },
  prefix: string,
  agents: number,
  reports: number,
  reportOf: (k: number) => Sample[],
  encoding: Encoding,
) {
  const streams: ReportStream[] = [];
  for (let a = 0; a < agents; a++) {
    const stream = new ReportStream({
      address: { host: target.host, port: target.port, tls: false },
      identity: bareIdentity(`${prefix}-${a}`, { os: 'bench' }),
      labels: {},
      token: '',
      intervalMs: 1000,
      log,
      sequence: new MemorySequence(),
      backlog: new MemoryBacklog(reports + 1),
      ...encoding,
    });
    for (let k = 0; k < reports; k++) await stream.enqueue(reportOf(k));
    streams.push(stream);
  }
  const started = performance.now();
  for (const s of streams) s.start();
  const done = await Promise.all(streams.map((s) => s.flush(600_000)));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(streams.map((s) => s.stop()));
  if (!done.every(Boolean)) throw new Error(`${prefix}: not every report was acknowledged`);
  let samples = 0;
  for (let k = 0; k < reports; k++) samples += reportOf(k).length;
  return { seconds, samples: agents * samples, reports: agents * reports };
}

const [template = []] = await hostCollections(1, 0);
progress(`one collection of this host: ${template.length} samples per report`);
const server = await startServer();
try {
  const target = { host: '127.0.0.1', port: server.grpcPort };

  const agents = quick ? 10 : 50;
  const reports = quick ? 15 : 40;
  const t0 = Date.now() - reports * 1000;
  // Both encodings over the same reports, each with its own agents, after a short untimed run of
  // each so that neither pays the server's and this process's warm-up alone.
  for (const compact of [true, false])
    await run(target, `warm-${compact}`, 2, 5, (k) => reportAt(template, k, t0), { gzip: true, compact });
  for (const [name, encoding] of [
    ['compact', { gzip: true, compact: true }],
    ['sample_batch', { gzip: true, compact: false }],
  ] as const) {
    progress(`throughput (${name}): ${agents} agents x ${reports} reports x ${template.length} samples into the store`);
    const cpu0 = cpuSeconds(server.child.pid as number);
    const agentCpu0 = process.cpuUsage();
    const t = await run(target, `tput-${name}`, agents, reports, (k) => reportAt(template, k, t0), encoding);
    const serverCpu = cpuSeconds(server.child.pid as number) - cpu0;
    const agentCpu = process.cpuUsage(agentCpu0);
    progress(`${t.samples} samples in ${t.seconds.toFixed(1)} s`);
    emit({
      bench: 'transport',
      metric: 'samples_per_s',
      value: Math.round(t.samples / t.seconds),
      unit: 'samples/s',
      encoding: name,
      agents,
      reports: t.reports,
      samples: t.samples,
    });
    emit({ bench: 'transport', metric: 'reports_per_s', value: Math.round(t.reports / t.seconds), unit: 'reports/s', encoding: name });
    emit({
      bench: 'transport',
      metric: 'server_cpu_us_per_sample',
      value: Number(((serverCpu / t.samples) * 1e6).toFixed(2)),
      unit: 'us',
      encoding: name,
    });
    // The simulated agents' side (spooling, encoding, gzip, gRPC), all in this process.
    emit({
      bench: 'transport',
      metric: 'agent_cpu_us_per_sample',
      value: Number(((agentCpu.user + agentCpu.system) / t.samples).toFixed(2)),
      unit: 'us',
      encoding: name,
    });
  }

  // Wire bytes: real successive collections through a counting proxy, in each encoding. A stream
  // carrying only the first report, then one carrying them all: the difference is what the reports
  // after the first cost (the compact encoding sends names and labels in the first only).
  const wireReports = quick ? 4 : 7;
  progress(`wire: ${wireReports} real collections of this host, 10 s apart`);
  const collections = await hostCollections(wireReports, 10_000);
  const proxy = new TcpProxy(target);
  await proxy.listen();
  const via = { host: '127.0.0.1', port: proxy.port };
  const wireAgents = 5;
  const reportOf = (k: number) => collections[k] as Sample[];
  for (const [name, encoding] of [
    ['compact', { gzip: true, compact: true }],
    ['gzip', { gzip: true, compact: false }],
    ['raw', { gzip: false, compact: false }],
  ] as const) {
    let before = proxy.bytesUp;
    const first = await run(via, `wire-${name}-1`, wireAgents, 1, reportOf, encoding);
    const firstBytes = proxy.bytesUp - before;
    before = proxy.bytesUp;
    const all = await run(via, `wire-${name}-n`, wireAgents, wireReports, reportOf, encoding);
    const allBytes = proxy.bytesUp - before;
    const after = (allBytes - firstBytes) / (all.samples - first.samples);
    progress(`${name}: ${firstBytes} bytes up for the first report, ${allBytes} for all ${wireReports}, ${wireAgents} agents`);
    emit({
      bench: 'transport',
      metric: `wire_bytes_per_sample_${name}`,
      value: Number((allBytes / all.samples).toFixed(2)),
      unit: 'bytes',
      reports: wireReports,
      samples_per_report: Math.round(all.samples / all.reports),
    });
    emit({
      bench: 'transport',
      metric: `wire_bytes_per_sample_after_first_${name}`,
      value: Number(after.toFixed(2)),
      unit: 'bytes',
      ...(name === 'compact' ? { goal: 4 } : {}),
    });
  }
  await proxy.close();
} finally {
  await server.stop();
}
