/** The background worker: flushes heads and merges parts off the event loop that serves ingest and queries. */
import { parentPort } from 'node:worker_threads';
import { type FlushJob, flushHead, type MergeJob, mergeParts } from './build.ts';

parentPort?.on('message', (msg: { seq: number; job: FlushJob | MergeJob }) => {
  try {
    const result = msg.job.type === 'flush' ? flushHead(msg.job) : mergeParts(msg.job);
    parentPort?.postMessage({ seq: msg.seq, result });
  } catch (err) {
    parentPort?.postMessage({ seq: msg.seq, error: (err as Error).stack ?? String(err) });
  }
});
