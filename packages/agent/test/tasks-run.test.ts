import { generateKeyPairSync, sign } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pb, type SignedTaskFields, taskSigningPayload } from '@falconet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { agentTasksSchema } from '../src/tasks/config.ts';
import { type ExitReason, type RunSink, TaskExecutor } from '../src/tasks/executor.ts';
import { TaskOutbox } from '../src/tasks/outbox.ts';
import type { ApprovedRun } from '../src/tasks/policy.ts';
import { AgentTasks } from '../src/tasks/service.ts';

const log = pino({ level: 'silent' });

function collector() {
  const out: { stream: string; text: string }[] = [];
  let resolve!: (v: { code: number; reason: ExitReason; message: string }) => void;
  const done = new Promise<{ code: number; reason: ExitReason; message: string }>((r) => {
    resolve = r;
  });
  const sink: RunSink = {
    output: (stream, text) => out.push({ stream, text }),
    exit: (code, reason, message) => resolve({ code, reason, message }),
  };
  return {
    out,
    done,
    sink,
    text: (s: string) =>
      out
        .filter((o) => o.stream === s)
        .map((o) => o.text)
        .join(''),
  };
}

const run = (file: string, args: string[], extra: Partial<ApprovedRun> = {}): ApprovedRun => ({
  file,
  args,
  env: { PATH: '/usr/bin:/bin' },
  cwd: '/',
  user: '',
  timeoutMs: 10_000,
  ...extra,
});

describe('the executor', () => {
  it('runs a command without a shell, with only the configured environment, and reports its exit', async () => {
    const ex = new TaskExecutor({ concurrency: 2, queue: 2, outputLimit: 1 << 20, log });
    const c = collector();
    ex.submit('r1', run('/bin/sh', ['-c', 'echo "$0 $1 $HOME"; echo oops >&2; exit 3', '$(id)', 'arg;rm']), c.sink);
    expect(await c.done).toEqual({ code: 3, reason: '', message: 'exited with 3' });
    // $0 and $1 arrive as literal strings: nothing was interpreted by a shell on the way.
    expect(c.text('stdout')).toBe('$(id) arg;rm \n');
    expect(c.text('stderr')).toBe('oops\n');
  });

  it('reports a command that cannot start', async () => {
    const ex = new TaskExecutor({ concurrency: 1, queue: 0, outputLimit: 1024, log });
    const c = collector();
    ex.submit('r', run('/nonexistent/tool', []), c.sink);
    expect(await c.done).toMatchObject({ code: -1, reason: 'spawn_failed', message: expect.stringMatching(/ENOENT/) });
  });

  it('stops the whole process group at the timeout', async () => {
    const ex = new TaskExecutor({ concurrency: 1, queue: 0, outputLimit: 1024, log, killGraceMs: 200 });
    const c = collector();
    const marker = join(tempDir(), 'child-pid');
    ex.submit('r', run('/bin/sh', ['-c', `sleep 30 & echo $! > ${marker}; wait`], { timeoutMs: 300 }), c.sink);
    const end = await c.done;
    expect(end).toMatchObject({ reason: 'timeout', message: 'timed out after 300 ms' });
    const child = Number(readFileSync(marker, 'utf8'));
    // The grandchild went with its parent: nothing the task started outlives it.
    await eventually(() => !existsSync(`/proc/${child}`) || readFileSync(`/proc/${child}/stat`, 'utf8').split(' ')[2] === 'Z', 5000);
  });

  it('cuts output at the limit and says so, while the command runs to its end', async () => {
    const ex = new TaskExecutor({ concurrency: 1, queue: 0, outputLimit: 4096, log });
    const c = collector();
    ex.submit('r', run('/bin/sh', ['-c', 'head -c 100000 /dev/zero | tr "\\0" x; echo done >&2']), c.sink);
    expect(await c.done).toMatchObject({ code: 0 });
    expect(c.text('stdout')).toBe('x'.repeat(4096));
    expect(c.text('stderr')).toMatch(/output cut at 4096 bytes/);
  });

  it('runs at most `concurrency` at once, queues `queue` more and refuses the rest as busy', async () => {
    const ex = new TaskExecutor({ concurrency: 1, queue: 1, outputLimit: 1024, log });
    const a = collector();
    const b = collector();
    expect(ex.submit('a', run('/bin/sleep', ['0.3']), a.sink)).toBe('started');
    expect(ex.submit('b', run('/bin/echo', ['b']), b.sink)).toBe('queued');
    expect(ex.submit('c', run('/bin/echo', ['c']), collector().sink)).toMatchObject({ refused: 'busy' });
    expect(ex.running).toBe(1);
    await a.done;
    expect((await b.done).code).toBe(0);
    expect(b.text('stdout')).toBe('b\n');
  });

  it('cancels a running command and one still queued', async () => {
    const ex = new TaskExecutor({ concurrency: 1, queue: 1, outputLimit: 1024, log });
    const a = collector();
    const b = collector();
    ex.submit('a', run('/bin/sleep', ['30']), a.sink);
    ex.submit('b', run('/bin/echo', ['b']), b.sink);
    expect(ex.cancel('b')).toBe(true);
    expect(await b.done).toMatchObject({ reason: 'cancelled' });
    expect(ex.cancel('a')).toBe(true);
    expect(await a.done).toMatchObject({ reason: 'cancelled', code: 143 });
    expect(ex.cancel('zzz')).toBe(false);
  });
});

