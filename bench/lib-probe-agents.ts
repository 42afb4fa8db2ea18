/**
 * Simulated probe locations for the probes benchmark, in a process of their own: each agent opens
 * the real agent channel (gRPC stream), registers, takes the ProbeAssignment the server sends it,
 * and every interval reports the probe_* series a real agent's probes write for each assigned
 * monitor, with the labels the agent gives them (the probe's labels, monitor among them, plus
 * probe, target and kind). Results are simulated: the server's load does not depend on how they
 * were obtained. One monitor in 40 fails at one of its locations; https targets carry a
 * certificate expiry, one in 25 of them within 14 days.
 *
 * Prints one JSON line every 2 s on stdout:
 * {"connected","probes","reports","acked","refused","assignments"}.
 *
 * usage: node bench/lib-probe-agents.ts SERVER COUNT INTERVAL_MS
 */
import type { Sample } from '@falconet/protocol';
import { type RawStream, rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';

const [server, countArg, intervalArg] = process.argv.slice(2);
if (!server || !countArg || !intervalArg) {
  process.stderr.write('usage: lib-probe-agents.ts SERVER COUNT INTERVAL_MS\n');
  process.exit(2);
}
const count = Number(countArg);
const intervalMs = Number(intervalArg);

interface AssignedProbe {
  id: string;
  kind: string;
  target: string;
  labels: Record<string, string>;
}

/** A small stable hash, so that which monitor fails where is the same in every run. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

const stats = { reports: 0, acked: 0, refused: 0, assignments: 0 };
const agents: { stream: RawStream; probes: AssignedProbe[]; version: number; connected: boolean }[] = [];

function samplesOf(agentIndex: number, probes: readonly AssignedProbe[], t: number): Sample[] {
  const out: Sample[] = [];
  for (const p of probes) {
    const labels = { ...p.labels, probe: p.id, target: p.target, kind: p.kind };
    const h = hash(p.id);
    const up = !(h % 40 === 0 && h % count === agentIndex % count) ? 1 : 0;
    const seconds = 0.005 + ((h % 97) / 97) * 0.2 + Math.random() * 0.02;
    out.push({ name: 'probe_success', labels, value: up, timestampMs: t });
    out.push({ name: 'probe_duration_seconds', labels, value: seconds, timestampMs: t });
    if (p.kind === 'http') out.push({ name: 'probe_http_status_code', labels, value: up ? 200 : 503, timestampMs: t });
    if (p.target.startsWith('https://')) {
      const days = h % 25 === 0 ? 3 + (h % 10) : 30 + (h % 300);
      out.push({ name: 'probe_ssl_earliest_cert_expiry', labels, value: Math.round(t / 1000) + days * 86_400, timestampMs: t });
    }
  }
  return out;
}

async function run(i: number): Promise<void> {
  const stream = rawStream(server as string);
  const agent = { stream, probes: [] as AssignedProbe[], version: -1, connected: false };
  agents.push(agent);
  await registerOn(stream, registerMessage(`probe-agent-${i}`, { hostname: `probe-loc-${String(i).padStart(2, '0')}`, intervalMs }));
  agent.connected = true;
  void stream.ended.then(() => {
    agent.connected = false;
  });
  let seq = 0;
  // Reports start at even offsets within the interval, as real agents' do.
  setTimeout(
    () => {
      const tick = () => {
        if (!agent.connected || agent.probes.length === 0) return;
        stream.send(reportMessage(++seq, samplesOf(i, agent.probes, Date.now())));
        stats.reports++;
      };
      tick();
      setInterval(tick, intervalMs);
    },
    Math.floor((i * intervalMs) / count),
  );
  for (;;) {
    const m = await stream.next();
    const body = m.body;
    if (body?.$case === 'ack') {
      if (body.value.error) stats.refused++;
      else stats.acked++;
    } else if (body?.$case === 'probeAssignment') {
      const version = Number(body.value.version);
      if (version < agent.version) continue;
      agent.version = version;
      agent.probes = JSON.parse(body.value.probesJson) as AssignedProbe[];
      stats.assignments++;
    }
  }
}

for (let i = 0; i < count; i++) void run(i).catch((err: Error) => process.stderr.write(`probe agent ${i}: ${err.message}\n`));

setInterval(() => {
  const report = {
    connected: agents.filter((a) => a.connected).length,
    probes: agents.reduce((n, a) => n + a.probes.length, 0),
    ...stats,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}, 2000);

process.on('SIGTERM', () => {
  for (const a of agents) a.stream.close();
  process.exit(0);
});
