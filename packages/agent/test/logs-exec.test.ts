import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { LogLevel, type pb } from '@falconet/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { logsSchema } from '../src/logs/config.ts';
import { logsFamilies } from '../src/logs/metrics.ts';
import { LogShipper } from '../src/logs/shipper.ts';

class Sink {
  seq = 0;
  records: pb.LogRecord[] = [];
  async enqueueLogs(batch: pb.LogBatch, before: (seq: number) => Promise<void>): Promise<void> {
    await before(++this.seq);
    this.records.push(...structuredClone(batch.records));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(prefix: string) {
  const dir = tempDir(prefix);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function ship(dir: string, logs: unknown, stdin?: NodeJS.ReadableStream) {
  const sink = new Sink();
  const s = new LogShipper({
    config: logsSchema.parse(logs),
    dir: join(dir, 'state'),
    sink,
    spoolLastSeq: 0,
    log: pino({ level: 'silent' }),
    ...(stdin ? { stdin: stdin as import('node:stream').Readable } : {}),
  });
  await s.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await s.stop();
  };
  cleanups.push(stop);
  return { sink, shipper: s, stop };
}

describe('exec source', () => {
  it('reads a command that exits again and again: every line once, in order; stderr as its own stream; exits counted by code', async () => {
    const dir = setup('falconet-exec-');
    // Each run prints the next 50 numbers (the counter lives in a file) and one stderr line, then exits 3.
    const script = join(dir, 'count.sh');
    writeFileSync(
      script,
      'n=$(cat "$1" 2>/dev/null || echo 0)\nfor i in $(seq 1 50); do n=$((n+1)); echo "line $n password=hunter2"; done\n' +
        'echo "$n" > "$1"\necho "run ended at $n" >&2\nexit 3\n',
    );
    const { sink, shipper, stop } = await ship(dir, {
      sources: [
        {
          name: 'counter',
          type: 'exec',
          command: ['sh', script, join(dir, 'n')],
          restart_delay: '20ms',
          restart_max_delay: '100ms',
          redact: [{ pattern: 'password=\\S+', replacement: 'password=***' }],
          static_labels: { job: 'count' },
        },
      ],
      batch: { max_wait: '50ms' },
    });
    // Five whole runs; the stop may cut a sixth anywhere, so only the numbering is checked past them.
    await eventually(() => sink.records.filter((r) => r.stream === 'stderr').length >= 5, 30_000);
    await stop();
    const out = sink.records.filter((r) => r.stream === 'stdout');
    expect(out.length).toBeGreaterThanOrEqual(250);
    expect(out.map((r) => r.message)).toEqual(Array.from({ length: out.length }, (_, i) => `line ${i + 1} password=***`));
    expect(out[0]).toMatchObject({ source: 'counter', labels: { job: 'count' }, fields: { std: 'stdout' } });
    const err = sink.records.filter((r) => r.stream === 'stderr');
    expect(err.map((r) => r.message)).toEqual(Array.from({ length: err.length }, (_, i) => `run ended at ${(i + 1) * 50}`));
    expect(err[0]?.fields).toEqual({ std: 'stderr' });
    const exits = shipper.stats.sources[0]?.exits ?? {};
    expect(exits['3']).toBeGreaterThanOrEqual(5);
    const fam = logsFamilies(shipper.stats, 0).find((f) => f.name === 'falconet_agent_logs_exec_exits_total');
    expect(fam?.metrics).toContainEqual({ labels: { source: 'counter', code: '3' }, value: exits['3'] });
    expect(JSON.stringify(sink.records)).not.toContain('hunter2');
  }, 60_000);

  it('a clean stop reads the command to its end: nothing it wrote is lost, a last line without newline included', async () => {
    const dir = setup('falconet-exec-stop-');
    const ledger = join(dir, 'ledger');
    // Writes as fast as it can, each line after its number is in the ledger; SIGTERM ends it with an unfinished line.
    const script = join(dir, 'fast.sh');
    writeFileSync(
      script,
      `trap 'printf "unfinished"; exit 0' TERM\ni=0\nwhile :; do i=$((i+1)); echo $i > "${ledger}"; echo "n $i"; done\n`,
    );
    const { sink, stop } = await ship(dir, {
      sources: [{ name: 'fast', type: 'exec', command: ['sh', script], parser: { type: 'logfmt' } }],
      batch: { max_wait: '50ms' },
    });
    await eventually(() => sink.records.length >= 3000, 30_000);
    await stop();
    const written = Number(readFileSync(ledger, 'utf8'));
    const lines = sink.records.map((r) => r.message);
    expect(lines.at(-1)).toBe('unfinished');
    const numbered = lines.slice(0, -1);
    // Every numbered line the command got to write, once and in order (the last may be one past the ledger's).
    expect(numbered.length).toBeGreaterThanOrEqual(written - 1);
    expect(numbered).toEqual(Array.from({ length: numbered.length }, (_, i) => `n ${i + 1}`));
  }, 60_000);

  it("runs the command with its env and cwd, without the agent's FALCONET_ variables", async () => {
    const dir = setup('falconet-exec-env-');
    process.env.FALCONET_SERVER_TOKEN = 'fnt_secret';
    cleanups.push(() => {
      delete process.env.FALCONET_SERVER_TOKEN;
    });
    const { sink, stop } = await ship(dir, {
      sources: [
        {
          name: 'env',
          type: 'exec',
          command: ['sh', '-c', 'echo "token=$FALCONET_SERVER_TOKEN. mine=$MINE dir=$(pwd)"; sleep 60'],
          env: { MINE: 'yes' },
          cwd: dir,
        },
      ],
      batch: { max_wait: '50ms' },
    });
    await eventually(() => sink.records.length >= 1, 20_000);
    await stop();
    expect(sink.records[0]?.message).toBe(`token=. mine=yes dir=${dir}`);
  }, 30_000);

  it('joins multiline events and parses each through the source chain; a command that cannot start is counted and retried', async () => {
    const dir = setup('falconet-exec-ml-');
    const { sink, shipper, stop } = await ship(dir, {
      sources: [
        {
          name: 'trace',
          type: 'exec',
          command: ['sh', '-c', 'printf "ERROR boom\\n  at a\\n  at b\\nINFO fine\\n"; sleep 60'],
          multiline: { continuation: '^\\s', timeout: '100ms' },
          stderr: false,
        },
        { name: 'missing', type: 'exec', command: [join(dir, 'no-such-program')], restart_delay: '20ms', restart_max_delay: '40ms' },
      ],
      batch: { max_wait: '50ms' },
    });
    await eventually(() => sink.records.length >= 2, 20_000);
    expect(sink.records.map((r) => [r.message, r.level])).toEqual([
      ['ERROR boom\n  at a\n  at b', LogLevel.LOG_LEVEL_ERROR],
      ['INFO fine', LogLevel.LOG_LEVEL_INFO],
    ]);
    await eventually(() => (shipper.stats.sources[1]?.exits?.spawn_error ?? 0) >= 3, 20_000);
    await stop();
  }, 60_000);
});

describe('stdin source', () => {
  it("reads another process's output piped in to its end; the shipper goes on after it", async () => {
    const dir = setup('falconet-stdin-');
    const file = join(dir, 'later.log');
    writeFileSync(file, '');
    const producer = spawn('sh', ['-c', 'seq 1 500 | sed "s/^/piped /"; printf "tail without newline"'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // Node drains a child's unread stdout when the child exits; a pipe taken at once keeps it for the shipper.
    const input = producer.stdout.pipe(new PassThrough());
    const { sink, stop } = await ship(
      dir,
      {
        sources: [
          { name: 'pipe', type: 'stdin' },
          { name: 'file', include: [file] },
        ],
        batch: { max_wait: '50ms' },
        scan_interval: '100ms',
      },
      input,
    );
    await eventually(() => sink.records.filter((r) => r.source === 'pipe').length >= 501, 20_000);
    const piped = sink.records.filter((r) => r.source === 'pipe');
    expect(piped.map((r) => r.message)).toEqual([...Array.from({ length: 500 }, (_, i) => `piped ${i + 1}`), 'tail without newline']);
    expect(piped[0]?.stream).toBe('stdin');
    // stdin ended; the other source is still read.
    writeFileSync(file, 'after the end of stdin\n');
    await eventually(() => sink.records.some((r) => r.message === 'after the end of stdin'), 20_000);
    await stop();
  }, 60_000);
});

describe('exec and stdin configuration', () => {
  const bad = (...sources: Record<string, unknown>[]) => {
    const r = logsSchema.safeParse({ sources });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  it('refuses what cannot run, naming the key', () => {
    expect(bad({ name: 'x', type: 'exec' })).toEqual([
      'sources.0.command: an exec source needs a command, e.g. ["/usr/bin/tool", "--follow"]',
    ]);
    expect(bad({ name: 'x', type: 'exec', command: 'tail -f /var/log/x | grep y' })).toEqual([
      'sources.0.command: command is a list of arguments run without a shell, e.g. ["/usr/bin/tool", "--follow"]; for a shell command write ["sh", "-c", "..."]',
    ]);
    expect(bad({ name: 'x', type: 'exec', command: ['tool', ''] })).toEqual(['sources.0.command.1: an argument of command is empty']);
    expect(bad({ name: 'x', type: 'exec', command: ['tool'], include: ['/x'] })).toEqual([
      'sources.0.include: an exec source reads no files; leave include out',
    ]);
    expect(bad({ name: 'x', type: 'stdin', command: ['tool'] })).toEqual([
      'sources.0.command: a stdin source runs no command; leave command out, or use type: exec',
    ]);
    expect(bad({ name: 'x', type: 'exec', command: ['tool'], restart_delay: '10s', restart_max_delay: '1s' })).toEqual([
      'sources.0.restart_max_delay: restart_max_delay is shorter than restart_delay',
    ]);
    expect(bad({ name: 'x', type: 'exec', command: ['tool'], restart_delay: '1ms' })).toEqual([
      'sources.0.restart_delay: must be between 10ms and 1h',
    ]);
    expect(bad({ name: 'a', type: 'stdin' }, { name: 'b', type: 'stdin' })).toEqual([
      'sources.1.type: source "b" reads stdin, as "a" does: the agent has one standard input',
    ]);
    expect(bad({ name: 'a', type: 'stdin' }, { name: 'b', type: 'exec', command: ['sh', '-c', 'x | y'] })).toEqual([]);
  });
});
