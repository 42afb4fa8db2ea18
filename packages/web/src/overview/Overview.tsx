import type { Agent, FleetSummary } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { duration, percent, rate } from '../format.ts';
import { getJson } from '../http.ts';
import { agoText, type Translate, useI18n } from '../i18n.tsx';
import { Heatmap } from './Heatmap.tsx';
import { HEAT_METRICS, type HeatMetric, isHeatMetric } from './heatmap.ts';
import { SameNameTag } from './identity.tsx';
import { drawSparkline } from './sparkline.ts';
import type { AgentStore } from './store.ts';
import './overview.css';
import { AddHost } from './AddHost.tsx';

const SORTS: Record<string, (a: Agent) => string | number> = {
  hostname: (a) => a.hostname.toLowerCase(),
  status: (a) => a.status,
  cpu: (a) => a.summary.falconet_cpu_usage_percent ?? -1,
  memory: (a) => a.summary.falconet_memory_used_percent ?? -1,
  disk: (a) => a.summary.falconet_disk_used_percent ?? -1,
  network: (a) => (a.summary.falconet_network_receive_bytes_per_second ?? 0) + (a.summary.falconet_network_transmit_bytes_per_second ?? 0),
  uptime: (a) => a.summary.falconet_uptime_seconds ?? -1,
  lastSeen: (a) => a.lastSeenMs,
};
const SORT_LABEL: Record<string, Parameters<Translate>[0]> = {
  hostname: 'col.host',
  status: 'col.status',
  cpu: 'col.cpu',
  memory: 'col.memory',
  disk: 'col.disk',
  network: 'col.network',
  uptime: 'col.uptime',
  lastSeen: 'col.lastSeen',
};

type Item = { kind: 'group'; key: string; value: string; count: number; online: number } | { kind: 'agent'; id: string };

const ROW_HEIGHT = 52;

/** Style objects shared per position, so a memoized row is not re-rendered by a scroll alone. */
const styles = new Map<string, React.CSSProperties>();
function rowStyle(top: number, height: number): React.CSSProperties {
  const k = `${top}:${height}`;
  let s = styles.get(k);
  if (!s) {
    if (styles.size > 20_000) styles.clear();
    s = { transform: `translateY(${top}px)`, height };
    styles.set(k, s);
  }
  return s;
}
const GROUP_HEIGHT = 36;

type View = { view: 'table' | 'heatmap'; metric: HeatMetric };

/** The view is in the address (`/?view=heatmap&metric=disk`), so it can be linked to and bookmarked. */
function viewFromUrl(): View {
  const q = new URLSearchParams(location.search);
  const metric = q.get('metric');
  return { view: q.get('view') === 'heatmap' ? 'heatmap' : 'table', metric: isHeatMetric(metric) ? metric : 'cpu' };
}

function viewUrl(v: View): string {
  if (v.view === 'table') return location.pathname;
  return `${location.pathname}?view=heatmap${v.metric === 'cpu' ? '' : `&metric=${v.metric}`}`;
}

