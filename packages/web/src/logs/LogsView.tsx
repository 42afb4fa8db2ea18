import type { LiveLogsGap, LOG_FACETS, LogFacetsAnswer, LogHistogramAnswer, LogLine } from '@falconet/protocol/api';
import { type FormEvent, Fragment, useCallback, useEffect, useRef, useState } from 'react';
import type { Range } from '../host/time-axis.ts';
import { rangeBounds } from '../host/time-axis.ts';
import { ApiError } from '../http.ts';
import type { logsEn } from '../i18n/logs.ts';
import { useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { Button } from '../ui/Button.tsx';
import { type LogScope, logFacets, logHistogram, searchLogs } from './api.ts';
import { LogHistogram } from './LogHistogram.tsx';
import { addTerm, queryRefusal, scopedQuery } from './query.ts';
import type { LogsViewState } from './url.ts';
import './logs.css';

/** Lines kept on the page: the live tail drops the oldest beyond this. */
const MAX_LINES = 5000;
/** How far from the top the list may scroll before the live tail holds new lines back. */
const TOP_SLACK_PX = 24;

/** `2026-12-06 15:04:05.123` in local time: logs want seconds and milliseconds, which the charts' clock leaves out. */
export function logTime(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 23).replace('T', ' ');
}

const newestFirst = (a: LogLine, b: LogLine) => b.timeMs - a.timeMs;

/** Fresh lines on top of `shown`, newest first, without the ones shown already (a resumed tail may send a line again). */
function prepend(fresh: LogLine[], shown: LogLine[]): LogLine[] {
  const have = new Set(shown.map((l) => l.id));
  const add = fresh.filter((l) => !have.has(l.id)).sort(newestFirst);
  return add.length ? [...add, ...shown].slice(0, MAX_LINES) : shown;
}

/** What the view shows besides the range: kept by the Logs page in its address, by the host tab in itself. */
export type LogsViewFilters = Pick<LogsViewState, 'q' | 'host' | 'source' | 'live'>;
const NO_FILTERS: LogsViewFilters = { q: '', host: '', source: '', live: false };

/**
 * Log search over a time range: the query box, a histogram of the matching lines by level, facet
 * counts that add `field:value` to the query, the lines newest first (a line opens to its labels
 * and fields), older pages by cursor, and a live tail over the page's socket that holds new lines
 * back while the reader is scrolled down. The fleet's Logs page and a host's Logs tab (`agentId`
 * given: every query is fixed to that agent) are this one view.
 */
