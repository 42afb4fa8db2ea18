import type { Agent } from '@falconet/protocol/api';
import { Fragment, useEffect, useMemo, useState } from 'react';
import { fetchHistory, fetchLatest } from '../api.ts';
import { bytes, percent, rate } from '../format.ts';
import { dateTime, type MessageKey, type Translate, useI18n, withNodes, word } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { containerChartSpecs } from './charts.ts';
import {
  CONTAINER_EVENTS_METRIC,
  type ContainerRow,
  ContainerSnapshot,
  type ContainerTable,
  deriveTable,
  type EventMoment,
  eventMoments,
  healthTone,
  isExited,
  lastCounts,
  liveEventMoments,
  type MarkedEvent,
  orderRows,
  type Sort,
  type SortKey,
  type StateFilter,
  stateTone,
  TABLE_METRICS,
} from './containers.ts';
import { type ChartMark, MetricChart, type Range, stepFor } from './MetricChart.tsx';
import './docker-note.css';

/** How far back the first load looks for the latest samples. */
const LOOKBACK_MS = 5 * 60_000;
/** Sorted by a live value, rows keep their places this long: they must not jump under the pointer. */
const RESORT_MS = 10_000;
/** Charts of ranges up to this long follow the socket; longer ones are re-read every minute (as MetricChart). */
const LIVE_SPAN_MS = 3_600_000;
/** The events listed under a container's charts; the charts mark them all. */
const LISTED_EVENTS = 20;

const EVENT_COLOR: Record<MarkedEvent, string> = { start: '#059669', die: '#6b7280', restart: '#d97706', oom: '#dc2626' };

const stateWord = (t: Translate, state: string | undefined) => word(t, 'ctr.state', state ?? 'unknown');

function StateBadge({ row }: { row: ContainerRow }) {
  const { t } = useI18n();
  return (
    <span className="badge" data-testid="ctr-state" data-tone={stateTone(row.state, row.health)} data-state={row.state ?? ''}>
      {stateWord(t, row.state)}
    </span>
  );
}

const SOCKET_KEY = 'containers.docker_socket';
/** Where a rootless Docker listens: the example of a socket elsewhere than the default. */
const SOCKET_EXAMPLE = '/run/user/1000/docker.sock';

const PROBLEM_TEXT: Record<string, MessageKey> = {
  no_socket: 'docker.noSocket',
  permission: 'docker.permission',
  refused: 'docker.refused',
  not_socket: 'docker.notSocket',
  error: 'docker.failed',
};

/**
 * Why the agent has no answer from Docker (as its `falconet_docker_info` says), and the agent
 * setting that changes it. An agent too old to say why gets the general line.
 */
function DockerNote({ table }: { table: ContainerTable }) {
  const { t } = useI18n();
  const key = <code>{SOCKET_KEY}</code>;
  if (table.dockerUp === undefined)
    return (
      <p className="banner warn" role="status" data-testid="docker-off">
        {withNodes(t('docker.off'), [key])}
      </p>
    );
  const problem = table.docker?.problem ?? '';
  const socket = <code>{table.docker?.socket}</code>;
  const fixes =
    problem === 'permission'
      ? [withNodes(t('docker.fixPermission'), [key])]
      : [withNodes(t('docker.fixSocket'), [key, <code key="e">{SOCKET_EXAMPLE}</code>]), withNodes(t('docker.fixOff'), [key])];
  return (
    <div className="banner warn" role="status" data-problem={problem || undefined}>
      <p data-testid="docker-down">{PROBLEM_TEXT[problem] ? withNodes(t(PROBLEM_TEXT[problem]), [socket]) : t('ctr.dockerDown')}</p>
      <ul data-testid="docker-fix">
        {fixes.map((f, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list of sentences
          <li key={i}>{f}</li>
        ))}
      </ul>
    </div>
  );
}

/**
 * The host page's Containers tab: every container of the host as a row, from the latest samples
 * (/api/metrics/latest) kept current by each report over the page's /api/live socket. A host has
 * tens of containers, so the table re-renders once per report; the charts of an expanded row
 * append their own points as the host page's do.
 */
