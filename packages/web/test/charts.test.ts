import type { Labels } from '@falconet/protocol/api';
import { describe, expect, it } from 'vitest';
import { type ChartSpec, containerChartSpecs, formatTick, formatValue, SYSTEM_CHARTS } from '../src/host/charts.ts';
import { isMessageKey, type MessageKey } from '../src/i18n.tsx';

/** The dictionary's English for what a key function asks, enough to read the line names. */
const t = (k: MessageKey) => `<${k}>`;
const chart = (id: string) => SYSTEM_CHARTS.find((c) => c.id === id) as ChartSpec;
/** The line each labelled series of a chart's query goes to (undefined: left out). */
const lines = (id: string, query: number, series: Labels[]) => series.map((l) => chart(id).queries[query]?.key(l, t));

describe('formatValue', () => {
  it('writes each unit its own way', () => {
    expect(formatValue('percent', 12.345)).toBe('12.3%');
    expect(formatValue('bytes', 3 * 2 ** 30)).toBe('3.0 GiB');
    expect(formatValue('rate', 1536)).toBe('1.5 KiB/s');
    expect(formatValue('celsius', 41.26)).toBe('41.3 °C');
  });

  it('writes plain numbers with two decimals below 100 and none from 100', () => {
    expect(formatValue('number', 0.5)).toBe('0.50');
    expect(formatValue('number', 99.994)).toBe('99.99');
    expect(formatValue('number', 100)).toBe('100');
    expect(formatValue('number', -250.4)).toBe('-250');
  });

  it('writes a dash for a gap (null), no value, NaN or Infinity, in every unit', () => {
    for (const unit of ['percent', 'bytes', 'rate', 'number', 'celsius'] as const) {
      for (const v of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY]) expect(formatValue(unit, v)).toBe('–');
    }
  });
});

describe('formatTick', () => {
  it('writes axis ticks short: whole units for percent, degrees and numbers', () => {
    expect(formatTick('percent', 25)).toBe('25%');
    expect(formatTick('celsius', 60)).toBe('60°');
    expect(formatTick('number', 0.25)).toBe('0.25');
  });

  it('drops the decimals of byte ticks from two digits on, and a ".0" anywhere', () => {
    expect(formatTick('bytes', 256 * 2 ** 20)).toBe('256 MiB');
    expect(formatTick('bytes', 2 ** 30)).toBe('1 GiB');
    expect(formatTick('bytes', 1.5 * 2 ** 30)).toBe('1.5 GiB');
    expect(formatTick('rate', 20 * 1024)).toBe('20 KiB/s');
    expect(formatTick('bytes', 512)).toBe('512 B');
  });
});

describe('the system charts', () => {
  it('have unique ids and a title the dictionary knows', () => {
    expect(new Set(SYSTEM_CHARTS.map((c) => c.id)).size).toBe(SYSTEM_CHARTS.length);
    for (const c of SYSTEM_CHARTS) expect(isMessageKey(c.title), c.id).toBe(true);
  });

  it('draw busy CPU time per core, leaving idle and iowait out', () => {
    expect(
      lines('cpu-cores', 0, [
        { cpu: '0', mode: 'user' },
        { cpu: '0', mode: 'idle' },
        { cpu: '1', mode: 'iowait' },
        { cpu: '1', mode: 'system' },
      ]),
    ).toEqual(['cpu0', undefined, undefined, 'cpu1']);
    const q = chart('cpu-cores').queries[0];
    expect(q).toMatchObject({ counter: true, scale: 100 });
  });

  it('draw CPU per mode averaged over cores, without idle, each mode named in the dashboard language', () => {
    expect(
      lines('cpu-modes', 0, [
        { cpu: '0', mode: 'user' },
        { cpu: '3', mode: 'idle' },
        { cpu: '0', mode: 'softirq' },
        { cpu: '0', mode: 'guest_future' },
      ]),
    ).toEqual(['<mode.user>', undefined, '<mode.softirq>', 'guest_future']);
    expect(chart('cpu-modes').queries[0]?.perDistinct).toBe('cpu');
  });

  it('draw network per interface in and out, without loopback or a series with no device', () => {
    expect(lines('network', 0, [{ device: 'eth0' }, { device: 'lo' }, {}])).toEqual(['eth0 <series.in>', undefined, undefined]);
    expect(lines('network', 1, [{ device: 'eth0' }])).toEqual(['eth0 <series.out>']);
  });

  it('take only the unlabelled CPU and memory totals, not per-core or per-mount series', () => {
    expect(lines('CPU', 0, [{}, { cpu: '0' }])).toEqual(['<series.cpuUsed>', undefined]);
    expect(lines('Memory', 1, [{}])).toEqual(['<series.swapUsed>']);
  });

  it('name each memory line with one translated word, never an English word beside a translated one', () => {
    const names = chart('memory-bytes').queries.map((_q, i) => lines('memory-bytes', i, [{}])[0]);
    expect(names).toEqual(['<series.memTotal>', '<series.memAvailable>', '<series.swapTotal>', '<series.swapFree>']);
  });

  it('name temperature lines by chip and sensor, or by zone type, with what is missing left out', () => {
    expect(lines('temps', 0, [{ chip: 'coretemp', sensor: 'temp1' }, { chip: 'nvme' }, {}])).toEqual(['coretemp temp1', 'nvme', '']);
    expect(lines('temps', 1, [{ type: 'x86_pkg_temp', zone: '0' }, {}])).toEqual(['x86_pkg_temp 0', 'zone']);
  });
});

describe('containerChartSpecs', () => {
  it("reads the container's own series, with a limit line only where it has a limit", () => {
    const [cpu, memory] = containerChartSpecs({ id: '/docker/abc', cpuLimited: true, memoryLimited: false });
    expect(cpu.queries).toHaveLength(2);
    expect(cpu.queries.map((q) => q.labels)).toEqual([{ id: '/docker/abc' }, { id: '/docker/abc' }]);
    expect(cpu.queries[1]).toMatchObject({ limit: true, scale: 100 });
    expect(memory.queries).toHaveLength(1);
    expect(memory.unit).toBe('bytes');

    const [, limited] = containerChartSpecs({ id: 'x', cpuLimited: false, memoryLimited: true });
    expect(limited.queries[1]).toMatchObject({ limit: true });
    expect(limited.queries[1]?.key({}, t)).toBe('<ctr.limit>');
  });
});
