/** A pino logger (debug level unless told) whose JSON lines a test reads back as objects. */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export function capturedLog<T extends { msg: string }>(level = 'debug'): { log: Logger; lines: T[] } {
  const lines: T[] = [];
  const log = pino(
    { level },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as T);
        done();
      },
    }),
  );
  return { log, lines };
}
