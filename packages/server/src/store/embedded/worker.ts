/** The background worker: flushes heads and merges parts off the event loop that serves ingest and queries. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import type { WorkerMemory } from '../types.ts';
import { type FlushJob, flushHead, type MergeJob, mergeParts } from './build.ts';

/**
 * A full collection, run after each job. A job allocates hundreds of MB (a merge of a 5,000-host
 * fleet reads every input's index and decodes millions of chunks) and then the thread idles: with
 * nothing allocating, V8 keeps that garbage until the next job. At 5,000 agents the two workers'
 * heaps stood at 180 to 514 MB between jobs, and at 135 to 271 MB with this.
 */
const collect = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

parentPort?.on('message', (msg: { seq: number; job: FlushJob | MergeJob }) => {
  try {
    const result = msg.job.type === 'flush' ? flushHead(msg.job) : mergeParts(msg.job);
    parentPort?.postMessage({ seq: msg.seq, result });
  } catch (err) {
    parentPort?.postMessage({ seq: msg.seq, error: (err as Error).stack ?? String(err) });
  }
  // Once this handler has returned, so that the job itself (a flushed head's shared arrays) is garbage too.
  setImmediate(() => {
    collect();
    parentPort?.postMessage({ memory: isolateMemory() });
  });
});

/** This thread's own heap and off-heap buffers (a worker's memoryUsage() counts its isolate, the RSS is the process'). */
function isolateMemory(): WorkerMemory {
  const { heapUsed, heapTotal, external } = process.memoryUsage();
  return { heapUsed, heapTotal, external };
}