function useView(): [View, (v: View) => void] {
  const [view, setView] = useState(viewFromUrl);
  useEffect(() => {
    const onPop = () => setView(viewFromUrl());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return [
    view,
    (v) => {
      history.pushState(null, '', viewUrl(v));
      setView(v);
    },
  ];
}

/** The spark line's hover text: the CPU figures it draws, each with its unit. */
function sparkTitle(t: Translate, points: readonly { v: number }[]): string {
  if (!points.length) return t('hint.sparkNone');
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    lo = Math.min(lo, p.v);
    hi = Math.max(hi, p.v);
  }
  return t('hint.spark', percent((points[points.length - 1] as { v: number }).v), percent(lo), percent(hi));
}

export function Overview({ store, onOpen, error }: { store: AgentStore; onOpen(id: string): void; error?: Error | null }) {
  const { t } = useI18n();
  const version = useSyncExternalStore(store.subscribeList, store.getVersion);
  const [search, setSearch] = useState(() => sessionStorage.getItem('falconet.overview.q') ?? '');
  const [status, setStatus] = useState('');
  const [label, setLabel] = useState('');
  const [sort, setSort] = useState('hostname');
  const [desc, setDesc] = useState(false);
  const [groupBy, setGroupBy] = useState('');
  const [tick, setTick] = useState(0);
  const [view, setView] = useView();
  const heat = view.view === 'heatmap';
  const q = useDeferredValue(search.trim().toLowerCase());

  useEffect(() => sessionStorage.setItem('falconet.overview.q', search), [search]);
  // Sorting by a live value re-sorts every 10 s, not on every sample: rows must not jump under the pointer.
  useEffect(() => {
    if (sort === 'hostname' || sort === 'status') return;
    const timer = setInterval(() => setTick((n) => n + 1), 10_000);
    return () => clearInterval(timer);
  }, [sort]);

  const summary = useQuery({
    queryKey: ['fleet-summary'],
    queryFn: () => getJson<FleetSummary>('/api/fleet/summary'),
    refetchInterval: 5_000,
  });

  // biome-ignore lint/correctness/useExhaustiveDependencies: version and tick stand for the store's contents
  const labelValues = useMemo(() => {
    const pairs = new Set<string>();
    const keys = new Set<string>();
    for (const a of store.agents.values()) {
      for (const [k, v] of Object.entries(a.labels)) {
        pairs.add(`${k}=${v}`);
        keys.add(k);
      }
    }
    return { pairs: [...pairs].sort(), keys: [...keys].sort() };
  }, [store, version]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: version and tick stand for the store's contents
  const { items, shown } = useMemo(() => {
    const eq = label.indexOf('=');
    const [lk, lv] = eq < 0 ? ['', ''] : [label.slice(0, eq), label.slice(eq + 1)];
    const list: Agent[] = [];
    for (const a of store.agents.values()) {
      if (status && a.status !== status) continue;
      if (lk && a.labels[lk] !== lv) continue;
      if (q && !a.hostname.toLowerCase().includes(q) && !a.id.toLowerCase().includes(q) && !a.ips.some((ip) => ip.includes(q))) continue;
      list.push(a);
    }
    const key = SORTS[sort] ?? (SORTS.hostname as (a: Agent) => string | number);
    const dir = desc ? -1 : 1;
    const keyed = list.map((a) => [key(a), a] as const);
    keyed.sort(([x, a], [y, b]) => (x < y ? -dir : x > y ? dir : a.id < b.id ? -1 : 1));
    const sorted = keyed.map(([, a]) => a);
    if (!groupBy) return { items: sorted.map((a): Item => ({ kind: 'agent', id: a.id })), shown: sorted.length };
    const groups = new Map<string, Agent[]>();
    for (const a of sorted) {
      const v = a.labels[groupBy] ?? '';
      const g = groups.get(v);
      if (g) g.push(a);
      else groups.set(v, [a]);
    }
    const out: Item[] = [];
    for (const [v, members] of [...groups.entries()].sort(([x], [y]) => (x === '' ? 1 : y === '' ? -1 : x.localeCompare(y)))) {
      out.push({
        kind: 'group',
        key: groupBy,
        value: v,
        count: members.length,
        online: members.filter((a) => a.status === 'online').length,
      });
      for (const a of members) out.push({ kind: 'agent', id: a.id });
    }
    return { items: out, shown: sorted.length };
  }, [store, version, tick, q, status, label, sort, desc, groupBy]);

  const heatIds = useMemo(() => (heat ? items.flatMap((it) => (it.kind === 'agent' ? [it.id] : [])) : []), [heat, items]);

  const listRef = useRef<HTMLDivElement>(null);
  const [margin, setMargin] = useState(0);
  // Where the list starts on the page: read when what is above it can change, not on every scroll.
  const aboveKey = `${store.loaded}:${items.length === 0}:${!!error}:${heat}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: aboveKey stands for what sits above the list
  useLayoutEffect(() => {
    const measure = () => setMargin(listRef.current?.offsetTop ?? 0);
    measure();
    addEventListener('resize', measure);
    return () => removeEventListener('resize', measure);
  }, [aboveKey]);
  const estimateSize = useCallback((i: number) => (items[i]?.kind === 'group' ? GROUP_HEIGHT : ROW_HEIGHT), [items]);
  const getItemKey = useCallback(
    (i: number) => {
      const it = items[i];
      return it?.kind === 'agent' ? it.id : `g:${it?.value}`;
    },
    [items],
  );
  const virtual = useWindowVirtualizer({
    // The heatmap shows the same hosts on its own: no rows meanwhile.
    count: heat ? 0 : items.length,
    estimateSize,
    overscan: 8,
    scrollMargin: margin,
    getItemKey,
    // Scroll updates go through React's batching instead of a synchronous render per event.
    useFlushSync: false,
  });

  const s = summary.data;
  return (
    <section className="overview">
      <div className="overview-head">
        <h1>{t('agents.title')}</h1>
        <AddHost />
      </div>
      <dl className="fleet" data-testid="fleet-summary">
        <div>
          <dt>{t('fleet.agents')}</dt>
          <dd data-testid="fleet-agents">{s?.agents ?? '–'}</dd>
        </div>
        <div>
          <dt>{t('fleet.online')}</dt>
          <dd className="ok">{s?.online ?? '–'}</dd>
        </div>
        <div>
          <dt>{t('fleet.offline')}</dt>
          <dd className={s?.offline ? 'bad' : ''}>{s?.offline ?? '–'}</dd>
        </div>
        <div title={t('hint.fleetCpu')}>
          <dt>{t('fleet.cpu')}</dt>
          <dd>{percent(s?.averages.cpu ?? undefined)}</dd>
        </div>
        <div title={t('hint.fleetMemory')}>
          <dt>{t('fleet.memory')}</dt>
          <dd>{percent(s?.averages.memory ?? undefined)}</dd>
        </div>
        <div title={t('hint.disk')} data-testid="fleet-disk">
          <dt>{t('fleet.disk')}</dt>
          <dd>{percent(s?.averages.disk ?? undefined)}</dd>
        </div>
        <div className="fleet-net" title={t('hint.fleetNetwork')}>
          <dt>{t('fleet.network')}</dt>
          <dd>
            {rate(s?.totals.networkReceiveBytesPerSecond)} / {rate(s?.totals.networkTransmitBytesPerSecond)}
          </dd>
        </div>
      </dl>
      <div className="toolbar">
        <fieldset className="segmented" data-testid="view-switch">
          <legend className="sr-only">{t('view.label')}</legend>
          {(['table', 'heatmap'] as const).map((v) => (
            <button
              key={v}
              type="button"
              aria-pressed={view.view === v}
              className={view.view === v ? 'on' : ''}
              onClick={() => setView({ ...view, view: v })}
              data-testid={`view-${v}`}
            >
              {t(v === 'table' ? 'view.table' : 'view.heatmap')}
            </button>
          ))}
        </fieldset>
        {heat ? (
          <fieldset className="segmented" data-testid="heat-metric">
            <legend className="sr-only">{t('heat.metric')}</legend>
            {(Object.keys(HEAT_METRICS) as HeatMetric[]).map((m) => (
              <button
                key={m}
                type="button"
                aria-pressed={view.metric === m}
                className={view.metric === m ? 'on' : ''}
                onClick={() => setView({ ...view, metric: m })}
                title={m === 'disk' ? t('hint.disk') : undefined}
                data-testid={`heat-${m}`}
              >
                {t(m === 'cpu' ? 'heat.cpu' : m === 'memory' ? 'heat.memory' : 'heat.disk')}
              </button>
            ))}
          </fieldset>
        ) : null}
        <input
          type="search"
          aria-label={t('filter.search')}
          placeholder={t('filter.search')}
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          data-testid="agent-search"
        />
        <label>
          {t('filter.status')}
          <select value={status} onChange={(e) => setStatus(e.target.value)} data-testid="filter-status">
            <option value="">{t('filter.any')}</option>
            <option value="online">{t('status.online')}</option>
            <option value="offline">{t('status.offline')}</option>
          </select>
        </label>
        <label>
          {t('filter.label')}
          <select value={label} onChange={(e) => setLabel(e.target.value)} data-testid="filter-label">
            <option value="">{t('filter.any')}</option>
            {labelValues.pairs.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('filter.sort')}
          <select value={sort} onChange={(e) => setSort(e.target.value)} data-testid="sort">
            {Object.keys(SORTS).map((k) => (
              <option key={k} value={k}>
                {t(SORT_LABEL[k] as Parameters<Translate>[0])}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={desc} onChange={(e) => setDesc(e.target.checked)} data-testid="sort-desc" />
          {t('filter.order')}
        </label>
        {heat ? null : (
          <label>
            {t('filter.group')}
            <select value={groupBy} onChange={(e) => setGroupBy(e.target.value)} data-testid="group-by">
              <option value="">{t('filter.none')}</option>
              {labelValues.keys.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="count" data-testid="agent-count">
          {t('agents.shown', shown, store.agents.size)}
        </span>
      </div>
      {error ? <p role="alert">{t('agents.loadError', error.message)}</p> : null}
      {store.loaded && store.agents.size === 0 ? (
        <p className="empty">
          {t('agents.none')} <code>falconet-agent run --server 127.0.0.1:7071</code>
        </p>
      ) : store.loaded && items.length === 0 ? (
        <p className="empty">{t('agents.noMatch')}</p>
      ) : !store.loaded ? (
        <p className="empty">{t('agents.loading')}</p>
      ) : null}
      {heat ? (
        store.loaded && items.length ? (
          <Heatmap store={store} ids={heatIds} metric={view.metric} onOpen={onOpen} />
        ) : null
      ) : (
        <>
          <div className="agent-head" aria-hidden="true">
            <span>{t('col.status')}</span>
            <span>{t('col.host')}</span>
            <span className="c-os">{t('col.os')}</span>
            <span className="c-up">{t('col.uptime')}</span>
            <span>{t('col.cpu')}</span>
            <span>{t('col.memory')}</span>
            <span className="c-disk" title={t('hint.disk')}>
              {t('col.disk')}
            </span>
            <span className="c-net">{t('col.network')}</span>
            <span className="c-spark">{t('col.trend')}</span>
            <span className="c-seen">{t('col.lastSeen')}</span>
          </div>
          <div ref={listRef} className="agent-list" data-testid="agent-list" style={{ height: virtual.getTotalSize() }}>
            {virtual.getVirtualItems().map((v) => {
              const it = items[v.index];
              if (!it) return null;
              const style = rowStyle(v.start - virtual.options.scrollMargin, v.size);
              if (it.kind === 'group') {
                return (
                  <div key={v.key} className="group-row" style={style} data-testid="group-row">
                    <strong>
                      {it.key}={it.value || t('group.unlabelled')}
                    </strong>{' '}
                    <span className="sub">
                      {it.online}/{it.count} {t('status.online')}
                    </span>
                  </div>
                );
              }
              const a = store.get(it.id);
              return a ? <AgentRow key={v.key} agent={a} store={store} style={style} onOpen={onOpen} t={t} /> : null;
            })}
          </div>
        </>
      )}
    </section>
  );
}

const AgentRow = memo(function AgentRow({
  agent,
  store,
  style,
  onOpen,
  t,
}: {
  agent: Agent;
  store: AgentStore;
  style: React.CSSProperties;
  onOpen(id: string): void;
  t: Translate;
}) {
  const row = useRef<HTMLDivElement>(null);
  const id = agent.id;
  const initial = useRef(agent);
  // Live values are painted straight into the row's cells: a sample never re-renders React.
  useLayoutEffect(() => {
    const el = row.current;
    if (!el) return;
    const cell = (k: string) => el.querySelector<HTMLElement>(`[data-k="${k}"]`) as HTMLElement;
    const statusEl = cell('status');
    const cpu = cell('cpu');
    const mem = cell('mem');
    const disk = cell('disk');
    const up = cell('up');
    const net = cell('net');
    const seen = cell('seen');
    const spark = el.querySelector('svg') as SVGSVGElement;
    const sparkCell = spark.parentElement as HTMLElement;
    const bar = (e: HTMLElement, v: number | undefined) => {
      (e.firstChild as HTMLElement).textContent = percent(v);
      (e.lastChild as HTMLElement).style.width = `${Math.max(0, Math.min(100, v ?? 0))}%`;
      e.dataset.level = v === undefined ? '' : v >= 90 ? 'high' : v >= 70 ? 'mid' : 'low';
    };
    let last: Agent = initial.current;
    const paint = (a: Agent) => {
      last = a;
      const s = a.summary;
      el.dataset.status = a.status;
      // When the server ingested what is shown (bench/ui measures ingest-to-screen from it).
      el.dataset.seenMs = String(a.lastSeenMs);
      statusEl.className = `status ${a.status}`;
      statusEl.textContent = t(a.status === 'online' ? 'status.online' : 'status.offline');
      bar(cpu, s.falconet_cpu_usage_percent);
      bar(mem, s.falconet_memory_used_percent);
      bar(disk, s.falconet_disk_used_percent);
      up.textContent = duration(s.falconet_uptime_seconds);
      net.textContent = `${rate(s.falconet_network_receive_bytes_per_second)} / ${rate(s.falconet_network_transmit_bytes_per_second)}`;
      seen.textContent = agoText(t, a.lastSeenMs);
      const line = store.spark.get(a.id) ?? [];
      drawSparkline(spark, line, a.status === 'online', a.intervalMs);
      sparkCell.title = sparkTitle(t, line);
    };
    paint(store.get(id) ?? initial.current);
    const stop = store.watch(id, paint);
    const timer = setInterval(() => {
      seen.textContent = agoText(t, last.lastSeenMs);
    }, 5_000);
    return () => {
      stop();
      clearInterval(timer);
    };
  }, [id, store, t]);

  return (
    <div ref={row} className="agent-row" style={style} data-testid="agent-row" data-agent-id={id} data-status={agent.status}>
      <span>
        <span data-k="status" className={`status ${agent.status}`} />
      </span>
      <span className="c-host">
        <a
          href={`/agents/${encodeURIComponent(id)}`}
          onClick={(e) => {
            if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            onOpen(id);
          }}
        >
          {agent.hostname}
        </a>
        <span className="sub">
          {agent.primaryIp}
          <SameNameTag agent={agent} store={store} t={t} />
        </span>
      </span>
      <span className="c-os sub">{agent.os}</span>
      <span className="c-up" data-k="up" />
      <span className="meter" data-k="cpu" data-testid="cpu">
        <span />
        <span className="fill" />
      </span>
      <span className="meter" data-k="mem">
        <span />
        <span className="fill" />
      </span>
      <span className="meter c-disk" data-k="disk" title={t('hint.disk')}>
        <span />
        <span className="fill" />
      </span>
      <span className="c-net" data-k="net" />
      <span className="c-spark">
        <svg width={100} height={28} viewBox="0 0 100 28" aria-hidden="true" focusable="false">
          <path />
        </svg>
      </span>
      <span className="c-seen sub" data-k="seen" />
    </div>
  );
});
