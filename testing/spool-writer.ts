/**
 * A process that does nothing but write to a Spool as fast as it can, so a test can SIGKILL it in
 * the middle of writes. Each line on stdout is a fact the parent checks after the next start:
 *   {"event":"opened", ...}  what the reopened spool holds (every record verified against its seq)
 *   {"event":"appended","seq":N}  N is durable
 *   {"event":"acked","seq":N}     the (simulated) server holds everything up to N
 * Usage: node --conditions=source testing/spool-writer.ts DIR
 */
import { PayloadEncoding } from '@falconet/protocol';
import pino from 'pino';
import { Spool } from '../packages/agent/src/transport/spool.ts';

export function payloadFor(seq: number): Buffer {
  const size = 1024 + ((seq * 7919) % 63) * 1024;
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (seq * 31 + i * 7) & 255;
  return b;
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: spool-writer.ts DIR');
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const spool = await Spool.open({
  dir,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 86_400_000,
  segmentBytes: 1024 * 1024,
  log: pino({ level: 'warn' }, process.stderr),
});
const replay: { seq: number; intact: boolean }[] = [];
const reader = spool.reader(spool.ackedSeq);
for (let r = await reader.next(); r; r = await reader.next()) replay.push({ seq: r.seq, intact: r.payload.equals(payloadFor(r.seq)) });
reader.close();
out({ event: 'opened', ackedSeq: spool.ackedSeq, lastSeq: spool.lastSeq, truncatedBytes: spool.stats.truncatedBytes, replay });
for (let seq = spool.lastSeq + 1; ; seq++) {
  await spool.append([
    { seq, createdMs: Date.now(), sampleCount: 1, encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload: payloadFor(seq) },
  ]);
  out({ event: 'appended', seq });
  if (seq % 4 === 0) {
    spool.ack(seq - 2);
    out({ event: 'acked', seq: seq - 2 });
  }
}
