import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { LiveSample } from '@falconet/protocol/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type WebSocket as ServerSocket, WebSocketServer } from 'ws';
import { LiveConnection, STABLE_MS } from '../src/live.ts';
import { agent } from './agents.ts';
import { FakeSocket } from './fake-socket.ts';

describe('LiveConnection with a fake socket', () => {
  beforeEach(() => {
    FakeSocket.made = [];
    vi.stubGlobal('WebSocket', FakeSocket);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });

  /** A connection asked to connect, as App's effect does. */
  function connected(): LiveConnection {
    const live = new LiveConnection('ws://falconet.test/api/live');
    live.connect();
    return live;
  }

  /** How long after a drop the next socket is made: the backoff, to the millisecond. */
  function nextDelay(): number {
    const before = FakeSocket.made.length;
    FakeSocket.last.end();
    let waited = 0;
    while (FakeSocket.made.length === before) {
      vi.advanceTimersByTime(1);
      if (++waited > 60_000) throw new Error('no reconnect within a minute');
    }
    return waited;
  }

  it('makes no socket until asked to connect, then one to the URL it was given, however often asked', () => {
    const live = new LiveConnection('ws://falconet.test/api/live');
    expect(FakeSocket.made).toEqual([]);
    live.connect();
    live.connect();
    expect(FakeSocket.made.map((s) => s.url)).toEqual(['ws://falconet.test/api/live']);
    live.close();
  });

  it('connects again after close() as StrictMode remounts do, and the socket let go of changes nothing when its close is done', () => {
    const live = new LiveConnection('ws://falconet.test/api/live');
    const status: boolean[] = [];
    live.onStatus((on) => status.push(on));
    const disconnect = live.connect();
    disconnect();
    live.connect();
    expect(FakeSocket.made).toHaveLength(2);
    const [first, second] = FakeSocket.made as [FakeSocket, FakeSocket];
    expect(first.readyState).toBe(FakeSocket.CLOSING);
    second.open();
    first.end();
    expect(live.connected).toBe(true);
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.made).toHaveLength(2);
    expect(status).toEqual([true]);
    live.close();
    expect(status).toEqual([true, false]);
  });

  it('defaults to /api/live on the page host, wss on an https page', () => {
    vi.stubGlobal('location', new URL('http://falconet.test:7070/agents/a'));
    expect(LiveConnection.defaultUrl()).toBe('ws://falconet.test:7070/api/live');
    vi.stubGlobal('location', new URL('https://falconet.test/'));
    expect(LiveConnection.defaultUrl()).toBe('wss://falconet.test/api/live');
  });

  it('backs off 250 ms, doubling to at most 30 s, while the server cannot be reached', () => {
    const live = connected();
    const delays = Array.from({ length: 10 }, nextDelay);
    expect(delays).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    live.close();
  });

  it('keeps backing off from a server that accepts and closes at once (1013, client too slow), greeting or not', () => {
    const live = connected();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      FakeSocket.last.open();
      FakeSocket.last.receive({ type: 'hello', serverTimeMs: 1 });
      vi.advanceTimersByTime(STABLE_MS - 1);
      delays.push(nextDelay());
    }
    expect(delays).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000]);
    live.close();
  });

  it(`starts the backoff over once a connection stayed open ${STABLE_MS} ms`, () => {
    const live = connected();
    expect([nextDelay(), nextDelay(), nextDelay()]).toEqual([250, 500, 1_000]);
    FakeSocket.last.open();
    vi.advanceTimersByTime(STABLE_MS);
    expect(nextDelay()).toBe(250);
    expect(nextDelay()).toBe(500);
    live.close();
  });

  it('keeps one socket at a time through drops, and tells status listeners each change', () => {
    const live = connected();
    const status: boolean[] = [];
    live.onStatus((on) => status.push(on));
    for (let i = 0; i < 5; i++) {
      FakeSocket.last.open();
      expect(live.connected).toBe(true);
      vi.advanceTimersByTime(STABLE_MS);
      FakeSocket.last.end();
      expect(FakeSocket.live).toHaveLength(0);
      vi.advanceTimersByTime(250);
      expect(FakeSocket.live).toHaveLength(1);
    }
    expect(FakeSocket.made).toHaveLength(6);
    expect(status).toEqual([true, false, true, false, true, false, true, false, true, false]);
    live.close();
  });

  it('subscribes once per agent, sends what was subscribed before the socket opened, and again after each reconnect', () => {
    const live = connected();
    const offA = live.subscribe('a', () => undefined);
    live.subscribe('a', () => undefined);
    live.subscribe('b', () => undefined);
    FakeSocket.last.open();
    expect(FakeSocket.last.sent).toEqual([
      { type: 'subscribe', agentId: 'a' },
      { type: 'subscribe', agentId: 'b' },
    ]);

    live.subscribe('c', () => undefined);
    offA();
    expect(FakeSocket.last.sent.slice(2)).toEqual([{ type: 'subscribe', agentId: 'c' }]);

    FakeSocket.last.end();
    vi.advanceTimersByTime(250);
    FakeSocket.last.open();
    expect(FakeSocket.last.sent).toEqual([
      { type: 'subscribe', agentId: 'a' },
      { type: 'subscribe', agentId: 'b' },
      { type: 'subscribe', agentId: 'c' },
    ]);
    live.close();
  });

  it("unsubscribes when an agent's last listener goes, and not while the socket is down", () => {
    const live = connected();
    FakeSocket.last.open();
    const off1 = live.subscribe('a', () => undefined);
    const off2 = live.subscribe('a', () => undefined);
    off1();
    expect(FakeSocket.last.sent).toEqual([{ type: 'subscribe', agentId: 'a' }]);
    off2();
    expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'unsubscribe', agentId: 'a' });

    const offB = live.subscribe('b', () => undefined);
    FakeSocket.last.end();
    expect(() => offB()).not.toThrow();
    vi.advanceTimersByTime(250);
    FakeSocket.last.open();
    expect(FakeSocket.last.sent).toEqual([]);
    live.close();
  });

  it("hands agent updates to every agent listener and samples only to that agent's listeners", () => {
    const live = connected();
    FakeSocket.last.open();
    const agents = vi.fn();
    const a = vi.fn();
    const b = vi.fn();
    live.onAgent(agents);
    live.subscribe('a', a);
    const offB = live.subscribe('b', b);
    offB();
    const samples: LiveSample[] = [{ name: 'node_load1', labels: {}, value: 0.5, timestampMs: 1 }];

    FakeSocket.last.receive({ type: 'hello', serverTimeMs: 1 });
    FakeSocket.last.receive({ type: 'agent', agent: agent('a') });
    FakeSocket.last.receive({ type: 'samples', agentId: 'a', timestampMs: 1, samples });
    FakeSocket.last.receive({ type: 'samples', agentId: 'b', timestampMs: 1, samples });
    FakeSocket.last.receive({ type: 'task', task: { id: 't' } });

    expect(agents).toHaveBeenCalledTimes(1);
    expect(agents.mock.calls[0]?.[0].id).toBe('a');
    expect(a).toHaveBeenCalledWith(samples);
    expect(b).not.toHaveBeenCalled();
    live.close();
  });

  it('hands task messages to task listeners, subscribes a task once for all its views, again after each reconnect, and lets go with the last', () => {
    const live = connected();
    const offFirst = live.subscribeTask('t1');
    const offSecond = live.subscribeTask('t1');
    FakeSocket.last.open();
    expect(FakeSocket.last.sent).toEqual([{ type: 'subscribe_task', taskId: 't1' }]);

    const tasks = vi.fn();
    const agents = vi.fn();
    live.onTask(tasks);
    live.onAgent(agents);
    FakeSocket.last.receive({ type: 'task', task: { id: 't1' } });
    FakeSocket.last.receive({ type: 'task_agent', agent: { agentId: 'a', health: 'lost' } });
    FakeSocket.last.receive({ type: 'agent', agent: agent('a') });
    expect(tasks.mock.calls.map((c) => c[0].type)).toEqual(['task', 'task_agent']);
    expect(agents).toHaveBeenCalledTimes(1);

    offFirst();
    offFirst();
    expect(FakeSocket.last.sent).toHaveLength(1);
    FakeSocket.last.end();
    vi.advanceTimersByTime(250);
    FakeSocket.last.open();
    expect(FakeSocket.last.sent).toEqual([{ type: 'subscribe_task', taskId: 't1' }]);
    offSecond();
    expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'unsubscribe_task', taskId: 't1' });
    live.close();
  });

  it('closes its socket on close() and never reconnects after, even when the close is done later', () => {
    const live = connected();
    FakeSocket.last.open();
    live.close();
    expect(FakeSocket.last.readyState).toBe(FakeSocket.CLOSING);
    FakeSocket.last.end();
    expect(live.connected).toBe(false);
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.made).toHaveLength(1);
  });

  it('cancels a pending reconnect on close()', () => {
    const live = connected();
    FakeSocket.last.end();
    live.close();
    vi.advanceTimersByTime(120_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('LiveConnection against a real WebSocket server', () => {
  // How long to wait for the network on a busy machine: an upper bound, never a measurement.
  const PATIENCE = { timeout: 10_000 };
  let server: WebSocketServer;
  let url: string;
  /** What the server received on each connection, in order of connection. */
  let received: unknown[][];
  let connections: ServerSocket[];

  beforeEach(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/api/live' });
    await once(server, 'listening');
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/live`;
    received = [];
    connections = [];
    server.on('connection', (socket) => {
      const mine: unknown[] = [];
      received.push(mine);
      connections.push(socket);
      socket.on('message', (data) => mine.push(JSON.parse(String(data))));
      socket.send(JSON.stringify({ type: 'hello', serverTimeMs: Date.now() }));
    });
  });

  afterEach(async () => {
    for (const c of server.clients) c.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it('subscribes, receives, resubscribes after the server drops it, and closes on close()', async () => {
    const live = new LiveConnection(url);
    live.connect();
    const samples: LiveSample[][] = [];
    live.subscribe('a', (s) => samples.push(s));
    const agents: string[] = [];
    live.onAgent((a) => agents.push(a.hostname));

    await vi.waitFor(() => expect(received[0]).toEqual([{ type: 'subscribe', agentId: 'a' }]), PATIENCE);
    expect(live.connected).toBe(true);
    const first = connections[0] as ServerSocket;
    first.send(JSON.stringify({ type: 'agent', agent: agent('a', { hostname: 'web-1' }) }));
    first.send(
      JSON.stringify({ type: 'samples', agentId: 'a', timestampMs: 1, samples: [{ name: 'x', labels: {}, value: 1, timestampMs: 1 }] }),
    );
    await vi.waitFor(() => expect(samples).toHaveLength(1), PATIENCE);
    expect(agents).toEqual(['web-1']);

    first.terminate();
    await vi.waitFor(() => expect(received[1]).toEqual([{ type: 'subscribe', agentId: 'a' }]), PATIENCE);
    expect(server.clients.size).toBe(1);

    const second = connections[1] as ServerSocket;
    const closed = once(second, 'close');
    live.close();
    await closed;
    await vi.waitFor(() => expect(live.connected).toBe(false), PATIENCE);
    expect(server.clients.size).toBe(0);
    expect(connections).toHaveLength(2);
  });
});
