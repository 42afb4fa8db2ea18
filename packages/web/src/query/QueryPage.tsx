import { type FormEvent, useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { PRESETS } from '../host/HostPage.tsx';
import { useI18n } from '../i18n.tsx';
import { PromError, type PromSeries, queryInstant, queryRange, seriesName } from './api.ts';
import './query.css';

const PALETTE = ['#2563eb', '#059669', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9333ea', '#ea580c'];
/** About as many points across as a chart is wide; Grafana asks the same way. */
const POINTS = 400;

interface Result {
  series: PromSeries[];
  /** The instant answer at the end of the range, for the table. */
  table: PromSeries[];
  startS: number;
  endS: number;
  stepS: number;
}

/** A step the range divides into about POINTS, rounded to whole seconds. */
export function stepFor(spanMs: number): number {
  return Math.max(1, Math.round(spanMs / 1000 / POINTS));
}

/** The Query page: a PromQL box, the host page's time ranges, a graph of the range and a table of the end. */
export function QueryPage({ theme }: { theme: string }) {
  const { t } = useI18n();
  const [expr, setExpr] = useState(() => new URLSearchParams(location.search).get('q') ?? '');
  const [preset, setPreset] = useState('1h');
  const [running, setRunning] = useState(false);
  const [error, setError] = useState('');
  const [result, setResult] = useState<Result | undefined>();

  const run = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!expr.trim()) return;
    const spanMs = PRESETS.find(([p]) => p === preset)?.[1] ?? 3_600_000;
    const endS = Math.floor(Date.now() / 1000);
    const stepS = stepFor(spanMs);
    const startS = endS - spanMs / 1000;
    setRunning(true);
    setError('');
    try {
      const [range, instant] = await Promise.all([queryRange(expr, startS, endS, stepS), queryInstant(expr, endS)]);
      const table: PromSeries[] =
        instant.resultType === 'vector'
          ? (instant.result as PromSeries[])
          : instant.resultType === 'scalar' || instant.resultType === 'string'
            ? [{ metric: {}, value: instant.result as [number, string] }]
            : [];
      setResult({ series: range.result as PromSeries[], table, startS, endS, stepS });
      // The expression goes into the address, so a query can be shared as a link.
      history.replaceState(null, '', `/query?${new URLSearchParams({ q: expr })}`);
    } catch (err) {
      setResult(undefined);
      setError(err instanceof PromError ? err.message : (err as Error).message);
    } finally {
      setRunning(false);
    }
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new range re-runs what was run
  useEffect(() => {
    if (result) void run();
  }, [preset]);

  return (
    <section className="query-page">
      <h1>{t('query.title')}</h1>
      <p className="muted">{t('query.intro')}</p>
      <form className="query-form" onSubmit={run}>
        <label htmlFor="query-expr" className="sr-only">
          {t('query.expr')}
        </label>
        <textarea
          id="query-expr"
          data-testid="query-expr"
          value={expr}
          rows={3}
          spellCheck={false}
          placeholder='rate(node_cpu_seconds_total{mode="user"}[5m])'
          onChange={(e) => setExpr(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void run(e);
          }}
        />
        <div className="query-bar">
          <button type="submit" className="primary" disabled={running} data-testid="query-run">
            {running ? t('query.running') : t('query.run')}
          </button>
          <fieldset className="ranges">
            <legend className="sr-only">{t('query.range')}</legend>
            {PRESETS.map(([p]) => (
              <button
                key={p}
                type="button"
                aria-pressed={preset === p}
                className={preset === p ? 'on' : ''}
                onClick={() => setPreset(p)}
                data-testid={`query-range-${p}`}
              >
                {p}
              </button>
            ))}
          </fieldset>
          <span className="muted query-hint">{t('query.hint')}</span>
        </div>
      </form>
      {error ? (
        <p role="alert" className="query-error" data-testid="query-error">
          {t('query.error', error)}
        </p>
      ) : null}
      {result ? <QueryResult result={result} theme={theme} /> : null}
    </section>
  );
}

function QueryResult({ result, theme }: { result: Result; theme: string }) {
  const { t } = useI18n();
  if (result.series.length === 0 && result.table.length === 0) return <p data-testid="query-empty">{t('query.empty')}</p>;
  return (
    <>
      <h2>{t('query.graph')}</h2>
      <p className="muted" data-testid="query-summary">
        {t('query.series', String(result.series.length), String(result.stepS))}
      </p>
      <QueryGraph result={result} theme={theme} />
      <h2>{t('query.table')}</h2>
      <div className="query-table-wrap">
        <table className="query-table" data-testid="query-table">
          <thead>
            <tr>
              <th>{t('query.col.series')}</th>
              <th>{t('query.col.value')}</th>
            </tr>
          </thead>
          <tbody>
            {result.table.map((s) => (
              <tr key={seriesName(s.metric)}>
                <td className="query-series">{seriesName(s.metric)}</td>
                <td className="num">{s.value?.[1]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function QueryGraph({ result, theme }: { result: Result; theme: string }) {
  const host = useRef<HTMLDivElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: theme re-reads the colours
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const times: number[] = [];
    for (let s = result.startS; s <= result.endS; s += result.stepS) times.push(s);
    const index = new Map(times.map((s, i) => [s, i]));
    const rows = result.series.map((s) => {
      const row: (number | null)[] = times.map(() => null);
      for (const [ts, v] of s.values ?? []) {
        const i = index.get(ts);
        const n = Number(v);
        if (i !== undefined && Number.isFinite(n)) row[i] = n;
      }
      return row;
    });
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#6b7280';
    const grid = css.getPropertyValue('--grid').trim() || '#e5e7eb';
    const axis = { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid } };
    const plot = new uPlot(
      {
        width: el.clientWidth || 320,
        height: 260,
        legend: { show: result.series.length <= 12 },
        axes: [axis, { ...axis, size: 60 }],
        series: [
          {},
          ...result.series.map((s, i) => ({
            label: seriesName(s.metric),
            stroke: PALETTE[i % PALETTE.length] as string,
            width: 1.5,
            spanGaps: false,
          })),
        ],
      },
      [times, ...rows] as uPlot.AlignedData,
      el,
    );
    el.dataset.series = String(result.series.length);
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth || 320, height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [result, theme]);
  return <div ref={host} className="query-graph" data-testid="query-graph" />;
}
