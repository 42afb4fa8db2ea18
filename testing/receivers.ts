/**
 * Test support: real receivers for notifications, on loopback ports of their own. An HTTP
 * server that records every request (standing in for a webhook consumer, or for Slack,
 * Telegram, DingTalk, Feishu and WeCom, whose payload shapes the tests check), and an SMTP
 * server (the `smtp-server` package) that records every message.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedRequest {
  method: string;
  /** Path and query string. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
  atMs: number;
}

export interface Reply {
  status?: number;
  body?: string | object;
  headers?: Record<string, string>;
}

export interface HttpReceiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Sets how the next requests are answered (default 200 with an empty JSON object). */
  respond(fn: (req: ReceivedRequest, index: number) => Reply): void;
  waitFor(pred: (reqs: ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

async function poll<T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let answer: (req: ReceivedRequest, index: number) => Reply = () => ({ status: 200, body: {} });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const r: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, atMs: Date.now() };
      requests.push(r);
      const out = answer(r, requests.length - 1);
      const text = typeof out.body === 'string' ? out.body : JSON.stringify(out.body ?? {});
      res.writeHead(out.status ?? 200, {
        'content-type': typeof out.body === 'string' ? 'text/plain' : 'application/json',
        ...out.headers,
      });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    respond(fn) {
      answer = fn;
    },
    waitFor(pred, timeoutMs = 20_000) {
      return poll(
        () => (pred(requests) ? requests : undefined),
        timeoutMs,
        () => `requests; got ${requests.length}: ${requests.map((r) => `${r.method} ${r.url}`).join(', ')}`,
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  /** The text/plain part, decoded. */
  text: string;
  raw: string;
}

export interface SmtpReceiver {
  port: number;
  messages: ReceivedMail[];
  /** Answers the next messages' DATA with this SMTP error (e.g. 451 or 550), or accepts them. */
  reject(code: number | undefined, message?: string): void;
  waitFor(pred: (msgs: ReceivedMail[]) => boolean, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The text/plain part of a message, as nodemailer writes it (one part, or multipart/alternative). */
export function plainText(raw: string): string {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(head)?.[1];
  const decode = (partHead: string, partBody: string) => {
    if (/quoted-printable/i.test(partHead)) return decodeQuotedPrintable(partBody);
    if (/base64/i.test(partHead)) return Buffer.from(partBody.replace(/\s+/g, ''), 'base64').toString('utf8');
    return partBody;
  };
  if (!boundary) return decode(head, body);
  for (const part of body.split(`--${boundary}`)) {
    const [ph = '', ...pb] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
    if (/content-type:\s*text\/plain/i.test(ph)) return decode(ph, pb.join('\n\n')).trim();
  }
  return '';
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  let rejection: { code: number; message: string } | undefined;
  const server = new SMTPServer({
    // A local test relay: no TLS to offer, no sign-in to ask for.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (rejection) {
          const err = Object.assign(new Error(rejection.message), { responseCode: rejection.code });
          return callback(err);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject,
          text: plainText(raw),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    reject(code, message = 'rejected by the test') {
      rejection = code === undefined ? undefined : { code, message };
    },
    waitFor(pred, timeoutMs = 20_000) {
      return poll(
        () => (pred(messages) ? messages : undefined),
        timeoutMs,
        () => `mail; got ${messages.length}: ${messages.map((m) => m.subject).join(', ')}`,
      );
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
