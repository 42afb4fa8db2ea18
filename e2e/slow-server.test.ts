import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ReportStream, Spool } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { bareIdentity, MemorySequence } from '../testing/agent-channel.ts';
import { eventually, type ServerProc, startServer, tempDir } from '../testing/processes.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  // Buffers (report payloads) live outside the JS heap.
  return (m.heapUsed + m.arrayBuffers) / 1e6;
};

/** ~60 KB that gzip cannot shrink, so the bytes are real. */
const bulky = (i: number): Sample[] =>
  Array.from({ length: 4 }, (_, j) => ({
    name: 'bulk',
    labels: { part: String(j), blob: randomBytes(11_000).toString('base64') },
    value: i,
    timestampMs: Date.now(),
  }));

describe('a stalled server', () => {
  let server: ServerProc | undefined;
  afterAll(async () => {
    server?.child.kill('SIGCONT');
    await server?.stop();
  });

  it('slows the agent down instead of filling its memory: a bounded window in flight, the rest on disk within spool.max_bytes', async () => {
    server = await startServer();
    const spool = await Spool.open({
      dir: tempDir(),
      maxBytes: 8 << 20,
      segmentBytes: 1 << 20,
      maxAgeMs: 86_400_000,
      log: pino({ level: 'silent' }),
    });
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port: server.grpcPort, tls: false },
      identity: bareIdentity('slow-1'),
      labels: {},
      token: '',
      intervalMs: 1000,
      log: pino({ level: 'silent' }),
      sequence: new MemorySequence(),
      backlog: spool,
      maxInFlight: 8,
    });
    stream.start();
    await eventually(() => stream.state === 'connected');
    await stream.enqueue(bulky(0));
    await eventually(() => stream.stats.acked === 1);

    // The server stops reading (as a wedged or overloaded one would); the agent goes on reporting.
    server.child.kill('SIGSTOP');
    const before = heapMb();
    let maxInFlight = 0;
    const REPORTS = 400;
    for (let i = 1; i <= REPORTS; i++) {
      await stream.enqueue(bulky(i));
      maxInFlight = Math.max(maxInFlight, stream.stats.inFlight);
    }
    const after = heapMb();
    const appendedMb = (spool.stats.appendedReports * 60_000) / 1e6;
    process.stderr.write(
      `slow-server: ${REPORTS} reports (~${appendedMb.toFixed(0)} MB) while the server was stopped; heap + buffers ${before.toFixed(1)} -> ${after.toFixed(1)} MB, ` +
        `in flight at most ${maxInFlight}, spool ${(spool.stats.bytes / 1e6).toFixed(1)} MB, dropped ${spool.stats.droppedBySize} oldest\n`,
    );
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(spool.stats.bytes).toBeLessThanOrEqual(8 << 20);
    expect(spool.stats.droppedBySize).toBeGreaterThan(0);
    // Memory did not follow the backlog (~24 MB of reports): what is not in flight is on disk.
    expect(after - before).toBeLessThan(appendedMb / 3);

    // The server comes back: everything still spooled is delivered, and nothing else.
    const left = spool.stats.pendingReports;
    server.child.kill('SIGCONT');
    expect(await stream.flush(60_000)).toBe(true);
    expect(spool.stats.pendingReports).toBe(0);
    expect(stream.stats.acked).toBeGreaterThanOrEqual(left);
    await stream.stop();
    await spool.close();
  });
});