describe('the outbox', () => {
  function wire() {
    const sent: pb.TaskOutput[] = [];
    let connected = true;
    return {
      sent,
      send: (o: pb.TaskOutput) => {
        if (!connected) return false;
        sent.push(o);
        return true;
      },
      set connected(v: boolean) {
        connected = v;
      },
    };
  }

  it('keeps every record on disk until the server acknowledges the whole run', () => {
    const dir = tempDir();
    const box = new TaskOutbox(dir, { log, limitBytes: 1 << 20 });
    box.open();
    const w = wire();
    box.setSender(w.send);
    box.append('t', 't', 0, { stream: 'stdout', data: 'hello\n' });
    box.append('t', 't', 0, { stream: 'exit', data: 'exited with 0', exitCode: 0 });
    expect(w.sent.map((o) => [o.seq, o.stream, o.data.toString()])).toEqual([
      [1, pb.TaskOutput_Stream.STREAM_STDOUT, 'hello\n'],
      [2, pb.TaskOutput_Stream.STREAM_EXIT, 'exited with 0'],
    ]);
    expect(readdirSync(dir)).toEqual(['t.jsonl']);
    box.ack('t', 1);
    expect(readdirSync(dir)).toEqual(['t.jsonl']);
    box.ack('t', 2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('sends again what was not acknowledged when a new stream registers', () => {
    const box = new TaskOutbox(tempDir(), { log, limitBytes: 1 << 20 });
    box.open();
    const w = wire();
    box.setSender(w.send);
    w.connected = false;
    box.append('t', 't@1000', 1000, { stream: 'stdout', data: 'a' });
    expect(w.sent).toHaveLength(0);
    w.connected = true;
    box.reconnected();
    box.append('t', 't@1000', 1000, { stream: 'exit', data: '', exitCode: 0 });
    expect(w.sent.map((o) => o.seq)).toEqual([1, 2]);
    box.ack('t@1000', 1);
    // The stream broke before seq 2 was acknowledged: it goes again, and only it.
    box.reconnected();
    expect(w.sent.map((o) => o.seq)).toEqual([1, 2, 2]);
    expect(w.sent[2]).toMatchObject({ taskId: 't', runId: 't@1000', scheduledMs: 1000 });
  });

  it('after a crash, delivers what was on disk, ends unfinished runs as interrupted, and cuts a torn record', () => {
    const dir = tempDir();
    const first = new TaskOutbox(dir, { log, limitBytes: 1 << 20 });
    first.open();
    first.append('done', 'done', 0, { stream: 'stdout', data: 'x' });
    first.append('done', 'done', 0, { stream: 'exit', data: '', exitCode: 0 });
    first.append('half', 'half', 0, { stream: 'stdout', data: 'partial' });
    first.close();
    appendFileSync(join(dir, 'half.jsonl'), '{"taskId":"half","runId":"ha');

    const second = new TaskOutbox(dir, { log, limitBytes: 1 << 20 });
    second.open();
    const w = wire();
    second.setSender(w.send);
    second.reconnected();
    expect(w.sent.map((o) => [o.runId, o.seq, o.stream, o.reason])).toEqual([
      ['done', 1, pb.TaskOutput_Stream.STREAM_STDOUT, ''],
      ['done', 2, pb.TaskOutput_Stream.STREAM_EXIT, ''],
      ['half', 1, pb.TaskOutput_Stream.STREAM_STDOUT, ''],
      ['half', 2, pb.TaskOutput_Stream.STREAM_EXIT, 'interrupted'],
    ]);
  });

  it('drops the oldest finished runs past its size limit', () => {
    const box = new TaskOutbox(tempDir(), { log, limitBytes: 600 });
    box.open();
    for (const id of ['a', 'b', 'c']) {
      box.append(id, id, 0, { stream: 'stdout', data: 'y'.repeat(150) });
      box.append(id, id, 0, { stream: 'exit', data: '', exitCode: 0 });
    }
    expect(box.stats.droppedRuns).toBeGreaterThan(0);
    expect(box.has('c')).toBe(true);
    expect(box.has('a')).toBe(false);
  });
});

describe('the agent tasks module', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
  const agentId = 'agent-under-test';

  function signed(f: Partial<SignedTaskFields> & { taskId: string; command: string }, key = privateKey): pb.Task {
    const fields: SignedTaskFields = {
      agentId,
      args: [],
      env: {},
      schedule: '',
      timezone: '',
      timeoutMs: 0,
      issuedMs: Date.now(),
      cancel: false,
      paused: false,
      ...f,
    };
    return { ...fields, args: [...fields.args], env: { ...fields.env }, signature: sign(null, taskSigningPayload(fields), key) };
  }

  async function setup(cfg: Record<string, unknown> = {}) {
    const dataDir = tempDir();
    const sent: pb.TaskOutput[] = [];
    const tasks = new AgentTasks({
      config: agentTasksSchema.parse({
        enabled: true,
        allow: [{ command: '/bin/echo', rest: '.*' }],
        max_age: '1m',
        ...cfg,
      }),
      dataDir,
      agentId,
      hostname: 'test',
      log,
      system: { users: new Map(), uid: 1000 },
    });
    await tasks.start();
    tasks.attach({
      sendTaskOutput: (o) => {
        sent.push(o);
        // The server acknowledges each record as it arrives.
        queueMicrotask(() => tasks.onAck({ runId: o.runId, seq: o.seq }));
        return true;
      },
    });
    tasks.onRegistered({ agentId, lastSeq: 0, intervalMs: 0, serverTimeMs: Date.now(), taskPublicKey: raw, compactSamples: false });
    const ended = (runId: string) =>
      eventually(() =>
        sent.find(
          (o) => o.runId === runId && (o.stream === pb.TaskOutput_Stream.STREAM_EXIT || o.stream === pb.TaskOutput_Stream.STREAM_REFUSED),
        ),
      );
    return { tasks, sent, dataDir, ended };
  }

  it('runs a signed task once, and refuses it when played again', async () => {
    const { tasks, sent, ended } = await setup();
    const task = signed({ taskId: 't1', command: '/bin/echo', args: ['hi'] });
    tasks.onTask(task);
    expect((await ended('t1')).exitCode).toBe(0);
    expect(sent.find((o) => o.stream === pb.TaskOutput_Stream.STREAM_STDOUT)?.data.toString()).toBe('hi\n');
    tasks.onTask(task);
    const replay = await eventually(() => sent.find((o) => o.reason === 'replayed'));
    expect(replay.stream).toBe(pb.TaskOutput_Stream.STREAM_REFUSED);
    await tasks.stop();
  });

  it("refuses a bad signature, another agent's task, an old task and an unlisted command, each saying why", async () => {
    const { tasks, ended } = await setup();
    const other = generateKeyPairSync('ed25519').privateKey;
    tasks.onTask(signed({ taskId: 'forged', command: '/bin/echo' }, other));
    tasks.onTask(signed({ taskId: 'elsewhere', command: '/bin/echo', agentId: 'someone-else' }));
    tasks.onTask(signed({ taskId: 'stale', command: '/bin/echo', issuedMs: Date.now() - 120_000 }));
    tasks.onTask(signed({ taskId: 'rm', command: '/bin/rm', args: ['-rf', '/'] }));
    expect((await ended('forged')).reason).toBe('bad_signature');
    expect(await ended('elsewhere')).toMatchObject({ reason: 'invalid' });
    expect((await ended('elsewhere')).data.toString()).toMatch(/signed for agent "someone-else"/);
    expect((await ended('stale')).reason).toBe('expired');
    expect((await ended('rm')).reason).toBe('not_allowed');
    await tasks.stop();
  });

  it('keeps a cron job on disk, pauses, resumes and removes it as the server says', async () => {
    const { tasks, sent, dataDir } = await setup();
    tasks.onTask(signed({ taskId: 'job', command: '/bin/echo', args: ['tick'], schedule: '* * * * * *', timezone: 'Asia/Tokyo' }));
    expect(tasks.jobs.get('job')).toMatchObject({ schedule: '* * * * * *', timezone: 'Asia/Tokyo', paused: false });
    const saved = JSON.parse(readFileSync(join(dataDir, 'tasks', 'jobs.json'), 'utf8')) as { taskId: string }[];
    expect(saved.map((j) => j.taskId)).toEqual(['job']);
    const fired = await eventually(
      () => sent.find((o) => o.runId.startsWith('job@') && o.stream === pb.TaskOutput_Stream.STREAM_EXIT),
      5000,
    );
    expect(Number(fired.runId.split('@')[1]) % 1000).toBe(0);
    expect(fired.scheduledMs).toBe(Number(fired.runId.split('@')[1]));

    tasks.onTask(
      signed({ taskId: 'job', command: '/bin/echo', args: ['tick'], schedule: '* * * * * *', timezone: 'Asia/Tokyo', paused: true }),
    );
    expect(tasks.jobs.get('job')?.paused).toBe(true);
    // An older signed message cannot undo the pause.
    tasks.onTask(signed({ taskId: 'job', command: '/bin/echo', args: ['tick'], schedule: '* * * * * *', issuedMs: Date.now() - 5000 }));
    expect(tasks.jobs.get('job')?.paused).toBe(true);
    tasks.onTask(
      signed({
        taskId: 'job',
        command: '/bin/echo',
        args: ['tick'],
        schedule: '* * * * * *',
        timezone: 'Asia/Tokyo',
        issuedMs: Date.now() + 1,
      }),
    );
    expect(tasks.jobs.get('job')?.paused).toBe(false);

    tasks.onTask(signed({ taskId: 'job', command: '/bin/echo', schedule: '* * * * * *', cancel: true, issuedMs: Date.now() + 2 }));
    expect(tasks.jobs.get('job')).toBeUndefined();
    await tasks.stop();
  });

  it('refuses a cron job with a schedule or time zone croner cannot read', async () => {
    const { tasks, sent } = await setup();
    tasks.onTask(signed({ taskId: 'bad', command: '/bin/echo', schedule: '61 * * * *' }));
    tasks.onTask(signed({ taskId: 'mars', command: '/bin/echo', schedule: '* * * * *', timezone: 'Mars/Olympus' }));
    const r = await eventually(() => sent.find((o) => o.taskId === 'bad'));
    expect(r).toMatchObject({ reason: 'invalid', stream: pb.TaskOutput_Stream.STREAM_REFUSED });
    const tz = await eventually(() => sent.find((o) => o.taskId === 'mars'));
    expect(tz).toMatchObject({ reason: 'invalid' });
    expect(tz.data.toString()).toMatch(/Invalid timezone 'Mars\/Olympus'/);
    expect(tasks.jobs.list()).toEqual([]);
    await tasks.stop();
  });

  it('refuses everything, and says so, when tasks are disabled', async () => {
    const { tasks, ended } = await setup({ enabled: false });
    tasks.onTask(signed({ taskId: 'x', command: '/bin/echo' }));
    expect((await ended('x')).reason).toBe('disabled');
    await tasks.stop();
  });
});
