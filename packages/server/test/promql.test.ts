import { describe, expect, it } from 'vitest';
import type { LabelMatcher } from '../src/promql/ast.ts';
import { Evaluator, PromQLError, type SeriesSource } from '../src/promql/engine.ts';
import { compileMatchers } from '../src/promql/matchers.ts';
import { PromQLParseError, parsePromQL } from '../src/promql/parser.ts';
import { labelKey, type Metric, type MSeries, type Value } from '../src/promql/values.ts';

/** Series in memory: `points` as [seconds, value]. */
function source(series: { metric: Metric; points: [number, number][] }[]): SeriesSource {
  return {
    async select(matchers: readonly LabelMatcher[], minT: number, maxT: number): Promise<MSeries[]> {
      const ms = compileMatchers(matchers);
      return series
        .filter((s) => ms.every((m) => m.test(s.metric[m.name])))
        .map((s) => {
          const pts = s.points.map(([t, v]) => [t * 1000, v] as const).filter(([t]) => t >= minT && t <= maxT);
          return { metric: s.metric, ts: pts.map((p) => p[0]), vs: pts.map((p) => p[1]) };
        })
        .filter((s) => s.ts.length > 0);
    },
  };
}

const every10s = (from: number, values: number[]): [number, number][] => values.map((v, i) => [from + i * 10, v]);

const DATA = source([
  { metric: { __name__: 'reqs_total', job: 'api', path: '/a' }, points: every10s(5, [0, 10, 20, 30, 40, 50]) },
  { metric: { __name__: 'reqs_total', job: 'api', path: '/b' }, points: every10s(5, [0, 10, 20, 5, 15, 25]) },
  { metric: { __name__: 'fs_size', instance: 'h1', mount: '/' }, points: every10s(0, [100, 100, 100, 100, 100, 100, 100]) },
  { metric: { __name__: 'fs_size', instance: 'h1', mount: '/home' }, points: every10s(0, [200, 200, 200, 200, 200, 200, 200]) },
  { metric: { __name__: 'fs_free', instance: 'h1', mount: '/' }, points: every10s(0, [25, 25, 25, 25, 25, 25, 25]) },
  { metric: { __name__: 'fs_free', instance: 'h1', mount: '/home' }, points: every10s(0, [50, 50, 50, 50, 50, 50, 50]) },
  { metric: { __name__: 'uname', instance: 'h1', nodename: 'web-1' }, points: every10s(0, [1, 1, 1, 1, 1, 1, 1]) },
  ...['0.1', '0.5', '1', '+Inf'].map((le, i) => ({
    metric: { __name__: 'lat_bucket', job: 'api', le },
    points: every10s(0, [[10, 50, 90, 100][i] as number]),
  })),
]);

async function instant(query: string, atS: number, src = DATA): Promise<Value> {
  const expr = parsePromQL(query);
  const ev = new Evaluator({ startMs: atS * 1000, endMs: atS * 1000, stepMs: 0 });
  await ev.load(expr, src);
  return ev.run(expr);
}

async function values(query: string, atS: number): Promise<Record<string, number>> {
  const v = await instant(query, atS);
  if (v.type === 'scalar') return { scalar: v.value };
  if (v.type !== 'vector') throw new Error(`got ${v.type}`);
  return Object.fromEntries(
    v.samples.map((s) => [
      Object.entries(s.metric)
        .sort()
        .map(([k, x]) => `${k}=${x}`)
        .join(','),
      s.value,
    ]),
  );
}

describe('PromQL rate family: Prometheus extrapolation', () => {
  it('extrapolates to the range edges, and not below zero for counters', async () => {
    // Samples at 5..55 s, +10 each; range [0, 60]: to start 5 s but the counter is zero there, to end 5 s (< 1.1 x 10 s).
    expect((await values('rate(reqs_total{path="/a"}[1m])', 60))['job=api,path=/a']).toBeCloseTo(55 / 60, 12);
    expect((await values('increase(reqs_total{path="/a"}[1m])', 60))['job=api,path=/a']).toBeCloseTo(55, 10);
    // delta treats it as a gauge: extrapolated over the whole 60 s.
    expect((await values('delta(reqs_total{path="/a"}[1m])', 60))['job=api,path=/a']).toBeCloseTo(60, 10);
  });

  it('adds the value before a counter reset', async () => {
    // 0,10,20,5,15,25: 25 - 0 + 20 = 45, extrapolated to 55 s of 50 s sampled... the first value is 0: toZero = 0.
    expect((await values('increase(reqs_total{path="/b"}[1m])', 60))['job=api,path=/b']).toBeCloseTo(45 * (55 / 50), 10);
    expect(await values('irate(reqs_total{path="/b"}[1m])', 60)).toEqual({ 'job=api,path=/b': 1 });
    expect(await values('resets(reqs_total{path="/b"}[1m])', 60)).toEqual({ 'job=api,path=/b': 1 });
  });

  it('needs two samples, and sees nothing past the 5 m lookback', async () => {
    expect(await values('rate(reqs_total[5s])', 60)).toEqual({});
    expect(Object.keys(await values('reqs_total', 55 + 300))).toHaveLength(2);
    expect(await values('reqs_total', 55 + 301)).toEqual({});
  });

  it('deriv and predict_linear fit a line', async () => {
    expect((await values('deriv(reqs_total{path="/a"}[1m])', 60))['job=api,path=/a']).toBeCloseTo(1, 10);
    expect((await values('predict_linear(reqs_total{path="/a"}[1m], 100)', 60))['job=api,path=/a']).toBeCloseTo(55 + 100, 8);
  });
});

