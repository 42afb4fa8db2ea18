/**
 * A TCP proxy the test controls: it forwards to a target and can cut the path (a black hole:
 * nothing flows either way and new connections hang, as when a route disappears) and restore it
 * (held bytes then flow again, as TCP would deliver them after the outage).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
}

export class TcpProxy {
  readonly #target: { host: string; port: number };
  #server: Server | undefined;
  readonly #pairs = new Set<Pair>();
  #cut = false;
  port = 0;
  bytesUp = 0;
  bytesDown = 0;
  connections = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  get isCut(): boolean {
    return this.#cut;
  }

  #accept(client: Socket): void {
    this.connections++;
    const pair: Pair = { client, upstream: undefined };
    this.#pairs.add(pair);
    client.on('error', () => undefined);
    client.once('close', () => {
      this.#pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (this.#cut) client.pause();
    else this.#dial(pair);
  }

  #dial(pair: Pair): void {
    const { client } = pair;
    if (client.destroyed) return;
    const upstream = connect(this.#target);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => client.destroy());
    upstream.on('data', (d: Buffer) => {
      this.bytesDown += d.length;
      if (!client.write(d)) {
        upstream.pause();
        client.once('drain', () => !this.#cut && upstream.resume());
      }
    });
    client.on('data', (d: Buffer) => {
      this.bytesUp += d.length;
      if (!upstream.write(d)) {
        client.pause();
        upstream.once('drain', () => !this.#cut && client.resume());
      }
    });
    client.once('end', () => upstream.end());
    upstream.once('end', () => client.end());
    if (this.#cut) {
      client.pause();
      upstream.pause();
    } else client.resume();
  }

  /** Nothing flows until restore(); connections stay open and hang. */
  cut(): void {
    this.#cut = true;
    for (const p of this.#pairs) {
      p.client.pause();
      p.upstream?.pause();
    }
  }

  restore(): void {
    this.#cut = false;
    for (const p of [...this.#pairs]) {
      if (!p.upstream) this.#dial(p);
      else {
        p.client.resume();
        p.upstream.resume();
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.#pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
