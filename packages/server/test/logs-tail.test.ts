/**
 * The live tail resumed after its socket dropped: a real server, a scripted agent on the real
 * gRPC channel, real WebSockets. The tail's `position` sent back as `after` brings the lines
 * missed meanwhile, in order and once; past the bound a `logs_gap` says how many were left out;
 * after a server restart the lines since are read from the store and the gap says so.
 */
import { LogLevel, pb } from '@falconet/protocol';
import { MAX_TAIL_CATCHUP_LINES } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { logReportMessage, type RawStream, rawStream, registerMessage, registerOn } from '../../../testing/agent-channel.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { LogFilter } from '../src/logs/query.ts';
import { TailBuffer } from '../src/logs/tail.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

interface Msg {
  type: string;
  lines?: { id: string; message: string }[];
  position?: string;
  reason?: string;
  skipped?: number;
  sinceMs?: number;
  error?: { code: string; message: string };
}

const config = { ingest: { max_samples_per_report: 5000 } };
let t: TestServer;
const dataDir = tempDir('falconet-tail-');

beforeAll(async () => {
  t = await startTestServer({ config: { ...config, data_dir: dataDir } });
});
afterAll(async () => {
  await t?.stop();
});

function line(message: string): pb.LogRecord {
  return pb.LogRecord.fromPartial({
    timeMs: Date.now(),
    observedMs: Date.now(),
    source: 'app',
    stream: 'x',
    level: LogLevel.LOG_LEVEL_INFO,
    message,
  });
}

class Agent {
  seq = 0;
  readonly s: RawStream;
  constructor(s: RawStream) {
    this.s = s;
  }
  static async connect(srv: TestServer, id: string, lastSeq = 0): Promise<Agent> {
    const { token } = await srv.server.ingest.tokens.create(`${id}-host`);
    const s = rawStream(`127.0.0.1:${srv.server.addresses?.grpc.port}`);
    await registerOn(s, registerMessage(id, { hostname: `${id}-host`, token }));
    const a = new Agent(s);
    a.seq = lastSeq;
    return a;
  }
  /** One report, acknowledged (so stored and pushed to the tails) before it resolves. */
  async send(messages: string[]): Promise<void> {
    this.s.send(logReportMessage(++this.seq, messages.map(line)));
    const m = await this.s.next();
    if (m.body?.$case !== 'ack' || m.body.value.error) throw new Error(`no ack: ${JSON.stringify(m)}`);
  }
}

async function socket(srv: TestServer): Promise<{ ws: WebSocket; got: Msg[]; lines: () => string[] }> {
  const { headers } = await srv.session('viewer');
  const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/api/live`, { headers });
  const got: Msg[] = [];
  ws.on('message', (d) => got.push(JSON.parse(String(d)) as Msg));
  await new Promise((r) => ws.once('open', r));
  const lines = () => got.filter((m) => m.type === 'logs').flatMap((m) => (m.lines ?? []).map((l) => l.message));
  return { ws, got, lines };
}

const close = (ws: WebSocket) =>
  new Promise((r) => {
    ws.once('close', r);
    ws.close();
  });
const lastPosition = (got: Msg[]) => got.filter((m) => m.type === 'logs').at(-1)?.position as string;
const numbered = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}`);

/** Tails `q` and waits for the server's answer (an empty `logs` with the starting position). */
async function tailUntilLive(ws: WebSocket, got: Msg[], q: string, a: Agent, probe: string): Promise<void> {
  ws.send(JSON.stringify({ type: 'logs_tail', q }));
  await eventually(() => got.some((m) => m.type === 'logs'));
  await a.send([probe]);
  await eventually(() => got.some((m) => m.lines?.some((l) => l.message === probe)));
}

