/**
 * The embedded log store's block formats (block.ts): version 2 (columns) gives back exactly the
 * records it was given, and a data directory written before versions existed (version 1 blocks:
 * a protobuf LogBatch, zstd) is still read, appended to and compacted into version 2.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { LogLevel, pb } from '@falconet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { BLOCK_V2, decodeBlock, encodeBlock, encodeBlockInBackground, encodeBlockV1 } from '../src/logs/block.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { LogFilter } from '../src/logs/query.ts';
import { WordFilter, WordHashes, words } from '../src/logs/terms.ts';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

function rec(i: number, over: Partial<pb.LogRecord> = {}): pb.LogRecord {
  return pb.LogRecord.fromPartial({
    timeMs: T0 + i * 1000,
    observedMs: T0 + i * 1000 + 5,
    source: 'app',
    stream: '/var/log/app.log',
    level: LogLevel.LOG_LEVEL_INFO,
    message: `line ${i} request served`,
    ...over,
  });
}

const stores: EmbeddedLogStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe('log block version 2', () => {
  it('gives back exactly the records it was given, whatever they hold', async () => {
    const recs = [
      rec(0, { labels: { unit: 'nginx.service', app: 'web' }, fields: { status: '502', upstream: '10.0.0.7:8080' }, offset: 2 ** 40 + 3 }),
      // Out of time order, observed before its own time, other source and stream, same labels in another order.
      rec(-5, { observedMs: T0 - 9000, source: 'kernel', stream: '', labels: { app: 'web', unit: 'nginx.service' } }),
      rec(2, { message: '', level: LogLevel.LOG_LEVEL_FATAL }),
      rec(3, { message: 'multi\nline\u0000 événement 日志 🚀', fields: { 'a.b': 'x\ny', empty: '' } }),
      rec(4, { timeMs: 1, observedMs: 2 ** 45 }),
    ];
    const expected = recs.map((r) => pb.LogRecord.fromPartial(r));
    expect(decodeBlock(encodeBlock(recs), BLOCK_V2)).toEqual(expected);
    expect(decodeBlock(await encodeBlockInBackground(recs), BLOCK_V2)).toEqual(expected);
    expect(decodeBlock(encodeBlock([]), BLOCK_V2)).toEqual([]);
  });

  it('refuses a block of a version it does not know, and a cut one, saying so', () => {
    const body = encodeBlock([rec(1)]);
    expect(() => decodeBlock(body, 3)).toThrow(/log block version 3 is newer than this server reads/);
    expect(() => decodeBlock(encodeBlockV1([rec(1)]), BLOCK_V2)).toThrow(/log block/);
  });
});

/**
 * A frame exactly as the store wrote it before block versions (no `v` in the header, a protobuf
 * body) or, with `v2`, before word filters were bytes in the body: both carry them base64 in the header.
 */
function oldFrame(agent: string, seq: number, host: string, recs: pb.LogRecord[], v2 = false): Buffer {
  const body = v2 ? encodeBlock(recs) : encodeBlockV1(recs);
  const distinct = new Set(recs.flatMap((r) => words(r.message)));
  const group = {
    ...(v2 ? { v: BLOCK_V2 } : {}),
    host,
    source: recs[0]?.source,
    minT: Math.min(...recs.map((r) => r.timeMs)),
    maxT: Math.max(...recs.map((r) => r.timeMs)),
    n: recs.length,
    levels: recs.reduce((m, r) => m | (1 << r.level), 0),
    streams: [...new Set(recs.map((r) => r.stream))],
    labels: {},
    words: Buffer.from(WordFilter.build(distinct, distinct.size).bits).toString('base64'),
    off: 0,
    len: body.length,
    crc: crc32(body),
  };
  const header = Buffer.from(JSON.stringify({ agent, seq, at: T0, groups: [group] }));
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x464c4731, 0);
  head.writeUInt32BE(header.length, 4);
  head.writeUInt32BE(body.length, 8);
  head.writeUInt32BE(crc32(header), 12);
  return Buffer.concat([head, header, body]);
}

describe('embedded log store: data written before block versions', () => {
  it('reads old blocks, appends new ones beside them, and compacts both into version 2', async () => {
    const dir = tempDir('falconet-log-v1-');
    const old = Array.from({ length: 6 }, (_, r) =>
      oldFrame('a1', r + 1, 'h1', [rec(r * 2, { message: `old report ${r} timeout` }), rec(r * 2 + 1, { labels: { unit: 'x' } })]),
    );
    writeFileSync(join(dir, '00000001-20261206.seg'), Buffer.concat(old));
    let now = T0;
    const store = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0, segmentBytes: 1, now: () => now });
    stores.push(store);
    const scan = (q: string) => ({ filter: new LogFilter(q), fromMs: 0, toMs: T0 + 86_400_000 });
    expect(await store.lastSeq('a1')).toBe(6);
    expect((await store.search(scan('timeout'), 100)).lines.map((l) => l.record.message)).toEqual(
      [5, 4, 3, 2, 1, 0].map((r) => `old report ${r} timeout`),
    );
    const before = (await store.search(scan(''), 100)).lines.map((l) => l.record);
    expect(before).toHaveLength(12);
    // The old segment is over segment_bytes: this report begins a new one (version 2) and the old one is compacted.
    now = T0 + 1000;
    await store.appendReport('a1', 'h1', 7, [rec(20, { message: 'new report timeout' })]);
    await store.settled();
    const stats = await store.stats();
    expect(stats).toMatchObject({ lines: 13, segments: 2 });
    const after = (await store.search(scan(''), 100)).lines.map((l) => l.record);
    expect(after[0]?.message).toBe('new report timeout');
    expect(after.slice(1)).toEqual(before);
    expect((await store.search(scan('timeout'), 100)).lines).toHaveLength(7);
    await store.close();
    stores.pop();
    const seg = readFileSync(join(dir, '00000001-20261206.seg'));
    const header = JSON.parse(seg.subarray(16, 16 + seg.readUInt32BE(4)).toString()) as { groups: { v?: number }[] };
    expect(header.groups.map((g) => g.v)).toEqual([BLOCK_V2]);
    // Reopened, the compacted segment is version 2 and says the same.
    const again = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0, now: () => now });
    stores.push(again);
    expect((await again.search(scan(''), 100)).lines.map((l) => l.record)).toEqual(after);
    expect(await again.lastSeq('a1')).toBe(7);
  });
});