describe('PromQL selectors, offset, @ and subqueries', () => {
  it('offset and @ move the evaluation time of the selector', async () => {
    expect(await values('reqs_total{path="/a"} offset 20s', 60)).toEqual({ '__name__=reqs_total,job=api,path=/a': 30 });
    expect(await values('reqs_total{path="/a"} @ 25', 1000)).toEqual({ '__name__=reqs_total,job=api,path=/a': 20 });
    expect(await values('reqs_total{path=~"/(a|b)", path!~"/b"}', 60)).toEqual({ '__name__=reqs_total,job=api,path=/a': 50 });
  });

  it('offset and @ after an operation belong to the operand just before them, as in Prometheus', async () => {
    // lezer-promql hangs them on the whole operation; Prometheus on the selector they follow.
    expect(await values('reqs_total{path="/a"} - reqs_total{path="/a"} offset 20s', 60)).toEqual({ 'job=api,path=/a': 20 });
    expect(await values('-reqs_total{path="/a"} @ 25', 1000)).toEqual({ 'job=api,path=/a': -20 });
    expect(() => parsePromQL('(a + b) offset 1m')).toThrow(PromQLParseError);
    expect(() => parsePromQL('a + rate(b[1m]) offset 1m')).toThrow(PromQLParseError);
  });

  it('subqueries evaluate on aligned steps', async () => {
    // rate at 30, 40, 50, 60 s over 30 s windows of a steady +1/s counter.
    expect((await values('max_over_time(rate(reqs_total{path="/a"}[30s])[30s:10s])', 60))['job=api,path=/a']).toBeCloseTo(1, 10);
    expect(await values('count_over_time(reqs_total{path="/a"}[30s:10s])', 60)).toEqual({ 'job=api,path=/a': 4 });
  });
});

