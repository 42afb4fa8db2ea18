/**
 * The embedded log store killed with SIGKILL while writing, again and again: every acknowledged
 * report is there after each restart, every line exactly once, and replays store nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProcess, tempDir } from '../../../testing/processes.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { LogFilter } from '../src/logs/query.ts';

const WRITER = join(import.meta.dirname, 'fixtures/log-crash-writer.ts');
const AGENTS = 8;
const LINES = 50;
const BASE = Date.now() - 3_600_000;

async function writeAndKill(dir: string, acks: number): Promise<Map<string, number>> {
  const p = startProcess(WRITER, [dir, String(BASE), String(AGENTS), String(LINES)]);
  await p.waitFor(/^ready$/, 60_000);
  let seen = 0;
  await p.waitFor((l) => l.startsWith('ack ') && ++seen >= acks, 120_000);
  p.child.kill('SIGKILL');
  await p.exited;
  const errors = p.lines.filter((l) => /Error|duplicate=/.test(l));
  expect(errors).toEqual([]);
  const acked = new Map<string, number>();
  for (const line of p.lines) {
    const m = /^ack (\S+) (\d+)$/.exec(line);
    if (m) acked.set(m[1] as string, Math.max(acked.get(m[1] as string) ?? 0, Number(m[2])));
  }
  return acked;
}

describe('embedded log store under SIGKILL', () => {
  it('keeps every acknowledged report, each line once, across five kills', async () => {
    const dir = tempDir();
    const acked = new Map<string, number>();
    for (let round = 1; round <= 5; round++) {
      // Each life replays everything before it goes on: ack counts grow with what is already held.
      for (const [a, s] of await writeAndKill(dir, 400 * round)) acked.set(a, Math.max(acked.get(a) ?? 0, s));
    }
    const store = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0 });
    try {
      const count = new Map<string, number>();
      await store.each({ filter: new LogFilter(''), fromMs: 0, toMs: Date.now() + 3_600_000 }, (l) => {
        const key = l.record.message.split(' ').slice(0, 3).join(' ');
        count.set(key, (count.get(key) ?? 0) + 1);
      });
      expect(acked.size).toBe(AGENTS);
      for (const [agent, seq] of acked) {
        const held = await store.lastSeq(agent);
        expect(held).toBeGreaterThanOrEqual(seq);
        for (let k = 1; k <= held; k++) {
          for (const j of [0, LINES - 1]) expect(count.get(`${agent} seq${k} line${j}`), `${agent} seq ${k} line ${j}`).toBe(1);
        }
      }
      expect([...count.values()].every((n) => n === 1)).toBe(true);
      const held = await Promise.all([...acked.keys()].map((a) => store.lastSeq(a)));
      expect(count.size).toBe(held.reduce((n, s) => n + s * LINES, 0));
    } finally {
      await store.close();
    }
  }, 600_000);
});