export function LogsView({
  live,
  range,
  agentId,
  view: given,
  onView,
}: {
  live: LiveConnection;
  range: Range;
  agentId?: string;
  view?: LogsViewFilters;
  onView?(next: Partial<LogsViewFilters>, replace?: boolean): void;
}) {
  const { t } = useI18n();
  const [own, setOwn] = useState(NO_FILTERS);
  const view = given ?? own;
  const change = onView ?? ((next: Partial<LogsViewFilters>) => setOwn((v) => ({ ...v, ...next })));
  const query = view.q;
  const tail = view.live;
  const [typed, setTyped] = useState(query);
  // A query set from outside (Back, Forward, a link) shows in the box.
  useEffect(() => setTyped(query), [query]);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [histogram, setHistogram] = useState<LogHistogramAnswer | undefined>();
  const [facets, setFacets] = useState<LogFacetsAnswer | undefined>();
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [refusal, setRefusal] = useState<{ message: string; position?: number; query: string } | undefined>();
  const [failure, setFailure] = useState('');
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [held, setHeld] = useState<LogLine[]>([]);
  /** Where a resumed tail could not send every line it missed: a row in the list at that time. */
  const [gaps, setGaps] = useState<(LiveLogsGap & { key: number })[]>([]);
  /** Hosts and sources seen in the facets on this page: the filters' choices. */
  const [known, setKnown] = useState<{ host: string[]; source: string[] }>({ host: [], source: [] });
  const paused = useRef(false);
  const list = useRef<HTMLDivElement>(null);
  const scopeRef = useRef<LogScope | undefined>(undefined);
  const rangeKey = 'spanMs' in range ? `s${range.spanMs}` : `${range.fromMs}-${range.toMs}`;
  const scoped = scopedQuery(query, agentId, { host: view.host, source: view.source });

  const refuse = useCallback(
    (err: unknown, typedQuery: string, offset: number) => {
      if (err instanceof ApiError && err.code === 'bad_query') setRefusal({ ...queryRefusal(err.message, offset), query: typedQuery });
      else setFailure(t('logs.error', err instanceof Error ? err.message : String(err)));
    },
    [t],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: rangeKey stands for range
  useEffect(() => {
    const { q, offset } = scopedQuery(query, agentId, { host: view.host, source: view.source });
    const scope = { q, ...rangeBounds(range, Date.now()) };
    scopeRef.current = scope;
    let stale = false;
    setLoading(true);
    setRefusal(undefined);
    setFailure('');
    Promise.all([searchLogs(scope), logHistogram(scope), logFacets(scope)])
      .then(([page, h, f]) => {
        if (stale) return;
        setLines(page.lines);
        setCursor(page.cursor);
        setHistogram(h);
        setFacets(f);
        setOpen(new Set());
        setGaps([]);
        setKnown((k) => ({ host: merged(k.host, f.facets.host), source: merged(k.source, f.facets.source) }));
      })
      .catch((err: unknown) => {
        if (stale) return;
        setLines([]);
        setCursor(undefined);
        setHistogram(undefined);
        setFacets(undefined);
        refuse(err, query, offset);
      })
      .finally(() => {
        if (!stale) setLoading(false);
      });
    return () => {
      stale = true;
    };
  }, [query, rangeKey, agentId, view.host, view.source, refuse]);

  // The live tail follows the query; lines arriving while the reader is scrolled down wait in `held`.
  // biome-ignore lint/correctness/useExhaustiveDependencies: change is the page's setter, new at each render
  useEffect(() => {
    if (!tail) return;
    const { q, offset } = scopedQuery(query, agentId, { host: view.host, source: view.source });
    paused.current = false;
    setHeld([]);
    return live.tailLogs(
      q,
      (fresh) => {
        if (paused.current) setHeld((h) => prepend(fresh, h));
        else setLines((prev) => prepend(fresh, prev));
      },
      (message) => {
        change({ live: false }, true);
        setRefusal({ ...queryRefusal(message, offset), query });
      },
      (gap) => setGaps((g) => [...g, { ...gap, key: Date.now() + g.length }]),
    );
  }, [tail, query, agentId, view.host, view.source, live]);

  const resume = () => {
    paused.current = false;
    setLines((prev) => prepend(held, prev));
    setHeld([]);
    if (list.current) list.current.scrollTop = 0;
  };

  const onScroll = () => {
    const top = list.current?.scrollTop ?? 0;
    if (!tail) return;
    if (top > TOP_SLACK_PX) paused.current = true;
    else if (top <= 1 && paused.current) resume();
  };

  const more = () => {
    const scope = scopeRef.current;
    if (!scope || !cursor) return;
    setLoadingMore(true);
    searchLogs(scope, cursor)
      .then((page) => {
        setLines((prev) => [...prev, ...page.lines]);
        setCursor(page.cursor);
      })
      .catch((err: unknown) => refuse(err, query, scoped.offset))
      .finally(() => setLoadingMore(false));
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (typed.trim() !== query) change({ q: typed.trim() });
  };

  const filter = (field: string, value: string) => {
    const next = addTerm(typed, field, value);
    setTyped(next);
    change({ q: next });
  };

  const toggle = (id: string) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <section className="logs" data-testid="logs" data-loading={loading ? 'true' : 'false'} data-tail={tail ? 'on' : 'off'}>
      <form className="logs-search" onSubmit={submit}>
        <label className="sr-only" htmlFor={`logs-q-${agentId ?? 'all'}`}>
          {t('logs.query')}
        </label>
        <input
          id={`logs-q-${agentId ?? 'all'}`}
          type="search"
          value={typed}
          placeholder={t('logs.queryHint')}
          spellCheck={false}
          autoComplete="off"
          aria-invalid={refusal ? true : undefined}
          aria-describedby={refusal ? 'logs-refusal' : undefined}
          onChange={(e) => setTyped(e.target.value)}
          data-testid="logs-query"
        />
        <Button type="submit" variant="primary" data-testid="logs-search">
          {t('logs.search')}
        </Button>
        {agentId === undefined ? (
          <>
            <FilterSelect
              label={t('logsView.host')}
              any={t('logsView.anyHost')}
              value={view.host}
              choices={known.host}
              onPick={(host) => change({ host })}
              testId="logs-host"
            />
            <FilterSelect
              label={t('logsView.source')}
              any={t('logsView.anySource')}
              value={view.source}
              choices={known.source}
              onPick={(source) => change({ source })}
              testId="logs-source"
            />
          </>
        ) : null}
        <label className="logs-tail-toggle">
          <input type="checkbox" checked={tail} onChange={(e) => change({ live: e.target.checked })} data-testid="logs-tail" />
          {t('logs.tail')}
        </label>
      </form>
      {refusal ? (
        <div className="logs-refusal" id="logs-refusal" role="alert" data-testid="logs-refusal" data-position={refusal.position ?? ''}>
          <p>{t('logs.badQuery', refusal.message)}</p>
          {refusal.position !== undefined ? (
            <pre aria-hidden="true">
              {refusal.query}
              {'\n'}
              {`${' '.repeat(refusal.position - 1)}^`}
            </pre>
          ) : null}
        </div>
      ) : null}
      {failure ? (
        <p className="logs-failure" role="alert">
          {failure}
        </p>
      ) : null}
      {histogram ? <LogHistogram answer={histogram} /> : null}
      <div className="logs-body">
        {facets ? <Facets answer={facets} onPick={filter} /> : null}
        <div className="logs-main">
          {tail ? (
            <p className="logs-tail-on" role="status">
              {t('logs.tailOn')}
            </p>
          ) : null}
          {held.length ? (
            <Button variant="primary" small className="logs-resume" onClick={resume} data-testid="logs-resume">
              {t('logs.paused', String(held.length))}
            </Button>
          ) : null}
          <div className="logs-lines" ref={list} onScroll={onScroll} data-testid="logs-lines" data-count={lines.length}>
            {loading ? <p className="logs-note">{t('logs.loading')}</p> : null}
            {!loading && !lines.length && !refusal ? <p className="logs-note">{t('logs.none')}</p> : null}
            <ol aria-label={t('logs.lines')}>
              {withGaps(lines, gaps).map(({ line: l, before }) => (
                <Fragment key={l?.id ?? `end-${before.length}`}>
                  {before.map((g) => (
                    <Gap key={g.key} gap={g} />
                  ))}
                  {l ? <Line line={l} open={open.has(l.id)} onToggle={() => toggle(l.id)} /> : null}
                </Fragment>
              ))}
            </ol>
            {!loading && lines.length ? (
              cursor ? (
                <Button small className="logs-more" busy={loadingMore} onClick={more} data-testid="logs-more">
                  {t('logs.more')}
                </Button>
              ) : (
                <p className="logs-note">{t('logs.end')}</p>
              )
            ) : null}
          </div>
        </div>
      </div>
    </section>
  );
}

