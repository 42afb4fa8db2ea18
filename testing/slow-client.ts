/** A slow-loris client: the tests' way of showing that a listener cuts a client too slow to finish its request. */
import { connect } from 'node:net';

/**
 * Sends `head`, then one more byte every 200 ms, until the server closes the connection; resolves
 * with everything the server answered.
 */
export async function dribble(port: number, head: string, host = '127.0.0.1'): Promise<string> {
  const s = connect({ host, port });
  let answer = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    answer += d;
  });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(head);
  const drip = setInterval(() => s.writable && s.write('x'), 200);
  await new Promise((r) => s.once('close', r));
  clearInterval(drip);
  return answer;
}
