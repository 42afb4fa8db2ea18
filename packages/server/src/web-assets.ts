import { extname } from 'node:path';
import type { FastifyInstance } from 'fastify';

let bundled: Map<string, Buffer> | undefined;

/** A single-file build (npm run package) carries the dashboard inside: its files by path, index.html among them. */
export function useBundledWeb(files: Map<string, Buffer>): void {
  bundled = files;
}

export function bundledWeb(): Map<string, Buffer> | undefined {
  return bundled;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** One route per carried file, as @fastify/static registers them without a wildcard; hashed assets cached for good. */
export function serveBundledWeb(scope: FastifyInstance, files: Map<string, Buffer>): void {
  for (const [path, body] of files) {
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const cache = path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    const routes = path === 'index.html' ? ['/', '/index.html'] : [`/${path}`];
    for (const url of routes) scope.get(url, (_req, reply) => reply.type(type).header('cache-control', cache).send(body));
  }
}
