/** A pino logger at debug level whose JSON lines a test reads back as objects. */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export function capturedLog<T extends { msg: string }>(): { log: Logger; lines: T[] } {
  const lines: T[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as T);
        done();
      },
    }),
  );
  return { log, lines };
}