describe('embedded log store: word filters', () => {
  it('keeps them as bytes in the frame body, checked, and still reads frames that carry them base64', async () => {
    const dir = tempDir('falconet-log-filters-');
    // Written before filters were bytes: version 2 blocks, filters base64 in the header.
    writeFileSync(
      join(dir, '00000001-20261206.seg'),
      Buffer.concat([oldFrame('a1', 1, 'h1', [rec(0, { message: 'legacy alpha' })], true), oldFrame('a1', 2, 'h1', [rec(1)], true)]),
    );
    const store = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0, now: () => T0 });
    stores.push(store);
    await store.appendReport('a1', 'h1', 3, [rec(2, { message: 'fresh BRAVO' }), rec(3, { source: 'db', message: 'Ünïcode charlie' })]);
    const scan = (q: string) => ({ filter: new LogFilter(q), fromMs: 0, toMs: T0 + 86_400_000 });
    const found = async (q: string) => (await store.search(scan(q), 100)).lines.map((l) => l.record.message);
    const read = store.blocksRead;
    expect(await found('alpha')).toEqual(['legacy alpha']);
    expect(await found('bravo')).toEqual(['fresh BRAVO']);
    expect(await found('ünïcode')).toEqual(['Ünïcode charlie']);
    // Each word is in one block of four: the filters ruled the others out (a filter of 64 bits may let one more through).
    expect(store.blocksRead - read).toBeLessThanOrEqual(4);
    await store.close();
    stores.pop();
    const seg = readFileSync(join(dir, '00000001-20261206.seg'));
    const at = seg.length - (await frameLength(seg, 2));
    const header = JSON.parse(seg.subarray(at + 16, at + 16 + seg.readUInt32BE(at + 4)).toString()) as {
      filterBytes: number;
      groups: { words?: string; wo: number; wl: number }[];
    };
    expect(header.groups.map((g) => [g.words, g.wo, g.wl])).toEqual([
      [undefined, 0, 8],
      [undefined, 8, 8],
    ]);
    expect(header.filterBytes).toBe(16);
    // A damaged filter is found on open like a damaged header: that frame and all after it are cut.
    const inFilter = at + 16 + seg.readUInt32BE(at + 4) + 3;
    seg[inFilter] = (seg[inFilter] as number) ^ 0xff;
    writeFileSync(join(dir, '00000001-20261206.seg'), seg);
    const again = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0, now: () => T0 });
    stores.push(again);
    expect(await again.lastSeq('a1')).toBe(2);
    expect((await again.stats()).lines).toBe(2);
  });
});

/** The length of the frame that starts after `before` whole frames of `seg`. */
async function frameLength(seg: Buffer, before: number): Promise<number> {
  let at = 0;
  for (let i = 0; i < before; i++) at += 16 + seg.readUInt32BE(at + 4) + seg.readUInt32BE(at + 8);
  return seg.length - at;
}

describe('message words', () => {
  it('are hashed from bytes into the same filter as from the words themselves', () => {
    const messages = [
      'GET /Item/42 HTTP/1.1 ÉCHEC naïve 日志',
      `${'A'.repeat(70)} ${'b'.repeat(64)} ${'c'.repeat(65)}`,
      'KELVIN \u212a and İstanbul',
      'snake_case CamelCase 0xDEADbeef 10.0.0.7:8080',
      '',
      '\u0000\u007f tabs\tand\nlines',
    ];
    const hashes = new WordHashes();
    const distinct = new Set<string>();
    for (const m of messages) {
      const bytes = Buffer.from(m, 'utf8');
      hashes.addUtf8(bytes, 0, bytes.length, m);
      for (const w of words(m)) distinct.add(w);
    }
    expect(hashes.size).toBe(distinct.size);
    expect(WordFilter.fromHashes(hashes).bits).toEqual(WordFilter.build(distinct, distinct.size).bits);
  });

  it('finds in ASCII text, by its fast path, the words the Unicode pattern finds', () => {
    const unicode = (t: string) => [...t.toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)].map((m) => m[0].slice(0, 64));
    const alphabet = 'aZ09_ -./:="\t\n\u0000\u007f';
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      let t = '';
      for (let n = next() % 120; n > 0; n--) t += alphabet[next() % alphabet.length];
      if (i % 50 === 0) t += `${'x'.repeat(70)} END`;
      expect(words(t)).toEqual(unicode(t));
    }
    expect(words('GET /Item/42 HTTP/1.1 ÉCHEC naïve 日志')).toEqual(['get', 'item', '42', 'http', '1', '1', 'échec', 'naïve', '日志']);
  });
});