export function ContainersTab({ agent, live, range, theme }: { agent: Agent; live: LiveConnection; range: Range; theme: string }) {
  const { t } = useI18n();
  const [snapshot] = useState(() => new ContainerSnapshot());
  const [version, setVersion] = useState(0);
  const [load, setLoad] = useState<{ done: boolean; error?: string }>({ done: false });
  const [sort, setSort] = useState<Sort>({ key: 'name', desc: false });
  const [filter, setFilter] = useState<StateFilter>('all');
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set());
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let disposed = false;
    const changed = () => setVersion((v) => v + 1);
    const off = live.subscribe(agent.id, (samples) => {
      if (snapshot.merge(samples)) changed();
    });
    const to = Date.now();
    const from = Math.min(to, agent.lastSeenMs) - Math.max(LOOKBACK_MS, 5 * agent.intervalMs);
    fetchLatest(agent.id, TABLE_METRICS, from, to)
      .then((r) => {
        if (disposed) return;
        snapshot.merge(r.samples);
        setLoad({ done: true });
        changed();
      })
      .catch((err: Error) => {
        if (!disposed) setLoad({ done: true, error: err.message });
      });
    return () => {
      disposed = true;
      off();
    };
  }, [agent.id, agent.lastSeenMs, agent.intervalMs, live, snapshot]);

  useEffect(() => {
    if (sort.key === 'name') return;
    const timer = setInterval(() => setTick((n) => n + 1), RESORT_MS);
    return () => clearInterval(timer);
  }, [sort.key]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: version stands for the snapshot's contents
  const table = useMemo(() => deriveTable(snapshot.samples(), agent.intervalMs), [snapshot, version, agent.intervalMs]);
  // Which containers there are, and in which state: a change re-sorts at once; new values alone wait for the next tick.
  const membership = table.rows.map((r) => `${r.id}\t${r.state}`).join('\n');
  // biome-ignore lint/correctness/useExhaustiveDependencies: membership and tick stand for table.rows
  const order = useMemo(() => orderRows(table.rows, sort, filter).map((r) => r.id), [membership, sort, filter, tick]);
  const byId = new Map(table.rows.map((r) => [r.id, r]));
  const rows = order.map((id) => byId.get(id)).filter((r) => r !== undefined);
  const k8s = table.rows.some((r) => r.namespace || r.pod);
  const columns = k8s ? 10 : 9;

  const sortHeader = (k: SortKey, label: MessageKey, className: string) => (
    <th scope="col" className={className} aria-sort={sort.key === k ? (sort.desc ? 'descending' : 'ascending') : undefined}>
      <button
        type="button"
        className="sort"
        data-testid={`ctr-sort-${k}`}
        onClick={() => setSort((s) => (s.key === k ? { key: k, desc: !s.desc } : { key: k, desc: k !== 'name' }))}
      >
        {t(label)}
        <span aria-hidden="true">{sort.key === k ? (sort.desc ? ' ↓' : ' ↑') : ''}</span>
      </button>
    </th>
  );

  if (!load.done && !table.reported) return <p className="empty">{t('ctr.loading')}</p>;
  if (load.error && !table.reported) return <p role="alert">{t('ctr.loadError', load.error)}</p>;
  if (!table.reported)
    return (
      <p className="empty" data-testid="ctr-none">
        {t('ctr.noMetrics')}
      </p>
    );

  // No Docker and nothing in the cgroups: why, and what to set, instead of an empty table.
  if (table.rows.length === 0 && table.dockerUp !== true)
    return (
      <section className="containers" data-testid="no-docker" aria-label={t('ctr.title')}>
        <DockerNote table={table} />
        <p className="empty" data-testid="ctr-none">
          {t('docker.noCgroups')}
        </p>
      </section>
    );

  const total = table.counts.reduce((n, c) => n + c.count, 0);
  return (
    <section className="containers" data-testid="containers" aria-label={t('ctr.title')}>
      <ul className="ctr-counts" aria-label={t('ctr.counts')} data-testid="ctr-counts">
        {table.counts.map((c) => (
          <li key={c.state} data-state={c.state} data-count={c.count}>
            <span className="badge" data-tone={stateTone(c.state, undefined)}>
              {stateWord(t, c.state)}
            </span>{' '}
            <strong>{c.count}</strong>
          </li>
        ))}
        <li className="total" data-count={total}>
          {t('ctr.total')} <strong>{total}</strong>
        </li>
      </ul>
      {table.dockerUp === false ? <DockerNote table={table} /> : null}
      {table.rows.length === 0 ? (
        <p className="empty" data-testid="ctr-none">
          {t('ctr.none')}
        </p>
      ) : (
        <>
          <div className="toolbar">
            <label>
              {t('ctr.filter')}
              <select value={filter} onChange={(e) => setFilter(e.target.value as StateFilter)} data-testid="ctr-filter">
                <option value="all">{t('ctr.filter.all')}</option>
                <option value="active">{t('ctr.filter.active')}</option>
                <option value="exited">{t('ctr.filter.exited')}</option>
              </select>
            </label>
            <span className="count" data-testid="ctr-shown">
              {t('ctr.shown', rows.length, table.rows.length)}
            </span>
          </div>
          <div className="ctr-scroll">
            <table className="ctr-table" data-testid="ctr-table">
              <caption className="sr-only">{t('ctr.title')}</caption>
              <thead>
                <tr>
                  {sortHeader('name', 'ctr.col.name', 'c-name')}
                  <th scope="col" className="c-image">
                    {t('ctr.col.image')}
                  </th>
                  <th scope="col">{t('ctr.col.state')}</th>
                  <th scope="col" className="c-health">
                    {t('ctr.col.health')}
                  </th>
                  {sortHeader('cpu', 'ctr.col.cpu', 'c-cpu')}
                  {sortHeader('memory', 'ctr.col.memory', 'c-mem')}
                  <th scope="col" className="c-net">
                    {t('ctr.col.net')}
                  </th>
                  <th scope="col" className="c-io">
                    {t('ctr.col.disk')}
                  </th>
                  <th scope="col" className="c-restarts">
                    {t('ctr.col.restarts')}
                  </th>
                  {k8s ? (
                    <th scope="col" className="c-k8s">
                      {t('ctr.col.k8s')}
                    </th>
                  ) : null}
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => {
                  const expanded = open.has(r.id);
                  const detailId = `ctr-detail-${r.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
                  return (
                    <Fragment key={r.id}>
                      <tr
                        data-testid="ctr-row"
                        data-id={r.id}
                        data-name={r.name}
                        data-state={r.state ?? ''}
                        className={expanded ? 'open' : ''}
                      >
                        <th scope="row" className="c-name">
                          <button
                            type="button"
                            className="expand"
                            aria-expanded={expanded}
                            aria-controls={detailId}
                            data-testid="ctr-expand"
                            onClick={() =>
                              setOpen((prev) => {
                                const next = new Set(prev);
                                if (!next.delete(r.id)) next.add(r.id);
                                return next;
                              })
                            }
                          >
                            <span aria-hidden="true" className="chev">
                              {expanded ? '▾' : '▸'}
                            </span>
                            <span className={r.named ? 'n' : 'n mono'} data-testid="ctr-name">
                              {r.name}
                            </span>
                          </button>
                        </th>
                        <td className="c-image">{r.image || '–'}</td>
                        <td className="c-state">
                          <StateBadge row={r} />
                          {isExited(r) && r.exitCode !== undefined ? <span className="sub"> {t('ctr.exit', r.exitCode)}</span> : null}
                        </td>
                        <td className="c-health">
                          {r.health ? (
                            <span className="badge" data-tone={healthTone(r.health)} data-testid="ctr-health">
                              {word(t, 'ctr.health', r.health)}
                            </span>
                          ) : null}
                        </td>
                        <td className="c-cpu" data-testid="ctr-cpu" data-value={r.cpuPercent ?? ''}>
                          {percent(r.cpuPercent)}
                          {r.cpuLimitCores ? (
                            <span className="sub lim" data-testid="ctr-cpu-limit">
                              {t('ctr.cpuLimit', formatCores(r.cpuLimitCores))}
                            </span>
                          ) : null}
                        </td>
                        <td className="c-mem" data-testid="ctr-mem" data-value={r.memoryBytes ?? ''}>
                          {r.memoryBytes === undefined ? (
                            '–'
                          ) : (
                            <span
                              className="meter"
                              data-level={
                                r.memoryPercent === undefined ? '' : r.memoryPercent >= 90 ? 'high' : r.memoryPercent >= 70 ? 'mid' : 'low'
                              }
                            >
                              <span>
                                {bytes(r.memoryBytes)}
                                <span className="lim"> / {bytes(r.memoryLimitBytes)}</span>
                              </span>
                              <span className="fill" style={{ width: `${Math.max(0, Math.min(100, r.memoryPercent ?? 0))}%` }} />
                            </span>
                          )}
                        </td>
                        <td className="c-net">
                          {rate(r.netRxBps)} / {rate(r.netTxBps)}
                        </td>
                        <td className="c-io">
                          {rate(r.fsReadBps)} / {rate(r.fsWriteBps)}
                        </td>
                        <td className="c-restarts" data-testid="ctr-restarts">
                          {r.restarts ?? '–'}
                        </td>
                        {k8s ? <td className="c-k8s">{k8sName(r) || '–'}</td> : null}
                      </tr>
                      {expanded ? (
                        <tr className="ctr-detail-row">
                          <td colSpan={columns} id={detailId}>
                            <ContainerDetail agent={agent} row={r} live={live} range={range} theme={theme} />
                          </td>
                        </tr>
                      ) : null}
                    </Fragment>
                  );
                })}
                {rows.length === 0 ? (
                  <tr>
                    <td colSpan={columns} className="empty">
                      {t('ctr.noMatch')}
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

const k8sName = (r: ContainerRow) => [r.namespace, r.pod, r.container].filter(Boolean).join(' / ');

function formatCores(n: number): string {
  return String(Number(n.toFixed(2)));
}

/** A container's details, CPU and memory charts with its events marked, and the events listed. */
function ContainerDetail({
  agent,
  row,
  live,
  range,
  theme,
}: {
  agent: Agent;
  row: ContainerRow;
  live: LiveConnection;
  range: Range;
  theme: string;
}) {
  const { t, lang } = useI18n();
  const moments = useContainerEvents(agent.id, row.id, agent.intervalMs, live, range);
  const cpuLimited = !!row.cpuLimitCores;
  const specs = useMemo(
    () => containerChartSpecs({ id: row.id, cpuLimited, memoryLimited: row.memoryLimited }),
    [row.id, cpuLimited, row.memoryLimited],
  );
  const eventText = (m: EventMoment) => `${t(`ctr.event.${m.event}` as const)}${m.count > 1 ? ` ×${m.count}` : ''}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: lang stands for t
  const marks = useMemo<ChartMark[]>(
    () => moments.map((m) => ({ timestampMs: m.timestampMs, label: eventText(m), color: EVENT_COLOR[m.event] })),
    [moments, lang],
  );
  const listed = moments.slice(-LISTED_EVENTS).reverse();
  const k8s = k8sName(row);
  return (
    <div className="ctr-detail" data-testid="ctr-detail" data-id={row.id}>
      {isExited(row) && row.exitCode !== undefined ? (
        <p className="banner exited" data-testid="ctr-exit">
          {t('ctr.exitCode', row.exitCode)}
        </p>
      ) : null}
      <dl className="ctr-facts">
        <div>
          <dt>{t('ctr.id')}</dt>
          <dd className="mono">{row.id}</dd>
        </div>
        <div>
          <dt>{t('ctr.col.image')}</dt>
          <dd>{row.image || '–'}</dd>
        </div>
        {row.runtime ? (
          <div>
            <dt>{t('ctr.runtime')}</dt>
            <dd>{row.runtime}</dd>
          </div>
        ) : null}
        {k8s ? (
          <div>
            <dt>{t('ctr.col.k8s')}</dt>
            <dd>{k8s}</dd>
          </div>
        ) : null}
        <div>
          <dt>{t('ctr.col.state')}</dt>
          <dd>
            {stateWord(t, row.state)}
            {row.health ? ` · ${word(t, 'ctr.health', row.health)}` : ''}
          </dd>
        </div>
        <div>
          <dt>{t('ctr.col.cpu')}</dt>
          <dd>
            {percent(row.cpuPercent)}
            {row.cpuLimitCores ? ` · ${t('ctr.cpuLimit', formatCores(row.cpuLimitCores))}` : ''}
          </dd>
        </div>
        <div>
          <dt>{t('ctr.col.memory')}</dt>
          <dd>
            {bytes(row.memoryBytes)} / {row.memoryLimited ? bytes(row.memoryLimitBytes) : t('ctr.noLimit')}
            {row.memoryPercent !== undefined ? ` (${percent(row.memoryPercent)})` : ''}
          </dd>
        </div>
        <div>
          <dt>{t('ctr.col.net')}</dt>
          <dd>
            {rate(row.netRxBps)} / {rate(row.netTxBps)}
          </dd>
        </div>
        <div>
          <dt>{t('ctr.col.disk')}</dt>
          <dd>
            {rate(row.fsReadBps)} / {rate(row.fsWriteBps)}
          </dd>
        </div>
        <div>
          <dt>{t('ctr.col.restarts')}</dt>
          <dd>{row.restarts ?? '–'}</dd>
        </div>
      </dl>
      <div className="charts">
        {specs.map((s) => (
          <MetricChart
            key={s.id}
            spec={s}
            agentId={agent.id}
            intervalMs={agent.intervalMs}
            live={live}
            range={range}
            theme={theme}
            marks={marks}
          />
        ))}
      </div>
      <div className="ctr-events" data-testid="ctr-events" data-count={moments.length}>
        <h2>{t('ctr.events')}</h2>
        {listed.length ? (
          <ol>
            {listed.map((m) => (
              <li key={`${m.timestampMs}-${m.event}`} data-event={m.event}>
                <span className="dot" style={{ background: EVENT_COLOR[m.event] }} aria-hidden="true" />
                <time dateTime={new Date(m.timestampMs).toISOString()}>{dateTime(lang, m.timestampMs)}</time>{' '}
                <span className="what">{eventText(m)}</span>
              </li>
            ))}
          </ol>
        ) : (
          <p className="sub">{t('ctr.noEvents')}</p>
        )}
        {moments.length > LISTED_EVENTS ? <p className="sub">{t('ctr.moreEvents', moments.length - LISTED_EVENTS)}</p> : null}
      </div>
    </div>
  );
}

/**
 * Start, die, restart and oom moments of one container over the range: steps of its event counters
 * in the history, then (for the live ranges) each report's new steps.
 */
function useContainerEvents(agentId: string, id: string, intervalMs: number, live: LiveConnection, range: Range): EventMoment[] {
  const [moments, setMoments] = useState<EventMoment[]>([]);
  const rangeKey = 'spanMs' in range ? `s${range.spanMs}` : `${range.fromMs}-${range.toMs}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: rangeKey stands for range
  useEffect(() => {
    const sliding = 'spanMs' in range;
    const span = sliding ? range.spanMs : range.toMs - range.fromMs;
    const appendLive = sliding && span <= LIVE_SPAN_MS;
    let disposed = false;
    let known: Map<string, number> | undefined;
    const load = async () => {
      const toMs = sliding ? Date.now() : range.toMs;
      const fromMs = toMs - span;
      const r = await fetchHistory(agentId, CONTAINER_EVENTS_METRIC, fromMs, toMs, stepFor(span), 'last', { id }).catch(() => undefined);
      if (disposed || !r) return;
      known = lastCounts(r.series);
      setMoments(eventMoments(r.series, fromMs, Math.max(r.stepMs, intervalMs)));
    };
    void load();
    const off = appendLive
      ? live.subscribe(agentId, (samples) => {
          if (!known) return;
          const fresh = liveEventMoments(samples, id, known);
          if (!fresh.length) return;
          const cutoff = Date.now() - span;
          setMoments((prev) => [...prev.filter((m) => m.timestampMs >= cutoff), ...fresh]);
        })
      : () => undefined;
    const refresh = sliding && !appendLive ? setInterval(() => void load(), 60_000) : undefined;
    return () => {
      disposed = true;
      off();
      clearInterval(refresh);
    };
  }, [agentId, id, intervalMs, live, rangeKey]);
  return moments;
}