/** Facet values added to what was known, the known order kept. */
function merged(known: string[], facet: { value: string }[] | undefined): string[] {
  const add = (facet ?? []).map((f) => f.value).filter((v) => !known.includes(v));
  return add.length ? [...known, ...add].sort() : known;
}

/** Each line with the gaps to show just above it (a gap lies after its `sinceMs`, above the older lines); the rest at the end. */
function withGaps<G extends { sinceMs: number }>(lines: LogLine[], gaps: G[]): { line?: LogLine; before: G[] }[] {
  if (!gaps.length) return lines.map((line) => ({ line, before: [] }));
  const left = [...gaps].sort((a, b) => b.sinceMs - a.sinceMs);
  const out: { line?: LogLine; before: G[] }[] = [];
  for (const line of lines) {
    const before: G[] = [];
    while (left.length && (left[0] as G).sinceMs >= line.timeMs) before.push(left.shift() as G);
    out.push({ line, before });
  }
  if (left.length) out.push({ before: left });
  return out;
}

function Gap({ gap }: { gap: LiveLogsGap }) {
  const { t } = useI18n();
  const since = logTime(gap.sinceMs);
  const text =
    gap.reason === 'limit'
      ? gap.skipped !== undefined
        ? t('logsView.gapSkipped', String(gap.skipped))
        : t('logsView.gapMore')
      : gap.reason === 'restarted'
        ? t('logsView.gapRestarted', since)
        : t('logsView.gapExpired', since);
  return (
    <li className="log-gap" role="note" data-testid="logs-gap" data-reason={gap.reason} data-skipped={gap.skipped ?? ''}>
      {text}
    </li>
  );
}

