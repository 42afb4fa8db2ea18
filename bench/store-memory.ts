/**
 * Where the embedded store's memory goes per active series (docs/adr/0004-server-memory.md).
 * In one process, with a forced collection before each reading, it builds each in-memory structure
 * on its own over the same series (N agents x M series of the realistic families), then a whole
 * store fed one report per agent, and prints the bytes per series of each.
 *
 *   npm run bench -- store-memory [--quick] [--agents N] [--series M] [--varied]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Sample } from '@falconet/protocol';
import { CompactDecoder, CompactEncoder, SharedDefinitions } from '@falconet/protocol';
import { EmbeddedStore } from '../packages/server/src/store/embedded/engine.ts';
import { Head } from '../packages/server/src/store/embedded/head.ts';
import { SeriesDictionary } from '../packages/server/src/store/embedded/series.ts';
import { SeriesPostings } from '../packages/server/src/store/postings.ts';
import { localKey, parseLocalKey } from '../packages/server/src/store/series-key.ts';
import { realisticHostSeries } from '../testing/series.ts';
import { emit, progress, quick } from './lib.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const AGENTS = arg('agents', quick ? 500 : 2000);
const PER_AGENT = arg('series', 555);
const SERIES = AGENTS * PER_AGENT;
const BENCH = 'store-memory';

/** Heap plus array buffers, after a full collection. */
function used(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function figure(metric: string, bytes: number): void {
  emit({
    bench: BENCH,
    metric,
    value: Math.round(bytes / SERIES),
    unit: 'B/series',
    agents: AGENTS,
    series: SERIES,
    hosts: varied ? 'varied' : 'alike',
  });
}

const gen = realisticHostSeries({ seriesPerHost: PER_AGENT });
const t0 = Date.now();
// --varied: each host its own label values (disks, containers, cores) as the realistic families
// vary them; else every agent sends one host's series, as bench/ingest's simulated agents do.
const varied = process.argv.includes('--varied');
const reports: Sample[][] = [];
for (let a = 0; a < AGENTS; a++) reports.push(varied ? gen(a, t0) : gen(0, t0).map((s) => ({ ...s, labels: { ...s.labels } })));
const agentIds = reports.map((_, a) => `agent-${String(a).padStart(5, '0')}`);
progress(`${SERIES} series (${AGENTS} agents x ${PER_AGENT})`);

/** Bytes still held after `build` ran, its temporaries collected, while `keep` holds what it returned. */
function measure(metric: string, build: () => unknown): void {
  const before = used();
  let kept: unknown = build();
  figure(metric, used() - before);
  kept = undefined;
  void kept;
}

const keysOf = (a: number) => (reports[a] as Sample[]).map((s) => localKey(s.name, s.labels));
const distinct = new Set(reports.flatMap((_, a) => keysOf(a))).size;
progress(`${distinct} distinct keys (name and labels) across the agents`);

// One key string per series, flat as the dictionary holds it (built by concatenation, a key is a
// tree of pieces until something reads it whole).
measure('key_bytes', () =>
  reports.map((_, a) =>
    keysOf(a).map((k) => {
      k.split('\0');
      return k;
    }),
  ),
);
measure('labels_bytes', () => reports.flatMap((_, a) => keysOf(a).map((k) => parseLocalKey(k).labels)));
measure('postings_bytes', () => {
  const postings = new SeriesPostings();
  let id = 0;
  for (let a = 0; a < AGENTS; a++)
    for (const k of keysOf(a)) {
      const p = parseLocalKey(k);
      postings.add(id++, p.name, p.labels);
    }
  return postings;
});
measure('dictionary_bytes', () => {
  const dict = new SeriesDictionary();
  let id = 0;
  for (let a = 0; a < AGENTS; a++) for (const k of keysOf(a)) dict.define(id++, `agent-${String(a).padStart(5, '0')}`, k);
  return dict;
});

// The ingest side: each agent stream's compact table (its series' names and labels, as decoded).
measure('stream_table_bytes', () =>
  reports.map((r) => {
    const decoder = new CompactDecoder();
    decoder.decode(new CompactEncoder().encode(r));
    return decoder;
  }),
);
// As the server's channel builds them: definitions shared across streams.
measure('stream_table_shared_bytes', () => {
  const shared = new SharedDefinitions();
  return reports.map((r) => {
    const decoder = new CompactDecoder(1_000_000, shared);
    decoder.decode(new CompactEncoder().encode(r));
    return decoder;
  });
});
// One head as the writer sizes it at the default store.head_max_samples (write.ts, headLimit);
// while one is flushing, a second fills.
const HEAD_FLOOR = 2_000_000;
measure('head_bytes', () => new Head(Math.max(HEAD_FLOOR, Math.min(8 * SERIES, 4 * HEAD_FLOOR)), [1], Date.now(), SERIES));

// A whole store: every agent's report once, then again (steady state: no new series).
const dir = mkdtempSync(join(tmpdir(), 'falconet-store-memory-'));
try {
  const base = used();
  const rssBase = process.memoryUsage().rss;
  const store = await EmbeddedStore.open({ dir, headMaxAgeMs: 3_600_000 });
  for (let round = 1; round <= 2; round++) {
    const appends: Promise<unknown>[] = [];
    for (let a = 0; a < AGENTS; a++) {
      const samples = (reports[a] as Sample[]).map((s) => ({ ...s, timestampMs: t0 + (round - 1) * 10_000 }));
      appends.push(store.appendReport(agentIds[a] as string, round, samples));
    }
    await Promise.all(appends);
  }
  const st = await store.stats();
  progress(`store: ${st.series} series, ${st.headSamples} samples in the head`);
  // Right after the appends: the heads frozen on the way are still being written to parts.
  figure('store_bytes', used() - base);
  figure('store_rss_bytes', process.memoryUsage().rss - rssBase);
  await store.flush();
  figure('store_flushed_bytes', used() - base);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
