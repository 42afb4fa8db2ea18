import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { constants, gzipSync } from 'node:zlib';
import { EXPOSITION_CONTENT_TYPE, type MetricFamily, renderExposition } from '@falconet/protocol/exposition';
import type { Logger } from 'pino';

export interface ExporterOptions {
  host: string;
  port: number;
  log: Logger;
  /** The collection for one scrape; concurrent scrapes may share one. */
  collect(): Promise<readonly MetricFamily[]>;
  /** The gzip level of the next scrape (read each time, so a reload applies it); 1 when absent. */
  gzipLevel?: () => number;
  /** A client must send its whole request within this (web.request_timeout); 10 s when absent. */
  requestTimeoutMs?: number;
  /** Called for each connection cut for sending its request too slowly. */
  onCut?: () => void;
}

// Loaded through require: an ESM import of node:http builds its namespace, which reads the lazy
// WebSocket/fetch getters and loads undici, some 12 MB of memory the exporter never uses.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

// The text of a scrape is encoded once, into one buffer kept from scrape to scrape, and either
// compressed from there or sent as it is: a fresh buffer per scrape is some 60 kB outside the heap,
// allocated and freed on every scrape, and a string sent as it is is measured and encoded apart.
// While the socket still holds bytes of the buffer (a slow reader), a scrape gets a fresh one.
let scratch = Buffer.allocUnsafe(64 * 1024);
let scratchSending = false;

function encode(text: string): Buffer {
  if (scratchSending) return Buffer.from(text, 'utf8');
  // UTF-8 takes at most three bytes per UTF-16 code unit.
  if (scratch.length < text.length * 3) scratch = Buffer.allocUnsafe(text.length * 3);
  return scratch.subarray(0, scratch.write(text, 0, 'utf8'));
}

// gzipSync writes into chunks of 64 kB by default, allocated outside the heap and freed only when
// the garbage collector finds the Buffer dead; a scrape's ~15 kB of gzip sat in one, and under a
// fast scraper those chunks piled up by megabytes between two full collections. The chunk is
// sized from the last scrape's output instead: one chunk, a quarter larger than needed.
let zipChunk = 16 * 1024;

function gzip(bytes: Buffer, level: number): Buffer {
  const zipped = gzipSync(bytes, { level, chunkSize: zipChunk });
  zipChunk = Math.max(1024, Math.ceil((zipped.length * 1.25) / 1024) * 1024);
  return zipped;
}

const LANDING = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Falconet agent</title></head>
<body><h1>Falconet agent</h1><p><a href="/metrics">Metrics</a></p></body></html>\n`;

let lastAccept: string | undefined;
let lastAcceptsGzip = false;

/** Whether the client takes gzip: listed in Accept-Encoding and not refused with q=0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  // A scraper sends the same header every time: its answer is kept.
  if (header === lastAccept) return lastAcceptsGzip;
  lastAccept = header;
  lastAcceptsGzip = parseAcceptsGzip(header);
  return lastAcceptsGzip;
}

function parseAcceptsGzip(header: string): boolean {
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  }
  return false;
}

/** The node_exporter-compatible HTTP endpoint: `/metrics`, plus a landing page and `/healthz`. */
export class Exporter {
  #server: Server | undefined;
  readonly #opts: ExporterOptions;

  constructor(opts: ExporterOptions) {
    this.#opts = opts;
  }

  async listen(): Promise<AddressInfo> {
    const timeoutMs = this.#opts.requestTimeoutMs ?? 10_000;
    // A scraper sends a few hundred bytes: one that dribbles them (slow loris) is cut. Deadlines are
    // checked on a sweep; every 5 s keeps the idle agent's wake-ups few.
    const deadlines = { headersTimeout: timeoutMs, requestTimeout: timeoutMs, connectionsCheckingInterval: Math.min(5000, timeoutMs) };
    const server = createServer(deadlines, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#opts.log.error({ err }, 'scrape failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`scrape failed: ${(err as Error).message}\n`);
      });
    });
    server.keepAliveTimeout = 65_000;
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        this.#opts.onCut?.();
        this.#opts.log.debug({ address: (socket as Socket).remoteAddress }, 'scraper too slow to send its request; cut');
        if (socket.writable) socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      } else if (err.code !== 'ECONNRESET' && socket.writable) {
        socket.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return server.address() as AddressInfo;
  }

  /** The exposition text of one scrape. */
  async render(): Promise<string> {
    return renderExposition(await this.#opts.collect());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const bytes = encode(await this.render());
      const inScratch = bytes.buffer === scratch.buffer;
      const headers: Record<string, string> = { 'content-type': EXPOSITION_CONTENT_TYPE };
      if (acceptsGzip(req.headers['accept-encoding'])) {
        // Synchronous on purpose: the thread pool may be held by statfs() calls on hung mounts,
        // and a scrape must never wait for it. The fastest level, the default, keeps the CPU cost per scrape low.
        const zipped = gzip(bytes, this.#opts.gzipLevel?.() ?? constants.Z_BEST_SPEED);
        headers['content-encoding'] = 'gzip';
        headers['content-length'] = String(zipped.length);
        res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : zipped);
        return;
      }
      headers['content-length'] = String(bytes.length);
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      if (inScratch) {
        // 'close' comes once the response is written out, or its connection gone.
        scratchSending = true;
        res.once('close', () => {
          scratchSending = false;
        });
      }
      res.end(bytes);
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(LANDING);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