function FilterSelect({
  label,
  any,
  value,
  choices,
  onPick,
  testId,
}: {
  label: string;
  any: string;
  value: string;
  choices: string[];
  onPick(value: string): void;
  testId: string;
}) {
  const all = value && !choices.includes(value) ? [value, ...choices] : choices;
  return (
    <label className="logs-filter">
      <span className="sr-only">{label}</span>
      <select value={value} onChange={(e) => onPick(e.target.value)} data-testid={testId} title={label}>
        <option value="">{any}</option>
        {all.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </label>
  );
}

function Line({ line, open, onToggle }: { line: LogLine; open: boolean; onToggle(): void }) {
  const { t } = useI18n();
  const labels = Object.entries(line.labels);
  const fields = Object.entries(line.fields);
  return (
    <li className={`log-line level-${line.level}`} data-testid="log-line" data-level={line.level} data-id={line.id}>
      <button type="button" aria-expanded={open} onClick={onToggle}>
        <time dateTime={new Date(line.timeMs).toISOString()}>{logTime(line.timeMs)}</time>
        <span className="log-level">{line.level === 'unspecified' ? '—' : line.level}</span>
        <span className="log-origin">
          {line.host} · {line.source}
          {line.stream && line.stream !== line.source ? ` · ${line.stream}` : ''}
        </span>
        <span className="log-message">{line.message}</span>
      </button>
      {open ? (
        <dl className="log-detail" data-testid="log-detail">
          <dt>{t('logs.stream')}</dt>
          <dd>{line.stream}</dd>
          <dt>{t('logs.observed')}</dt>
          <dd>{logTime(line.observedMs)}</dd>
          <Pairs title={t('logs.labels')} pairs={labels} />
          <Pairs title={t('logs.fields')} pairs={fields} />
        </dl>
      ) : null}
    </li>
  );
}

/** The facets the server counts (the contract's LOG_FACETS, a type here: its value would bring zod into the bundle), in its order. */
const FACET_KEYS: Record<(typeof LOG_FACETS)[number], Extract<keyof typeof logsEn, `logs.facet.${string}`>> = {
  level: 'logs.facet.level',
  host: 'logs.facet.host',
  source: 'logs.facet.source',
  unit: 'logs.facet.unit',
  container: 'logs.facet.container',
};

function Facets({ answer, onPick }: { answer: LogFacetsAnswer; onPick(field: string, value: string): void }) {
  const { t } = useI18n();
  const shown = (Object.keys(FACET_KEYS) as (keyof typeof FACET_KEYS)[]).filter((f) => answer.facets[f]?.length);
  if (!shown.length) return null;
  return (
    <aside className="logs-facets" aria-label={t('logs.facets')} data-testid="logs-facets">
      {shown.map((f) => (
        <section key={f} data-facet={f}>
          <h3>{t(FACET_KEYS[f])}</h3>
          <ul>
            {(answer.facets[f] ?? []).map((v) => (
              <li key={v.value}>
                <button
                  type="button"
                  onClick={() => onPick(f, v.value)}
                  title={t('logs.addFilter', `${f}:${v.value}`)}
                  data-testid="logs-facet"
                  data-term={`${f}:${v.value}`}
                >
                  <span className="facet-value">{v.value}</span> <span className="facet-count">{v.count}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </aside>
  );
}

/** A titled list of name=value pairs in the line's detail; nothing when there are none. */
function Pairs({ title, pairs }: { title: string; pairs: [string, string][] }) {
  if (!pairs.length) return null;
  return (
    <>
      <dt>{title}</dt>
      <dd>
        <ul>
          {pairs.map(([k, v]) => (
            <li key={k}>
              <code>{k}</code>={v}
            </li>
          ))}
        </ul>
      </dd>
    </>
  );
}