describe('PromQL operators and aggregations', () => {
  it('matches one-to-one, group_left, and refuses ambiguous matches', async () => {
    expect(await values('(fs_size - fs_free) / fs_size * 100', 60)).toEqual({ 'instance=h1,mount=/': 75, 'instance=h1,mount=/home': 75 });
    expect(await values('fs_size * on(instance) group_left(nodename) uname', 60)).toEqual({
      'instance=h1,mount=/,nodename=web-1': 100,
      'instance=h1,mount=/home,nodename=web-1': 200,
    });
    await expect(instant('fs_size * on(instance) uname', 60)).rejects.toThrow(/many-to-one matching must be explicit/);
    await expect(instant('uname * on(instance) fs_size', 60)).rejects.toThrow(/duplicate series for the match group/);
    expect(await values('fs_size > bool 150', 60)).toEqual({ 'instance=h1,mount=/': 0, 'instance=h1,mount=/home': 1 });
    expect(await values('fs_size > 150', 60)).toEqual({ '__name__=fs_size,instance=h1,mount=/home': 200 });
    expect(await values('fs_size unless on(mount) fs_free{mount="/"}', 60)).toEqual({ '__name__=fs_size,instance=h1,mount=/home': 200 });
    expect(await values('2 ^ 3 * 2', 0)).toEqual({ scalar: 16 });
  });

  it('aggregates by and without, topk, quantile, count_values', async () => {
    expect(await values('sum by (instance) (fs_size)', 60)).toEqual({ 'instance=h1': 300 });
    expect(await values('avg without (mount) (fs_size)', 60)).toEqual({ 'instance=h1': 150 });
    expect(await values('count(count(fs_size) by (mount))', 60)).toEqual({ '': 2 });
    expect(await values('topk(1, fs_size)', 60)).toEqual({ '__name__=fs_size,instance=h1,mount=/home': 200 });
    expect(await values('quantile(0.5, fs_size)', 60)).toEqual({ '': 150 });
    expect(await values('count_values("v", fs_free)', 60)).toEqual({ 'v=25': 1, 'v=50': 1 });
    expect(await values('stddev(fs_size)', 60)).toEqual({ '': 50 });
    expect(await values('scalar(sum(fs_free)) * 2', 60)).toEqual({ scalar: 150 });
  });

  it('histogram_quantile interpolates within the bucket', async () => {
    // 100 observations; rank 50 is the top of the 0.5 bucket; rank 90 the top of 1; rank 95 past the last finite bound.
    expect(await values('histogram_quantile(0.5, lat_bucket)', 60)).toEqual({ 'job=api': 0.5 });
    expect((await values('histogram_quantile(0.7, lat_bucket)', 60))['job=api']).toBeCloseTo(0.75, 10);
    expect(await values('histogram_quantile(0.95, lat_bucket)', 60)).toEqual({ 'job=api': 1 });
  });

  it('label_replace, label_join, absent, clamp, round, vector, time', async () => {
    expect(await values('label_replace(uname, "host", "$1", "nodename", "(.*)-1")', 60)).toEqual({
      '__name__=uname,host=web,instance=h1,nodename=web-1': 1,
    });
    expect(await values('label_join(uname, "id", "/", "instance", "nodename")', 60)).toEqual({
      '__name__=uname,id=h1/web-1,instance=h1,nodename=web-1': 1,
    });
    expect(await values('absent(nope{job="x", a=~"y"})', 60)).toEqual({ 'job=x': 1 });
    expect(await values('absent(uname)', 60)).toEqual({});
    expect(await values('clamp_max(fs_size, 150)', 60)).toEqual({ 'instance=h1,mount=/': 100, 'instance=h1,mount=/home': 150 });
    expect(await values('round(fs_free / 3, 0.5)', 60)).toEqual({ 'instance=h1,mount=/': 8.5, 'instance=h1,mount=/home': 16.5 });
    expect(await values('vector(time())', 60)).toEqual({ '': 60 });
  });

  it('range queries give one point per step', async () => {
    const expr = parsePromQL('sum(rate(reqs_total{path="/a"}[30s]))');
    const ev = new Evaluator({ startMs: 30_000, endMs: 60_000, stepMs: 10_000 });
    await ev.load(expr, DATA);
    const v = ev.run(expr);
    expect(v.type).toBe('matrix');
    if (v.type !== 'matrix') return;
    expect(v.series).toHaveLength(1);
    expect(v.series[0]?.ts).toEqual([30_000, 40_000, 50_000, 60_000]);
  });

  it('a range query answers at each step what an instant query answers then, as series come and go', async () => {
    // Steps reuse the step before's groups and series by label-set identity: series that start, stop
    // and change order between steps must still land in the right group and output series.
    const src = source([
      { metric: { __name__: 'cpu', host: 'a', mode: 'user' }, points: every10s(0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) },
      { metric: { __name__: 'cpu', host: 'a', mode: 'idle' }, points: every10s(30, [5, 1, 7, 2]) },
      { metric: { __name__: 'cpu', host: 'b', mode: 'user' }, points: every10s(20, [Number.NaN, 4, 1e308, 1e308, -3]) },
      { metric: { __name__: 'cpu', host: 'b', mode: 'idle' }, points: every10s(0, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]) },
    ]);
    const queries = [
      'sum by (host) (cpu)',
      'avg by (mode) (cpu)',
      'min without (mode) (cpu)',
      'max(cpu)',
      'stddev by (host) (cpu)',
      'stdvar(cpu)',
      'count(count(cpu) by (mode))',
      'group by (host) (cpu)',
      'sum(rate(cpu[25s])) / scalar(count(count(cpu) by (host)))',
      'irate(cpu[25s])',
      'delta(cpu{host="b"}[35s])',
      '(rate(cpu[25s]) > bool 0) * rate(cpu[25s])',
      'cpu / on (host) group_left sum by (host) (cpu)',
      'cpu{mode="user"} - ignoring (mode) cpu{mode="idle"}',
      'cpu - cpu offset 20s',
      'rate(cpu[25s]) / cpu',
    ];
    const lookbackMs = 15_000;
    for (const query of queries) {
      const expr = parsePromQL(query);
      const ev = new Evaluator({ startMs: 0, endMs: 100_000, stepMs: 10_000, lookbackMs });
      await ev.load(expr, src);
      const range = ev.run(expr);
      if (range.type !== 'matrix') throw new Error(`${query}: got ${range.type}`);
      const got: Record<string, number> = {};
      for (const s of range.series) for (let i = 0; i < s.ts.length; i++) got[`${labelKey(s.metric)}@${s.ts[i]}`] = s.vs[i] as number;
      const want: Record<string, number> = {};
      for (let t = 0; t <= 100_000; t += 10_000) {
        const one = new Evaluator({ startMs: t, endMs: t, stepMs: 0, lookbackMs });
        await one.load(expr, src);
        const v = one.run(expr);
        if (v.type === 'scalar') want[`${labelKey({})}@${t}`] = v.value;
        else if (v.type === 'vector') for (const s of v.samples) want[`${labelKey(s.metric)}@${t}`] = s.value;
      }
      expect(got, query).toEqual(want);
    }
  });

  it('reads selectors with the same matchers once, over the window all of them need', async () => {
    const asked: [number, number][] = [];
    const src: SeriesSource = {
      select: (matchers, minT, maxT) => {
        asked.push([minT, maxT]);
        return DATA.select(matchers, minT, maxT);
      },
    };
    const expr = parsePromQL('rate(reqs_total[1m]) / rate(reqs_total[1m] offset 10s) + reqs_total');
    const ev = new Evaluator({ startMs: 60_000, endMs: 60_000, stepMs: 0 });
    await ev.load(expr, src);
    expect(asked).toEqual([[60_000 - 300_000, 60_000]]);
    const v = ev.run(expr);
    expect(v.type === 'vector' && v.samples.length).toBe(2);
  });

  it('refuses duplicate label sets that first appear in a later step of a range query', async () => {
    const src = source([
      { metric: { __name__: 'a', x: '1' }, points: every10s(0, [1, 2, 3, 4, 5, 6]) },
      { metric: { __name__: 'b', x: '1' }, points: every10s(40, [1, 2]) },
    ]);
    const expr = parsePromQL('abs({x="1"})');
    const ev = new Evaluator({ startMs: 0, endMs: 50_000, stepMs: 10_000, lookbackMs: 5_000 });
    await ev.load(expr, src);
    expect(() => ev.run(expr)).toThrow('vector cannot contain metrics with the same labelset');
  });
});

