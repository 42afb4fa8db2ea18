/**
 * A JSON-lines TCP client for tests of the Open-Falcon transfer listener: writes lines, collects
 * the listener's answers ({"error": ...} per refused line) and notices when it closes the connection.
 */
import { connect, type Socket } from 'node:net';

export interface LineClient {
  socket: Socket;
  /** Answers so far, parsed. */
  replies: { error?: string }[];
  send(lines: readonly (string | object)[]): void;
  /** Resolves once the server has closed (or reset) the connection. */
  closed: Promise<void>;
  end(): void;
}

export async function openLines(host: string, port: number, opts: { localAddress?: string } = {}): Promise<LineClient> {
  const socket = connect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  const replies: { error?: string }[] = [];
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) replies.push(JSON.parse(p) as { error?: string });
  });
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    replies,
    closed,
    send: (lines) => {
      socket.write(`${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);
    },
    end: () => socket.end(),
  };
}
