/**
 * A process of simulated agents for the ingest and query benchmarks, so that generating and
 * sending reports does not share the server's event loop. Agents are spread over `slots`
 * simulators started at even offsets within the interval (real agents do not all report in
 * the same millisecond). Prints one JSON line every 2 s on stdout:
 * {"loopMaxMs","connected","queued","generated","latencies":[[enqueuedAtMs, ms]...]} where a latency
 * is the time from a report's enqueue to the moment the agent's queue drained (the server
 * acknowledged it), and loopMaxMs the longest event loop delay of this process in those 2 s.
 *
 * SERIES is a number of realistic series per host, or a JSON file of the series a real agent
 * sent (see SimulatedSeries in lib-fleet.ts).
 *
 * usage: node bench/lib-agents.ts SERVER COUNT FIRST_INDEX SERIES INTERVAL_MS [SLOTS]
 */

import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AgentSimulator } from '../testing/simulator.ts';
import { simulatedSeries } from './lib-fleet.ts';

const [server, countArg, firstArg, seriesArg, intervalArg, slotsArg] = process.argv.slice(2);
if (!server || !countArg || !firstArg || !seriesArg || !intervalArg) {
  process.stderr.write('usage: lib-agents.ts SERVER COUNT FIRST_INDEX SERIES INTERVAL_MS [SLOTS]\n');
  process.exit(2);
}
const count = Number(countArg);
const first = Number(firstArg);
const intervalMs = Number(intervalArg);
const slots = Math.max(1, Math.min(count, Number(slotsArg ?? Math.ceil(count / 25))));
const generate = simulatedSeries(/^\d+$/.test(seriesArg) ? Number(seriesArg) : JSON.parse(readFileSync(seriesArg, 'utf8')));

/** [enqueue wall-clock ms, ack latency ms] */
let latencies: [number, number][] = [];
const sims: AgentSimulator[] = [];
const perSlot = Math.ceil(count / slots);
for (let s = 0; s < slots; s++) {
  const n = Math.min(perSlot, count - s * perSlot);
  if (n <= 0) break;
  const base = first + s * perSlot;
  const enqueuedAt = new Float64Array(n);
  let sim: AgentSimulator | undefined;
  sim = new AgentSimulator({
    server,
    count: n,
    intervalMs,
    prefix: `bench-${base}`,
    ledger: false,
    // The backlog is memory here and what goes on the wire is the compact encoding, built from the
    // report's samples: gzipping each report's SampleBatch for a backlog that is never read unless a
    // stream breaks cost the simulators a quarter of their CPU, which the server's machine then lacked.
    gzip: false,
    labels: (i) => ({ group: `g${(base + i) % 10}`, sim: 'true' }),
    series: (i, t) => {
      const samples = generate(base + i, t);
      enqueuedAt[i] = performance.now();
      // After the whole tick has enqueued, wait on each agent's queue to drain.
      if (i === n - 1) {
        setImmediate(() => {
          sim?.streams.forEach((stream, k) => {
            const at = enqueuedAt[k] as number;
            void stream.flush(120_000).then((ok) => {
              const ms = performance.now() - at;
              if (ok) latencies.push([Math.round(Date.now() - ms), Math.round(ms * 10) / 10]);
            });
          });
        });
      }
      return samples;
    },
  });
  const start = sim;
  setTimeout(() => start.start(), Math.floor((s * intervalMs) / slots));
  sims.push(sim);
}

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

setInterval(() => {
  const report = {
    loopMaxMs: Math.round(loopDelay.max / 1e6),
    connected: sims.reduce((k, s) => k + s.connected, 0),
    queued: sims.reduce((k, s) => k + s.queued, 0),
    generated: sims.reduce((k, s) => k + s.generated.reduce((a, b) => a + b, 0), 0),
    latencies,
  };
  latencies = [];
  loopDelay.reset();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}, 2000);

process.on('SIGTERM', () => {
  void Promise.all(sims.map((s) => s.stop())).then(() => process.exit(0));
});
