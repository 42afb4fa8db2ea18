/**
 * bench/transport: samples per second end to end, from simulated agents over the real gRPC stream
 * into the store of a real falconet-server process (acknowledged = durable), and bytes on the wire
 * per sample with and without gzip, counted by a TCP proxy between the agents and the server.
 * Reports are built from one real collection of this host, so the samples have node_exporter's
 * names, labels and values.
 */
import { CollectorSet, familiesToSamples, loadCollectorDefinitions, MemoryBacklog, ReportStream, selectCollectors } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { bareIdentity, MemorySequence } from '../testing/agent-channel.ts';
import { startServer } from '../testing/processes.ts';
import { TcpProxy } from '../testing/proxy.ts';
import { cpuSeconds, emit, progress, quick } from './lib.ts';

const log = pino({ level: 'silent' });

async function hostSamples(): Promise<Sample[]> {
  const set = new CollectorSet(selectCollectors(await loadCollectorDefinitions(), {}), {
    roots: { proc: '/proc', sys: '/sys', rootfs: '/' },
    log,
    timeoutMs: 5000,
  });
  const c = await set.collect();
  return familiesToSamples(c.families, c.timestampMs);
}

/** Report `k` of an agent: the template at a time of its own, values moved a little as real ones do. */
function reportAt(template: Sample[], k: number, t0: number): Sample[] {
  return template.map((s, i) => ({ ...s, value: s.value + ((k * 31 + i) % 7), timestampMs: t0 + k * 1000 }));
}

/** `agents` streams, each with `reports` reports spooled before it connects; resolves when all are acknowledged. */
async function run(
  target: { host: string; port: number },
  prefix: string,
  agents: number,
  reports: number,
  template: Sample[],
  gzip: boolean,
) {
  const t0 = Date.now() - reports * 1000;
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
      gzip,
    });
    for (let k = 0; k < reports; k++) await stream.enqueue(reportAt(template, k, t0));
    streams.push(stream);
  }
  const started = performance.now();
  for (const s of streams) s.start();
  const done = await Promise.all(streams.map((s) => s.flush(600_000)));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(streams.map((s) => s.stop()));
  if (!done.every(Boolean)) throw new Error(`${prefix}: not every report was acknowledged`);
  return { seconds, samples: agents * reports * template.length, reports: agents * reports };
}

const template = await hostSamples();
progress(`one collection of this host: ${template.length} samples per report`);
const server = await startServer();
try {
  const target = { host: '127.0.0.1', port: server.grpcPort };

  const agents = quick ? 10 : 50;
  const reports = quick ? 15 : 40;
  progress(`throughput: ${agents} agents x ${reports} reports x ${template.length} samples into the store`);
  const cpu0 = cpuSeconds(server.child.pid as number);
  const t = await run(target, 'tput', agents, reports, template, true);
  const serverCpu = cpuSeconds(server.child.pid as number) - cpu0;
  const perSecond = t.samples / t.seconds;
  progress(`${t.samples} samples in ${t.seconds.toFixed(1)} s`);
  emit({
    bench: 'transport',
    metric: 'samples_per_s',
    value: Math.round(perSecond),
    unit: 'samples/s',
    agents,
    reports: t.reports,
    samples: t.samples,
  });
  emit({ bench: 'transport', metric: 'reports_per_s', value: Math.round(t.reports / t.seconds), unit: 'reports/s' });
  emit({ bench: 'transport', metric: 'server_cpu_us_per_sample', value: Number(((serverCpu / t.samples) * 1e6).toFixed(2)), unit: 'us' });

  // Wire bytes: the same workload through a counting proxy, gzip on and off.
  const proxy = new TcpProxy(target);
  await proxy.listen();
  const via = { host: '127.0.0.1', port: proxy.port };
  const wireAgents = 5;
  const wireReports = quick ? 10 : 30;
  for (const gzip of [true, false]) {
    const before = proxy.bytesUp;
    const w = await run(via, gzip ? 'wire-gz' : 'wire-raw', wireAgents, wireReports, template, gzip);
    const perSample = (proxy.bytesUp - before) / w.samples;
    progress(`${gzip ? 'gzip' : 'raw'}: ${proxy.bytesUp - before} bytes up for ${w.samples} samples`);
    emit({
      bench: 'transport',
      metric: gzip ? 'wire_bytes_per_sample_gzip' : 'wire_bytes_per_sample_raw',
      value: Number(perSample.toFixed(2)),
      unit: 'bytes',
      samples_per_report: template.length,
    });
  }
  await proxy.close();
} finally {
  await server.stop();
}
