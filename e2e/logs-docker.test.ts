import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, type pb } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logsSchema } from '../packages/agent/src/logs/config.ts';
import { Demux, dockerNanos } from '../packages/agent/src/logs/docker.ts';
import { LogShipper } from '../packages/agent/src/logs/shipper.ts';
import { eventually, tempDir } from '../testing/processes.ts';
import { type Dockerd, startDockerd, TEST_IMAGE } from './containers-dockerd.ts';

class Sink {
  seq = 0;
  records: pb.LogRecord[] = [];
  async enqueueLogs(batch: pb.LogBatch, before: (seq: number) => Promise<void>): Promise<void> {
    await before(++this.seq);
    this.records.push(...structuredClone(batch.records));
  }
}

describe('docker log source, on a real dockerd', () => {
  let dockerd: Dockerd;
  const dir = tempDir('falconet-logs-docker-');
  beforeAll(async () => {
    dockerd = await startDockerd();
  });
  afterAll(async () => {
    await dockerd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows a container's stdout and stderr with Docker's times; a restarted shipper repeats and skips nothing", async () => {
    // Numbered lines on both streams, then a steady trickle that goes on while the shipper is stopped.
    await dockerd.docker(
      'run',
      '-d',
      '--name',
      'talker',
      '--network',
      'none',
      TEST_IMAGE,
      'sh',
      '-c',
      'i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done; while true; do i=$((i+1)); echo "out $i"; sleep 0.02; done',
    );
    await dockerd.docker(
      'run',
      '-d',
      '--name',
      'ignored',
      '--network',
      'none',
      TEST_IMAGE,
      'sh',
      '-c',
      'while true; do echo nope; sleep 1; done',
    );
    const config = logsSchema.parse({
      sources: [{ name: 'docker', type: 'docker', docker_socket: dockerd.socket, containers: ['talk*'], labels: ['container'] }],
      batch: { max_wait: '50ms' },
      scan_interval: '200ms',
    });
    const sink = new Sink();
    const start = async () => {
      const s = new LogShipper({ config, dir: join(dir, 'state'), sink, spoolLastSeq: sink.seq, log: pino({ level: 'silent' }) });
      await s.start();
      return s;
    };
    let s = await start();
    await eventually(() => sink.records.filter((r) => r.message.startsWith('out')).length >= 300, 60_000);
    await s.stop();
    const stoppedAt = sink.records.length;
    await new Promise((r) => setTimeout(r, 1500));
    s = await start();
    await eventually(() => sink.records.length >= stoppedAt + 100, 60_000);
    await s.stop();

    const err = sink.records.filter((r) => r.message.startsWith('err '));
    const out = sink.records.filter((r) => r.message.startsWith('out '));
    expect(err.map((r) => r.message)).toEqual(Array.from({ length: 200 }, (_, i) => `err ${i + 1}`));
    const outNumbers = out.map((r) => Number(r.message.slice(4)));
    // Every line once, in order, the ones written while the shipper was stopped included.
    expect(outNumbers).toEqual(Array.from({ length: outNumbers.length }, (_, i) => i + 1));
    expect(sink.records.some((r) => r.message === 'nope')).toBe(false);
    expect(err[0]).toMatchObject({
      source: 'docker',
      stream: 'talker',
      labels: { container: 'talker' },
      fields: { std: 'stderr', image: TEST_IMAGE },
      level: LogLevel.LOG_LEVEL_UNSPECIFIED,
    });
    expect(Math.abs((err[0] as pb.LogRecord).timeMs - Date.now())).toBeLessThan(10 * 60_000);
    process.stderr.write(
      `logs-docker: ${sink.records.length} lines from a real container, ${stoppedAt} before the restart, none repeated\n`,
    );
  }, 120_000);

  it("reads Docker's multiplexed frames and times", () => {
    const frame = (type: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = type;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    const d = new Demux(false);
    const all = Buffer.concat([frame(1, 'a1\na'), frame(2, 'e1\n'), frame(1, '2\n')]);
    // Split anywhere, frames still come out whole.
    const got = [...d.push(all.subarray(0, 5)), ...d.push(all.subarray(5, 13)), ...d.push(all.subarray(13))];
    expect(got).toEqual([
      { std: 'stdout', line: 'a1' },
      { std: 'stderr', line: 'e1' },
      { std: 'stdout', line: 'a2' },
    ]);
    expect(new Demux(true).push(Buffer.from('t1\r\nt2\n'))).toEqual([
      { std: 'stdout', line: 't1' },
      { std: 'stdout', line: 't2' },
    ]);
    expect(dockerNanos('2026-12-06T12:00:00.5Z')).toBe(1_796_558_400_500_000_000n);
    expect(dockerNanos('2026-12-06T12:00:00.000000001Z')).toBe(1_796_558_400_000_000_001n);
    expect(dockerNanos('yesterday')).toBeUndefined();
  });
});