describe('PromQL staleness', () => {
  it('a staleness marker ends the series at once; ranges skip it', async () => {
    const src: SeriesSource = {
      async select() {
        return [{ metric: { __name__: 'gone' }, ts: [0, 10_000, 20_000], vs: [1, 2, Number.NaN], stale: [false, false, true] }];
      },
    };
    expect(await instant('gone', 15, src)).toEqual({ type: 'vector', samples: [{ metric: { __name__: 'gone' }, value: 2, t: 10_000 }] });
    expect(await instant('gone', 25, src)).toEqual({ type: 'vector', samples: [] });
    expect(await instant('count_over_time(gone[1m])', 25, src)).toEqual({ type: 'vector', samples: [{ metric: {}, value: 2, t: 25_000 }] });
  });
});

describe('PromQL errors', () => {
  it('refuses bad syntax and types with bad_data messages', () => {
    expect(() => parsePromQL('sum(rate(x[5m])')).toThrow(PromQLParseError);
    expect(() => parsePromQL('rate(x)')).toThrow(/expected type range vector in call to function "rate", got instant vector/);
    expect(() => parsePromQL('{job=~".*"}')).toThrow(/at least one non-empty matcher/);
    expect(() => parsePromQL('up{job=~"(unclosed"}')).toThrow(/not a regular expression/);
    // The grammar knows every function name: an unknown one is a syntax error at its place.
    expect(() => parsePromQL('nope_fn(x)')).toThrow(/parse error at line 1, column 8/);
    expect(() => parsePromQL('1 > 2')).toThrow(/comparisons between scalars must use BOOL/);
    expect(() => parsePromQL('x[5x]')).toThrow(PromQLParseError);
    expect(() => parsePromQL('')).toThrow(/empty query/);
  });

  it('refuses a query that would read more samples than allowed', async () => {
    const expr = parsePromQL('sum(fs_size) + sum(fs_free)');
    const ev = new Evaluator({ startMs: 60_000, endMs: 60_000, stepMs: 0, maxSamples: 20 });
    await expect(ev.load(expr, DATA)).rejects.toThrow(/too many samples/);
  });

  it('refuses a vector with duplicate label sets after dropping names', async () => {
    const src = source([
      { metric: { __name__: 'a', x: '1' }, points: [[0, 1]] },
      { metric: { __name__: 'b', x: '1' }, points: [[0, 2]] },
    ]);
    await expect(instant('abs({x="1"})', 10, src)).rejects.toThrow(PromQLError);
  });
});
