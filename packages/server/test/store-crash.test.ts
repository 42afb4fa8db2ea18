import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProcess, tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';

const WRITER = join(import.meta.dirname, 'fixtures/crash-writer.ts');
const DROPPER = join(import.meta.dirname, 'fixtures/drop-writer.ts');
const AGENTS = 20;
const SERIES = 50;
/** Report k of every agent is stamped BASE + k s, across all the writer's lives. */
const BASE = Date.now() - 3_600_000;

/** Starts the writer, waits for `killWhen`, SIGKILLs it, and returns the acknowledged seqs per agent. */
async function writeAndKill(dir: string, killWhen: RegExp): Promise<Map<string, number>> {
  const p = startProcess(WRITER, [dir, String(BASE), String(AGENTS), String(SERIES)]);
  await p.waitFor(/^ready$/, 60_000);
  await p.waitFor(killWhen, 60_000);
  p.child.kill('SIGKILL');
  await p.exited;
  const acked = new Map<string, number>();
  for (const line of p.lines) {
    const m = /^ack (\S+) (\d+)$/.exec(line);
    if (m) acked.set(m[1] as string, Math.max(acked.get(m[1] as string) ?? 0, Number(m[2])));
  }
  return acked;
}

async function expectAllThere(dir: string, acked: Map<string, number>): Promise<void> {
  const store = await EmbeddedStore.open({ dir });
  try {
    expect(acked.size).toBe(AGENTS);
    for (const [agent, seq] of acked) {
      expect(await store.lastSeq(agent)).toBeGreaterThanOrEqual(seq);
      const [s7] = await store.querySeries({ agentId: agent, name: 'crash_test', labels: { s: '7' }, fromMs: 0, toMs: Date.now() });
      const have = new Map(s7?.points ?? []);
      for (let k = 1; k <= seq; k++) expect(have.get(BASE + k * 1000), `${agent} seq ${k}`).toBe(k + 7 / 1000);
    }
    expect((await store.querySeries({ agentId: 'w0', name: 'crash_test', fromMs: 0, toMs: Date.now() })).length).toBe(SERIES);
  } finally {
    await store.close();
  }
}

describe('embedded store crash safety', () => {
  it('keeps every acknowledged report through SIGKILL during ingest and during compaction', async () => {
    const dir = tempDir('falconet-crash-');
    // 1: killed while appending, shortly after the first acknowledgements.
    const acked = await writeAndKill(dir, /^ack w\d+ 30$/);
    await expectAllThere(dir, acked);
    // 2 and 3: killed right as a merge of parts starts (the worker is writing the merged part).
    for (let round = 0; round < 2; round++) {
      const more = await writeAndKill(dir, /^log merging parts/);
      for (const [a, s] of more) acked.set(a, Math.max(acked.get(a) ?? 0, s));
      await expectAllThere(dir, acked);
    }
  }, 240_000);

  it("keeps a dropped agent's data gone through SIGKILL right after the drop and during the rewrite of its parts", async () => {
    const REPORTS = 60;
    const SERIES = 20;
    for (const killWhen of [/^dropped \d+$/, /^log merging parts/]) {
      const dir = tempDir('falconet-drop-crash-');
      // Recent samples: no window closes, so the only merges are the rewrites the drop starts.
      const base = Date.now() - 2 * REPORTS * 1000;
      const p = startProcess(DROPPER, [dir, String(base), String(REPORTS), String(SERIES)]);
      await p.waitFor(killWhen, 60_000);
      p.child.kill('SIGKILL');
      await p.exited;
      // Every merge was a rewrite the drop started, which it does only once its tombstone is committed.
      const merges = p.lines.flatMap((l, i) => (l.startsWith('log merging parts') ? [i] : []));
      expect(merges.every((i) => i > p.lines.indexOf('dropping'))).toBe(true);
      const check = async (store: EmbeddedStore) => {
        expect(await store.querySeries({ agentId: 'gone', name: 'drop_test', fromMs: 0, toMs: Date.now() })).toEqual([]);
        expect(await store.metricNames('gone')).toEqual([]);
        const kept = await store.querySeries({ agentId: 'kept', name: 'drop_test', fromMs: 0, toMs: Date.now() });
        expect(kept).toHaveLength(SERIES);
        for (const s of kept) expect(s.points).toHaveLength(REPORTS);
        expect((await store.stats()).series).toBe(SERIES);
      };
      let store = await EmbeddedStore.open({ dir });
      try {
        // The log still holds the agent's last report; replayed, it stays invisible.
        await check(store);
        await store.compactAll();
        await check(store);
        expect((await store.stats()).samples.raw).toBe(SERIES * REPORTS);
      } finally {
        await store.close();
      }
      store = await EmbeddedStore.open({ dir });
      try {
        await check(store);
      } finally {
        await store.close();
      }
    }
  }, 240_000);
});