describe('a live tail resumed after its socket dropped', () => {
  it('sends every line missed meanwhile, in order and once, then goes on live', async () => {
    const a = await Agent.connect(t, 'tl-exact');
    const q = 'host:tl-exact-host';
    const first = await socket(t);
    await tailUntilLive(first.ws, first.got, q, a, 'probe');
    await a.send(numbered('before', 1, 5));
    await eventually(() => first.lines().includes('before 5'));
    const position = lastPosition(first.got);
    expect(position).toMatch(/^[a-z0-9]+\.\d+\.\d+$/);
    await close(first.ws);

    // While away: matching lines in several reports, and other agents' lines the query leaves out.
    const other = await Agent.connect(t, 'tl-other');
    for (let r = 0; r < 3; r++) {
      await a.send(numbered('missed', r * 10 + 1, r * 10 + 10));
      await other.send(['not for this tail']);
    }

    const second = await socket(t);
    second.ws.send(JSON.stringify({ type: 'logs_tail', q, after: position }));
    await eventually(() => second.lines().length >= 30);
    await a.send(['live again']);
    await eventually(() => second.lines().includes('live again'));
    expect(second.lines()).toEqual([...numbered('missed', 1, 30), 'live again']);
    expect(second.got.some((m) => m.type === 'logs_gap')).toBe(false);
    // A position from the resumed tail resumes again.
    expect(lastPosition(second.got)).not.toBe(position);
    await close(second.ws);
    a.s.close();
    other.s.close();
  });

  it('answers a new tail with its starting position, so a drop before any line matched misses nothing either', async () => {
    const a = await Agent.connect(t, 'tl-quiet');
    const q = 'host:tl-quiet-host';
    const first = await socket(t);
    first.ws.send(JSON.stringify({ type: 'logs_tail', q }));
    await eventually(() => first.got.some((m) => m.type === 'logs'));
    const start = first.got.find((m) => m.type === 'logs');
    expect(start?.lines).toEqual([]);
    await close(first.ws);
    await a.send(['while away']);
    const second = await socket(t);
    second.ws.send(JSON.stringify({ type: 'logs_tail', q, after: start?.position }));
    await eventually(() => second.lines().includes('while away'));
    expect(second.lines()).toEqual(['while away']);
    await close(second.ws);
    a.s.close();
  });

  it(`sends at most ${MAX_TAIL_CATCHUP_LINES} lines and says how many older ones it left out`, async () => {
    const a = await Agent.connect(t, 'tl-limit');
    const q = 'host:tl-limit-host';
    const first = await socket(t);
    await tailUntilLive(first.ws, first.got, q, a, 'probe');
    const position = lastPosition(first.got);
    await close(first.ws);
    await a.send(numbered('flood', 1, 1200));

    const second = await socket(t);
    second.ws.send(JSON.stringify({ type: 'logs_tail', q, after: position }));
    await eventually(() => second.lines().length >= MAX_TAIL_CATCHUP_LINES);
    const gap = second.got.find((m) => m.type === 'logs_gap');
    expect(gap).toMatchObject({ type: 'logs_gap', reason: 'limit', skipped: 200 });
    // The gap comes before the lines it concerns; the newest lines are the ones sent.
    expect(second.got.findIndex((m) => m.type === 'logs_gap')).toBeLessThan(second.got.findIndex((m) => m.type === 'logs'));
    expect(second.lines()).toEqual(numbered('flood', 201, 1200));
    await close(second.ws);
    a.s.close();
  });

  it('refuses a position it never gave, naming the field; a tail without credentials or with an agent token is refused', async () => {
    const s = await socket(t);
    s.ws.send(JSON.stringify({ type: 'logs_tail', q: 'x', after: 'not a position' }));
    await eventually(() => s.got.some((m) => m.type === 'error'));
    expect(s.got.find((m) => m.type === 'error')?.error).toEqual({
      code: 'bad_request',
      message: 'logs_tail after: "not a position" is not a position this server gives (EPOCH.SEQ.TIME)',
    });
    await close(s.ws);
    const opens = (headers: Record<string, string>) => {
      const ws = new WebSocket(`${t.base.replace('http', 'ws')}/api/live`, { headers });
      return new Promise<number | undefined>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.once('open', () => {
          ws.close();
          resolve(undefined);
        });
      });
    };
    expect(await opens({})).toBe(401);
    // An agent's token is for the agent channel, not for reading everyone's lines.
    const { token } = await t.server.ingest.tokens.create('tl-hostile-host');
    expect(await opens({ authorization: `Bearer ${token}` })).toBe(401);
  });

  it('after a server restart, reads the lines since from the store and shows the gap', async () => {
    const a = await Agent.connect(t, 'tl-restart');
    const q = 'host:tl-restart-host';
    const first = await socket(t);
    await tailUntilLive(first.ws, first.got, q, a, 'probe');
    await a.send(['before the restart']);
    await eventually(() => first.lines().includes('before the restart'));
    const position = lastPosition(first.got);
    const lastSeq = a.seq;
    a.s.close();
    await t.stop();

    // The same data directory, so the same users and stored lines; a new process epoch.
    const users = t.userIds;
    t = await startTestServer({ config: { ...config, data_dir: dataDir }, users: false });
    Object.assign(t.userIds, users);
    const b = await Agent.connect(t, 'tl-restart', lastSeq);
    await b.send(numbered('after', 1, 3));
    const s = await socket(t);
    s.ws.send(JSON.stringify({ type: 'logs_tail', q, after: position }));
    await eventually(() => s.lines().includes('after 3'));
    const gap = s.got.find((m) => m.type === 'logs_gap');
    expect(gap).toMatchObject({ reason: 'restarted' });
    // The store is read from the last line's time on: that line may come again (the client knows it by id).
    expect(s.lines().filter((l) => l !== 'before the restart')).toEqual(numbered('after', 1, 3));
    await close(s.ws);
    b.s.close();
  });
});

describe('the lines kept for resumed tails', () => {
  it('past its window a position is resumed from the store, within the window, and the gap says expired', async () => {
    let now = Date.now();
    const buffer = new TailBuffer(() => now);
    const store = await EmbeddedLogStore.open({ dir: tempDir('falconet-tailbuf-'), retentionMs: 0, maxBytes: 0 });
    try {
      const one = await store.appendReport('tb', 'tb-host', 1, [line('one')]);
      buffer.add(one.lines);
      const position = buffer.position(one.lines[0]?.record.timeMs ?? 0);
      const filter = new LogFilter('host:tb-host');
      expect((await buffer.catchUp(position, filter, store)).lines).toEqual([]);
      buffer.add((await store.appendReport('tb', 'tb-host', 2, [line('just after')])).lines);
      // Eleven minutes on: the kept lines have gone, and those lines are outside the window a catch-up reaches.
      now += 11 * 60_000;
      const later = await store.appendReport('tb', 'tb-host', 3, [{ ...line('later'), timeMs: now, observedMs: now }]);
      buffer.add(later.lines);
      const r = await buffer.catchUp(position, filter, store);
      expect(r.lines.map((l) => l.record.message)).toEqual(['later']);
      expect(r.gap).toMatchObject({ type: 'logs_gap', reason: 'expired', sinceMs: one.lines[0]?.record.timeMs });
      expect(r.position).toBe(`${buffer.epoch}.3.${now}`);
      // A position whose next line is still kept resumes exactly, however old.
      const exact = await buffer.catchUp(`${buffer.epoch}.2.0`, filter, store);
      expect(exact.lines.map((l) => l.record.message)).toEqual(['later']);
      expect(exact.gap).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
