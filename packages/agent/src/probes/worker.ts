// The probe worker thread: runs every probe on its own timer, away from the agent's main loop
// (collection, compression, scrapes), and posts each result back to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { useNativeAddonFile } from '../native.ts';
import type { FromProbeWorker, ProbeWorkerData, ToProbeWorker } from './messages.ts';
import { runProbe } from './run.ts';
import { ProbeSchedule } from './schedule.ts';

const port = parentPort;
if (!port) throw new Error('probes/worker.ts runs as a worker thread of the agent');
const data = workerData as ProbeWorkerData;
if (data.addonFile) useNativeAddonFile(data.addonFile);
const post = (m: FromProbeWorker) => port.postMessage(m);

const schedule = new ProbeSchedule(
  (p) =>
    runProbe(p, {
      setupError: (message) => post({ type: 'setup-error', id: p.id, message }),
      ...(data.debug ? { debug: (fields, message) => post({ type: 'debug', fields, message }) } : {}),
    }),
  (id, key, families) => post({ type: 'result', id, key, families }),
);

port.on('message', (m: ToProbeWorker) => {
  if (m.type === 'update') schedule.update(m.probes);
  else {
    schedule.stop();
    port.close();
  }
});
