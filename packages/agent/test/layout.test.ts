import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../../testing/procfs-fixtures.ts';
import {
  endAtBlank,
  HeaderTables,
  KeyedLines,
  leadingNumber,
  numberIn,
  parseMeminfo,
  parseNetstat,
  parseSnmp6,
  parseVmstat,
} from '../src/procfs/index.ts';

/** The basic fixtures, every other fixture tree that has the file, and this machine's own file. */
function samples(rel: string): [string, string][] {
  const out: [string, string][] = [];
  for (const tree of readdirSync(FIXTURES)) {
    try {
      out.push([`fixtures/${tree}`, readFileSync(join(FIXTURES, tree, 'proc', rel), 'utf8')]);
    } catch {
      // not in this tree
    }
  }
  try {
    out.push([`/proc/${rel}`, readFileSync(`/proc/${rel}`, 'utf8')]);
  } catch {
    // not on this host
  }
  return out;
}

const headerTable = () => new HeaderTables((protocol, field) => `${protocol} ${field}`);
const tableRead = (t: HeaderTables<string>, text: string) => {
  const got: [string, number][] = [];
  t.read(text, (c, v) => got.push([c, v]));
  return got;
};
const snmp6Lines = () =>
  new KeyedLines(endAtBlank, (key) => {
    const m = /^(\S+?6)(\S+)$/.exec(key);
    return m ? `${m[1]} ${m[2]}` : null;
  });
const keyedRead = (k: KeyedLines<string>, text: string) => {
  const got: [string, number][] = [];
  k.read(text, (c, t, from, to) => {
    const v = numberIn(t, from, to);
    if (Number.isFinite(v)) got.push([c, v]);
  });
  return got;
};

describe('numberIn', () => {
  it('reads digits in place, and leaves signs, fractions and long numbers to Number()', () => {
    expect(numberIn('x 1234 y', 1, 6)).toBe(1234);
    expect(numberIn('\t0\t', 0, 3)).toBe(0);
    expect(numberIn('18446744073709551615', 0, 20)).toBe(Number('18446744073709551615'));
    expect(numberIn('123456789012345', 0, 15)).toBe(123456789012345);
    expect(numberIn('-5', 0, 2)).toBe(-5);
    expect(numberIn('0.25', 0, 4)).toBe(0.25);
    expect(numberIn('1e3', 0, 3)).toBe(1000);
    expect(numberIn('12ab', 0, 4)).toBeNaN();
    expect(numberIn('   ', 0, 3)).toBeNaN();
    expect(leadingNumber(': 16384 kB', 1, 10)).toBe(16384);
  });
});

describe('layout readers give what the pure parsers give', () => {
  it.each(samples('net/netstat').concat(samples('net/snmp')))('header tables: %s', (_, text) => {
    const expected = parseNetstat(text).map((f) => [`${f.protocol} ${f.name}`, f.value]);
    const t = headerTable();
    expect(tableRead(t, text)).toEqual(expected);
    // The second read goes through the remembered layout.
    expect(tableRead(t, text)).toEqual(expected);
  });

  it.each(samples('net/snmp6'))('name-value lines: %s', (_, text) => {
    const expected = parseSnmp6(text).map((f) => [`${f.protocol} ${f.name}`, f.value]);
    const k = snmp6Lines();
    expect(keyedRead(k, text)).toEqual(expected);
    expect(keyedRead(k, text)).toEqual(expected);
  });

  it.each(samples('vmstat'))('vmstat: %s', (_, text) => {
    const k = new KeyedLines(endAtBlank, (key) => key);
    expect(keyedRead(k, text)).toEqual(parseVmstat(text));
    expect(keyedRead(k, text)).toEqual(parseVmstat(text));
  });

  it.each(samples('meminfo'))('meminfo through the collector: %s', async (_, text) => {
    const { default: meminfo } = await import('../src/collectors/meminfo.linux.ts');
    const { MetricWriter } = await import('../src/metrics.ts');
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const root = mkdtempSync(join(tmpdir(), 'meminfo-'));
    mkdirSync(join(root, 'proc'));
    writeFileSync(join(root, 'proc/meminfo'), text);
    const c = meminfo.create({} as never);
    const roots = { proc: join(root, 'proc'), sys: join(root, 'sys'), rootfs: root };
    for (let read = 0; read < 2; read++) {
      const out = new MetricWriter();
      await c.update(out, { roots, log: undefined as never, signal: undefined as never });
      const got = out.families().map((f) => f.metrics[0]?.value);
      expect(got).toEqual(parseMeminfo(text).map((e) => e.value));
    }
  });
});

describe('a layout that changes between reads', () => {
  it('is read afresh where a name moved, was added or went away', () => {
    const k = new KeyedLines(endAtBlank, (key) => (key.startsWith('skip') ? null : key));
    expect(keyedRead(k, 'a 1\nb 2\nskip_c 3\n')).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(keyedRead(k, 'a 4\nbb 5\nb 6\nd 7\n')).toEqual([
      ['a', 4],
      ['bb', 5],
      ['b', 6],
      ['d', 7],
    ]);
    expect(keyedRead(k, 'ab 8\n')).toEqual([['ab', 8]]);
    expect(keyedRead(k, 'a 9\n')).toEqual([['a', 9]]);
  });

  it('header tables follow a new header, and name what is malformed', () => {
    const t = headerTable();
    expect(tableRead(t, 'Tcp: A B\nTcp: 1 2\n')).toEqual([
      ['Tcp A', 1],
      ['Tcp B', 2],
    ]);
    expect(tableRead(t, 'Tcp: A C B\nTcp: 1 3 2\nUdp: X\nUdp: 9\n')).toEqual([
      ['Tcp A', 1],
      ['Tcp C', 3],
      ['Tcp B', 2],
      ['Udp X', 9],
    ]);
    expect(() => tableRead(t, 'Tcp: A B\nUdp: 1 2\n')).toThrow(/line 2: values for "Udp:" under a "Tcp:" header/);
    expect(() => tableRead(t, 'Tcp: A B\n')).toThrow(/line 1: a header line without a line of values/);
    expect(() => tableRead(t, 'Tcp: A B\nTcp: 1\n')).toThrow(/line 2: fewer values than field names/);
    expect(() => tableRead(t, 'no colon\nTcp: 1\n')).toThrow(/line 1: expected "Protocol: Name ..."/);
  });
});
