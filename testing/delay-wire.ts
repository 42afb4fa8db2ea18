/**
 * A network path with a real delay for tests that compare timings: a network namespace of the
 * test's own, joined to this one by two TUN devices with testing/delay-wire.py between them
 * holding every packet for half the round trip (what `tc qdisc ... netem delay` does; this
 * kernel has no netem). A target at `far` then answers after the round trip, so a prober's fixed
 * costs (tens of microseconds) are small beside what it measures. Needs root (netns, TUN).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface DelayWire {
  /** The namespace's name, for `ip netns exec`. */
  netns: string;
  /** This side's address on the wire. */
  near: string;
  /** The far side's address, inside the namespace: nothing listens there unless the test starts it. */
  far: string;
  /** argv that runs a command inside the namespace. */
  inside(file: string, args: string[]): [string, string[]];
  stop(): Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export async function startDelayWire(roundTripMs: number): Promise<DelayWire> {
  if (process.getuid?.() !== 0) throw new Error('the delay wire needs root (a network namespace and TUN devices)');
  const tag = `${process.pid % 100_000}`;
  const netns = `falconet-wire-${tag}`;
  const nearDev = `fwire${tag}a`;
  const farDev = `fwire${tag}b`;
  const subnet = `10.254.${process.pid % 250}`;
  const near = `${subnet}.1`;
  const far = `${subnet}.2`;
  ip('netns', 'add', netns);
  let relay: ChildProcess | undefined;
  const stop = async () => {
    if (relay && relay.exitCode === null) {
      const exited = new Promise((r) => relay?.once('exit', r));
      relay.kill('SIGTERM');
      await exited;
    }
    try {
      ip('netns', 'del', netns);
    } catch {}
  };
  try {
    const script = fileURLToPath(new URL('./delay-wire.py', import.meta.url));
    relay = spawn('python3', [script, nearDev, farDev, netns, String(roundTripMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    relay.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
    });
    await new Promise<void>((resolve, reject) => {
      relay?.stdout?.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      relay?.once('exit', (code) => reject(new Error(`delay-wire.py exited with ${code}: ${err.trim()}`)));
    });
    ip('addr', 'add', `${near}/30`, 'dev', nearDev);
    ip('link', 'set', nearDev, 'up');
    ip('-n', netns, 'addr', 'add', `${far}/30`, 'dev', farDev);
    ip('-n', netns, 'link', 'set', farDev, 'up');
    ip('-n', netns, 'link', 'set', 'lo', 'up');
  } catch (e) {
    await stop();
    throw e;
  }
  return { netns, near, far, inside: (file, args) => ['ip', ['netns', 'exec', netns, file, ...args]], stop };
}
