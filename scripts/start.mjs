#!/usr/bin/env node
// `npm start`: one falconet-server and one local falconet-agent, with embedded defaults.
// Ctrl-C stops both. Extra arguments after `--` go to the server.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = process.env.FALCONET_DATA_DIR ?? join(root, 'data');
const http = process.env.FALCONET_LISTEN ?? '127.0.0.1:7070';
const grpc = process.env.FALCONET_GRPC_LISTEN ?? '127.0.0.1:7071';
// Owner-only, as the server keeps it (docs/server.md), so its first start has nothing to correct.
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

const children = [];
let stopping = false;

function launch(name, bin, args, onLine) {
  const child = spawn(process.execPath, [join(root, bin), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FALCONET_DATA_DIR: undefined, FALCONET_LISTEN: undefined, FALCONET_GRPC_LISTEN: undefined },
  });
  children.push(child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      process.stdout.write(`[${name}] ${line}\n`);
      onLine?.(line);
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stdout.write(`[start] ${name} exited (${signal ?? code}); stopping\n`);
      stop(code || 1);
    }
  });
  return child;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }, 8000);
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => {
    clearTimeout(force);
    process.exit(code);
  });
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

let agentStarted = false;
launch(
  'server',
  'packages/server/bin/falconet-server.js',
  ['run', '--data-dir', dataDir, '--listen', http, '--grpc-listen', grpc, '--log.format', 'pretty', ...process.argv.slice(2)],
  (line) => {
    if (agentStarted || !line.includes('server listening')) return;
    agentStarted = true;
    launch('agent', 'packages/agent/bin/falconet-agent.js', [
      'run',
      '--server',
      grpc,
      '--data-dir',
      join(dataDir, 'agent'),
      '--log.format',
      'pretty',
    ]);
    process.stdout.write(
      `\n  Falconet is running. Dashboard: http://${http}/\n  Agent metrics: http://127.0.0.1:9101/metrics\n  Ctrl-C stops both.\n\n`,
    );
  },
);
